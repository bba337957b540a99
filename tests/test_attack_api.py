"""The HTTP API against hostile clients, in process (issue 30, items 1 and 5).

Slow senders hold upload places, never the analyses' run or queue places, and are stopped with 408
(their bytes deleted) once below the minimum rate; one address has only a few upload places; options
are checked as soon as they arrive; a client that disconnects frees its run slot at the next deadline
check; echoed values are short and free of control characters. The real-server attacks (six slow
sockets against a running ``dfcore serve``) are in test_attack_server.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from api_fixtures import installed, private_tmp  # noqa: F401 - fixtures: the installed model, request temp folders
from fastapi.testclient import TestClient

import dfcore.serving.api as api
from dfcore.deadline import Deadline
from dfcore.errors import ServerBusyError, TooManyUploadsError
from dfcore.media import video_io
from dfcore.serving.upload_gate import UploadGate

BOUNDARY = "b0undary"
CTYPE = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def _app(**options):
    return api.create_app(api.ApiOptions(threads=1, device="cpu", **options))


def _field(name: str, value: str) -> bytes:
    return f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()


def _file_head(filename: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()


END = f"\r\n--{BOUNDARY}--\r\n".encode()


class _Client:
    """One raw ASGI request: the body as (delay before it, chunk) pairs; then, optionally, a disconnect."""

    def __init__(self, app, chunks: list[tuple[float, bytes]], disconnect_after_body: bool = False) -> None:
        self.app, self.chunks, self.disconnect = app, list(chunks), disconnect_after_body
        self.consumed = 0
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        if self.chunks:
            delay, chunk = self.chunks.pop(0)
            await asyncio.sleep(delay)
            self.consumed += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}
        if self.disconnect:
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # as a server does: nothing more until the client goes
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    async def run(self, client: str = "127.0.0.1") -> tuple[int, dict]:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/analyze", "raw_path": b"/v1/analyze", "query_string": b"",
                 "root_path": "", "headers": [(k.encode(), v.encode()) for k, v in CTYPE.items()],
                 "client": (client, 50000), "server": ("127.0.0.1", 8000)}
        await self.app(scope, self.receive, self.send)
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        return self.sent[0]["status"], json.loads(body)


def _run(client: _Client, **kw) -> tuple[int, dict]:
    return asyncio.run(client.run(**kw))


# --------------------------------------------------------------------------- slow uploads


def test_a_slow_upload_gets_408_and_its_bytes_are_deleted(installed: Path, private_tmp: Path) -> None:
    app = _app(upload_grace_s=0.3, upload_min_bytes_per_s=10_000)
    trickle = [(0.0, _file_head("slow.mp4"))] + [(0.05, b"\0" * 50)] * 200  # 1 KB/s for 10 s
    started = time.monotonic()
    status, body = _run(_Client(app, trickle))
    assert status == 408 and body["error"]["code"] == "upload_timeout"
    assert body["error"]["file"] == "slow.mp4" and "too slow" in body["error"]["message"]
    assert time.monotonic() - started < 2.0  # stopped near the grace period, not after 10 s


def test_an_upload_that_stalls_gets_408(installed: Path) -> None:
    app = _app(upload_grace_s=0.2, upload_min_bytes_per_s=10_000)
    status, body = _run(_Client(app, [(0.0, _file_head("stall.mp4")), (30.0, b"never")]))
    assert status == 408 and body["error"]["code"] == "upload_timeout"


def test_uploads_do_not_take_queue_places(installed: Path, face_image: Path) -> None:
    """Slow uploads in progress leave the run queue free: a whole request still gets 200."""
    app = _app(workers=1, queue=0, upload_grace_s=0.5, upload_min_bytes_per_s=100)
    trickle = [(0.0, _file_head("slow.jpg"))] + [(0.1, b"\0" * 20)] * 20
    whole = [(0.0, _file_head("still.jpg") + face_image.read_bytes() + END)]
    seen: dict[str, object] = {}

    async def attack() -> None:
        slow = [asyncio.create_task(_Client(app, trickle).run()) for _ in range(3)]
        await asyncio.sleep(0.3)
        seen["uploading"] = app.state.service.uploads.in_progress()
        seen["admitted"] = app.state.service.gate.load().admitted
        seen["health"] = TestClient(app).get("/v1/health").json()
        seen["normal"] = await _Client(app, whole).run()
        seen["slow"] = [await t for t in slow]

    asyncio.run(attack())
    assert seen["uploading"] == 3 and seen["admitted"] == 0
    assert (seen["health"]["uploading"], seen["health"]["admitted"]) == (3, 0)
    assert seen["normal"][0] == 200, seen["normal"]
    assert [s for s, _ in seen["slow"]] == [400] * 3  # their bodies were not images: answered, not locked out


def test_one_client_has_few_upload_places() -> None:
    gate = UploadGate(per_client=2, total=3, retry_after_s=4)
    with gate.admit("a"), gate.admit("a"):
        with pytest.raises(TooManyUploadsError, match="already has 2 uploads"):
            with gate.admit("a"):
                pass
        with gate.admit("b"):  # another address is not held back
            with pytest.raises(ServerBusyError, match="3 uploads in progress"):
                with gate.admit("c"):
                    pass
    assert gate.in_progress() == 0
    with pytest.raises(ValueError):
        UploadGate(per_client=0, total=1)


def test_too_many_uploads_from_one_client_is_429(installed: Path, face_image: Path) -> None:
    app = _app(uploads_per_client=1, retry_after_s=3)
    client = TestClient(app)
    with app.state.service.uploads.admit("testclient"):  # TestClient's address
        r = client.post("/v1/analyze", files={"file": ("a.jpg", face_image.read_bytes())})
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_uploads"
    assert r.headers["retry-after"] == "3"


# --------------------------------------------------------------------------- options first, disconnects


@pytest.mark.parametrize("field, value, needle", [
    ("frames", "5", "between 10 and 100"),
    ("explain", "maybe", "must be true or false"),
    ("model", "no_such_model", "unknown model"),
])
def test_options_sent_first_are_refused_before_the_file(installed: Path, field: str, value: str,
                                                        needle: str) -> None:
    big = [(0.0, _field(field, value) + _file_head("clip.mp4"))] + [(0.0, b"\0" * 65536)] * 100
    client = _Client(_app(), big)
    status, body = _run(client)
    assert status == 400 and needle in body["error"]["message"]
    assert client.consumed < 200_000  # of 6.5 MB: stopped at the field


def test_a_client_that_disconnects_frees_its_run_slot(installed: Path, face_image: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[float] = []

    def endless(path, n_frames, **kw) -> None:  # an analysis that would take 60 s, checking its deadline
        deadline = Deadline.start(path, None)
        for _ in range(6000):
            checks.append(time.monotonic())
            deadline.check("decoding")
            time.sleep(0.01)
        raise AssertionError("not cancelled")

    monkeypatch.setattr(api, "analyze_video", endless)
    app = _app(workers=1, queue=0)
    whole = [(0.0, _file_head("still.jpg") + face_image.read_bytes() + END)]
    started = time.monotonic()
    status, body = _run(_Client(app, whole, disconnect_after_body=True))
    assert status == 499 and body["error"]["code"] == "cancelled"
    assert time.monotonic() - started < 5 and len(checks) < 300
    assert app.state.service.gate.load().running == 0 and app.state.service.gate.load().admitted == 0


# --------------------------------------------------------------------------- what is echoed


@pytest.mark.parametrize("frames", ["+20", "1_0", "\u0662\u0660", " 2 0", "20.0", "1" * 1023])
def test_frames_are_ascii_digits_and_echoes_are_short(installed: Path, face_image: Path, frames: str) -> None:
    r = TestClient(_app()).post("/v1/analyze", files={"file": ("a.jpg", face_image.read_bytes())},
                                data={"frames": frames})
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert message.startswith("frames: ") and len(message) < 120


def test_control_characters_are_not_echoed(installed: Path, face_image: Path) -> None:
    app = _app()
    status, body = _run(_Client(app, [(0.0, _file_head("bad\x00na\x7fme\x1b[31m\u2028.gif") + b"GIF89a" + END)]))
    assert status == 415 and body["error"]["file"] == "badname[31m.gif"
    assert not any(ord(c) < 32 or c == "\x7f" for c in json.dumps(body, ensure_ascii=False))
    status, body = _run(_Client(app, [(0.0, _file_head("sti\x00ll\x1b.jpg") + face_image.read_bytes() + END)]))
    assert status == 200 and body["input"]["name"] == "still.jpg"


def test_an_overlong_file_name_is_a_clear_400(installed: Path, face_image: Path) -> None:
    r = TestClient(_app()).post("/v1/analyze", files={"file": ("n" * 9000 + ".jpg", face_image.read_bytes())})
    assert r.status_code == 400
    assert "header is longer than 4096 bytes" in r.json()["error"]["message"]


def test_a_decompression_bomb_is_422(installed: Path, face_image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_io, "MAX_PIXELS", 1000)
    r = TestClient(_app()).post("/v1/analyze", files={"file": ("bomb.jpg", face_image.read_bytes())})
    assert r.status_code == 422 and r.json()["error"]["code"] == "too_many_pixels"
    assert r.json()["error"]["file"] == "bomb.jpg" and "megapixels" in r.json()["error"]["message"]


def test_serve_upload_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from dfcore.cli import main

    calls: list = []
    monkeypatch.setattr(api, "serve", lambda host, port, options: calls.append(options))
    assert main(["serve", "--uploads-per-client", "2", "--upload-min-kib-s", "0"]) == 0
    assert (calls[-1].uploads_per_client, calls[-1].upload_min_bytes_per_s) == (2, 0)
    assert main(["serve", "--upload-min-kib-s", "16"]) == 0
    assert calls[-1].upload_min_bytes_per_s == 16 * 1024 and calls[-1].uploads_per_client == api.UPLOADS_PER_CLIENT


def test_a_long_name_keeps_its_extension_and_a_bare_name_takes_the_parts_type(installed: Path,
                                                                              face_image: Path) -> None:
    client = TestClient(_app())
    r = client.post("/v1/analyze", files={"file": ("s" * 1000 + ".jpg", face_image.read_bytes())})
    assert r.status_code == 200 and len(r.json()["input"]["name"]) <= 255
    assert r.json()["input"]["name"].endswith("\u2026.jpg")
    r = client.post("/v1/analyze", files={"file": ("blob", face_image.read_bytes(), "image/jpeg")})
    assert r.status_code == 200 and r.json()["input"]["name"] == "blob.jpg"
    r = client.post("/v1/analyze", files={"file": ("blob", face_image.read_bytes(), "application/octet-stream")})
    assert r.status_code == 415
