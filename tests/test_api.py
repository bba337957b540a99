"""The HTTP API in-process (FastAPI's TestClient and raw ASGI calls): schema, errors, auth, limits, clean-up.

The detector is the session's UNTRAINED checkpoint, installed through
``$DFCORE_WEIGHTS`` as the only model: responses are checked for form and for
equality with the same analysis run directly, never for detection quality.
Every test runs with Python's temporary folder pointed at a folder of its own,
and checks that no request left anything in it.
"""

from __future__ import annotations

import hashlib

import asyncio
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from api_fixtures import installed, private_tmp  # noqa: F401 - fixtures: the installed model, request temp folders
from verdict_examples import T_FAKE, T_NO_SIGN, make_result

import dfcore.models.model_registry as registry
import dfcore.serving.api as api
from dfcore.analyze import analyze_video
from dfcore.cli import main
from dfcore.decision import NO_SIGN, REASON_SENTENCES, UNCERTAIN, VERDICT_SENTENCES, VERDICTS
from dfcore.models.checkpoint import MANIFEST_NAME, sha256_file
from dfcore.models.model_registry import card_path_for, describe_models, list_models, write_index
from dfcore.serving.upload import MB

N_FRAMES = 10
KEY = "s3cret-key"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def app(installed: Path):
    return api.create_app(api.ApiOptions(workers=1, queue=2, threads=1, device="cpu"))


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    return TestClient(app)


def _post(client: TestClient, path: Path | None, name: str | None = None, headers: dict | None = None,
          **fields: str):
    files = {"file": (name or path.name, path.read_bytes())} if path is not None else None
    return client.post("/v1/analyze", files=files, data=fields, headers=headers)


def test_result_names_the_clients_file_and_hashes_its_bytes(client: TestClient, face_video: Path) -> None:
    # The upload is stored under a sanitised temporary name; the result records the client's own.
    r = _post(client, face_video, name="my clip (1).mp4", frames=str(N_FRAMES))
    assert r.status_code == 200, r.text
    assert r.json()["input"] == {"name": "my clip (1).mp4", "size_bytes": face_video.stat().st_size,
                                 "sha256": hashlib.sha256(face_video.read_bytes()).hexdigest()}


def _error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "file"}
    err = body["error"]
    assert err["code"] == code, err
    # Nothing of the server's insides: no traceback, no temporary folder.
    assert "Traceback" not in r.text and api.TEMP_PREFIX not in r.text and tempfile.gettempdir() not in r.text
    return err


def _cli_message(path: Path, checkpoint: Path, capsys: pytest.CaptureFixture) -> str:
    """What `python -m dfcore analyze PATH` prints for a bad file, with the path shortened to the file's name."""
    assert main(["analyze", str(path), "--weights", str(checkpoint), "--device", "cpu"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: ")
    return line.removeprefix("error: ").replace(str(path), path.name)


# --------------------------------------------------------------------------- happy paths


def test_analyze_returns_the_cli_schema(client: TestClient, face_video: Path, detector, private_tmp: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def spy(path, *args, **kwargs):
        seen.append(Path(path))
        assert Path(path).read_bytes() == face_video.read_bytes()  # the upload, whole, on disk
        return analyze_video(path, *args, **kwargs)

    monkeypatch.setattr(api, "analyze_video", spy)
    r = _post(client, face_video, frames=str(N_FRAMES))
    assert r.status_code == 200, r.text
    # It was analysed from a private folder inside the temporary folder (which private_tmp checks is empty now).
    assert len(seen) == 1 and seen[0].parent.parent == private_tmp
    assert seen[0].parent.name.startswith(api.TEMP_PREFIX)
    got = r.json()
    want = analyze_video(face_video, N_FRAMES, detector=detector).to_dict()
    assert set(got) == set(want)
    assert got["verdict"] == want["verdict"] and got["verdict"] in VERDICTS
    assert got["schema_version"] == want["schema_version"] == 2
    assert got["decision"] == want["decision"]
    assert got["fake_probability"] == pytest.approx(want["fake_probability"], abs=1e-5)
    assert got["threshold"] == want["threshold"]
    assert got["n_frames"] == N_FRAMES == len(got["frames"])
    assert [f["face_box"] for f in got["frames"]] == [f["face_box"] for f in want["frames"]]
    assert got["model"] == want["model"] and got["video"] == want["video"]
    assert {"decode", "detect", "crop", "model", "total"} <= set(got["timings_s"])
    assert "explain" not in got["timings_s"]


def test_analyze_defaults_and_options(client: TestClient, face_image: Path) -> None:
    r = _post(client, face_image)  # no options: the default frame count (an image has one frame)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["n_frames_requested"] == api.DEFAULT_FRAMES and d["n_frames"] == 1
    assert any("still image" in n for n in d["notes"])

    default = list_models()[0].name
    r = _post(client, face_image, frames="10", model=default, explain="true")
    assert r.status_code == 200, r.text
    assert "explain" in r.json()["timings_s"]


def test_odd_client_names_are_harmless(client: TestClient, face_image: Path) -> None:
    r = _post(client, face_image, name="../../etc/my still (1).JPG", frames="10")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("fixture", ["truncated_video", "blank_video", "blank_png"])
def test_results_that_are_not_errors(request: pytest.FixtureRequest, client: TestClient, fixture: str) -> None:
    """As on the command line, a damaged clip is analysed as far as it decodes, and no face is a verdict."""
    path = request.getfixturevalue(fixture)
    r = _post(client, path, frames=str(N_FRAMES))
    assert r.status_code == 200, r.text
    d = r.json()
    if fixture == "truncated_video":
        assert any("damaged or truncated" in n for n in d["notes"])
    else:
        assert d["verdict"] == "NO_FACE" and d["fake_probability"] is None


@pytest.fixture(scope="module")
def blank_png(tmp_path_factory: pytest.TempPathFactory, blank_frame: np.ndarray) -> Path:
    """An image without a face."""
    path = tmp_path_factory.mktemp("api_png") / "blank.png"
    cv2.imwrite(str(path), blank_frame)
    return path


def test_models_is_models_json(client: TestClient, capsys: pytest.CaptureFixture) -> None:
    r = client.get("/v1/models")
    assert r.status_code == 200
    assert main(["models", "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert local == describe_models()
    # The same, but the weights file by its name alone: no server path reaches a client.
    for m in local["models"]:
        m["file"] = Path(m["file"]).name
    assert r.json() == local
    assert str(Path(describe_models()["models"][0]["file"]).parent) not in r.text
    assert [m["default"] for m in r.json()["models"]] == [True] and r.json()["withdrawn"] == []


@pytest.mark.parametrize("verdict", VERDICTS)
def test_each_verdict_as_the_cli_prints_it(client: TestClient, face_image: Path, monkeypatch: pytest.MonkeyPatch,
                                           verdict: str) -> None:
    """The response is the result's to_dict(): verdict, schema 2 and its decision block, unchanged."""
    built = make_result(verdict)
    monkeypatch.setattr(api, "analyze_video", lambda path, *a, **k: built)
    r = _post(client, face_image)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d == json.loads(json.dumps(built.to_dict()))
    assert d["verdict"] == verdict and d["schema_version"] == 2
    assert (d["decision"]["t_fake"], d["decision"]["t_no_sign"]) == (T_FAKE, T_NO_SIGN)
    want = [REASON_SENTENCES["between_thresholds"]] if verdict == UNCERTAIN else []
    assert d["decision"]["reason_sentences"] == want


@pytest.fixture()
def with_withdrawn(tmp_path: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A weights folder offering ``ok`` (the test checkpoint) and holding ``gone``, withdrawn by its card."""
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "ok.pt").write_bytes(checkpoint.read_bytes())
    (folder / MANIFEST_NAME).write_text(f"{sha256_file(folder / 'ok.pt')}  ok.pt\n{'0' * 64}  gone.pt\n")
    write_index(folder, ["ok"], "chosen by the test")
    card_path_for(folder / "gone.pt").write_text(json.dumps({"name": "gone", "withdrawn": "A coin flip."}))
    monkeypatch.delenv("DFCORE_WEIGHTS")
    monkeypatch.setattr(registry, "WEIGHTS_DIR", folder)
    return folder


def test_a_withdrawn_model_is_listed_apart_and_refused(client: TestClient, face_image: Path,
                                                       with_withdrawn: Path) -> None:
    d = client.get("/v1/models").json()
    assert [m["name"] for m in d["models"]] == ["ok"]
    assert d["withdrawn"] == [{"name": "gone", "file": "gone.pt", "withdrawn": "A coin flip.",  # no server path
                               "card": {"name": "gone", "withdrawn": "A coin flip."}}]
    err = _error(_post(client, face_image, model="gone"), 400, "withdrawn_model")
    assert err["message"] == "gone is withdrawn: A coin flip. Offered models: ok."
    assert _post(client, face_image, model="ok").status_code == 200


def test_health_and_docs(client: TestClient) -> None:
    h = client.get("/v1/health").json()
    assert h["status"] == "ok" and h["running"] == 0 and h["admitted"] == 0
    assert (h["max_running"], h["max_admitted"]) == (1, 3)
    spec = client.get("/openapi.json").json()
    form = spec["paths"]["/v1/analyze"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) == {"file", "frames", "model", "explain"}
    assert "ErrorBody" in spec["components"]["schemas"]
    # The three verdicts, in the docs as in the answers; no REAL any more.
    assert "REAL" not in json.dumps(spec)
    assert VERDICT_SENTENCES[NO_SIGN] in spec["info"]["description"]
    examples = spec["paths"]["/v1/analyze"]["post"]["responses"]["200"]["content"]["application/json"]["examples"]
    assert sorted(examples) == sorted(VERDICTS)
    assert all(e["value"]["verdict"] == v and e["value"]["schema_version"] == 2 for v, e in examples.items())
    assert client.get("/docs").status_code == 200


# --------------------------------------------------------------------------- bad input: a 4xx and the CLI's message


@pytest.mark.parametrize("fixture, status, code", [
    ("empty_video", 422, "undecodable"),
    ("corrupt_video", 422, "undecodable"),
    ("text_as_mov", 422, "undecodable"),
    ("audio_only_video", 422, "undecodable"),
    ("unsupported_file", 415, "unsupported_type"),
])
def test_bad_files(request: pytest.FixtureRequest, client: TestClient, installed: Path,
                   capsys: pytest.CaptureFixture, fixture: str, status: int, code: str) -> None:
    path = request.getfixturevalue(fixture)
    err = _error(_post(client, path, frames=str(N_FRAMES)), status, code)
    assert err["file"] == path.name
    assert err["message"] == _cli_message(path, installed, capsys)


@pytest.mark.parametrize("fields, needle", [
    ({"frames": "5"}, "between 10 and 100, got 5"),
    ({"frames": "101"}, "between 10 and 100, got 101"),
    ({"frames": "ten"}, "not a whole number"),
    ({"explain": "maybe"}, "explain: must be true or false"),
    ({"colour": "red"}, "unexpected form part 'colour'"),
])
def test_bad_options(client: TestClient, face_image: Path, fields: dict, needle: str) -> None:
    err = _error(_post(client, face_image, **fields), 400, "bad_request")
    assert needle in err["message"]


def test_unknown_model(client: TestClient, face_image: Path) -> None:
    err = _error(_post(client, face_image, model="no_such_model"), 400, "unknown_model")
    assert "unknown model 'no_such_model'" in err["message"]
    assert list_models()[0].name in err["message"]  # it lists the installed ones


def test_malformed_requests(client: TestClient, face_image: Path) -> None:
    err = _error(client.post("/v1/analyze", files={"frames": (None, "10")}), 400, "bad_request")  # no file part
    assert "no 'file' part" in err["message"]
    err = _error(client.post("/v1/analyze", files={"file": (None, "just text")}), 400, "bad_request")
    assert "has no file name" in err["message"]
    err = _error(client.post("/v1/analyze", data={"frames": "10"}), 400, "bad_request")  # url-encoded
    assert "not multipart/form-data" in err["message"]
    err = _error(client.post("/v1/analyze", json={"file": "clip.mp4"}), 400, "bad_request")
    assert "not multipart/form-data" in err["message"]
    two = [("file", ("a.jpg", face_image.read_bytes())), ("file", ("b.jpg", face_image.read_bytes()))]
    err = _error(client.post("/v1/analyze", files=two), 400, "bad_request")
    assert "more than one file" in err["message"]
    broken = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\nabc\r\n--xyz garbage"
    _error(client.post("/v1/analyze", content=broken, headers={"content-type": "multipart/form-data; boundary=xyz"}),
           400, "bad_request")


def test_unknown_routes_and_methods_answer_json(client: TestClient) -> None:
    _error(client.get("/v1/nothing"), 404, "not_found")
    _error(client.get("/v1/analyze"), 405, "method_not_allowed")


def test_time_limit(installed: Path, face_video: Path) -> None:
    client = TestClient(api.create_app(api.ApiOptions(time_limit_s=0.0, threads=1, device="cpu")))
    err = _error(_post(client, face_video, frames=str(N_FRAMES)), 422, "time_limit")
    assert err["message"].startswith(f"{face_video.name}: the analysis passed its time limit of 0 s")


def test_no_weights_is_503_without_server_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 face_image: Path) -> None:
    monkeypatch.setenv("DFCORE_WEIGHTS", str(tmp_path / "missing" / "x.pt"))
    client = TestClient(api.create_app(api.ApiOptions(threads=1, device="cpu")))
    err = _error(_post(client, face_image), 503, "model_unavailable")
    assert "no trained weights are installed" in err["message"]
    assert str(tmp_path) not in err["message"] and err["file"] is None


def test_unexpected_error_is_a_generic_500(installed: Path, face_image: Path, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("internal detail /srv/secret/state")

    monkeypatch.setattr(api, "analyze_video", broken)
    client = TestClient(api.create_app(api.ApiOptions(threads=1, device="cpu")), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="dfcore.serving.api"):
        err = _error(_post(client, face_image), 500, "internal")
    assert "secret" not in err["message"] and "RuntimeError" not in err["message"]
    assert "internal detail /srv/secret/state" in caplog.text  # the server's log has it


def test_logs_never_hold_file_contents(client: TestClient, bad_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    marker = "PRIVATE-CONTENTS-7f3a"
    path = bad_dir / "private.mp4"
    path.write_text(marker * 100)
    with caplog.at_level(logging.DEBUG):
        _error(_post(client, path), 422, "undecodable")
    assert marker not in caplog.text


# --------------------------------------------------------------------------- backpressure


def test_full_queue_is_503_with_retry_after(installed: Path, face_image: Path) -> None:
    app = api.create_app(api.ApiOptions(workers=1, queue=1, retry_after_s=7, threads=1, device="cpu"))
    client = TestClient(app)
    gate = app.state.service.gate
    with gate.admit(), gate.admit():  # both places taken (as by two requests in flight)
        r = _post(client, face_image)
        err = _error(r, 503, "busy")
        assert r.headers["retry-after"] == "7"
        assert "the server is busy" in err["message"]
    assert _post(client, face_image).status_code == 200  # free again


# --------------------------------------------------------------------------- auth


def test_api_key(installed: Path, face_image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(api.API_KEY_ENV, KEY)
    client = TestClient(api.create_app())  # the key comes from the environment
    assert client.get("/v1/health").status_code == 200  # open: a load balancer's probe has no key
    for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                    {"Authorization": KEY}):
        r = client.get("/v1/models", headers=headers)
        _error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
        _error(_post(client, face_image, headers=headers), 401, "unauthorized")
    good = {"Authorization": f"Bearer {KEY}"}
    assert client.get("/v1/models", headers=good).status_code == 200
    assert _post(client, face_image, headers=good).status_code == 200


def test_no_key_when_unset(client: TestClient) -> None:
    assert api.api_key_from_env() is None
    assert client.get("/v1/models").status_code == 200


# --------------------------------------------------------------------------- oversized uploads (raw ASGI)


def _multipart_chunks(boundary: str, filename: str, file_bytes: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
           f"Content-Type: application/octet-stream\r\n\r\n").encode()
    for start in range(0, file_bytes, chunk):
        yield b"\0" * min(chunk, file_bytes - start)
    yield f"\r\n--{boundary}--\r\n".encode()


def _asgi_post(app, chunks: Iterator[bytes], headers: dict[str, str]) -> tuple[int, dict, int]:
    """POST /v1/analyze straight into the ASGI app; returns (status, JSON body, body bytes the app consumed)."""
    consumed = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal consumed
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/analyze", "raw_path": b"/v1/analyze", "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), consumed


@pytest.fixture(scope="module")
def small_limit_app(installed: Path):
    return api.create_app(api.ApiOptions(max_upload_bytes=1 * MB, threads=1, device="cpu"))


def test_oversized_stream_is_refused_while_arriving(small_limit_app) -> None:
    """No Content-Length (chunked): refused once the count passes the limit, long before the 50 MB end."""
    ctype = {"content-type": "multipart/form-data; boundary=b0undary"}
    status, body, consumed = _asgi_post(small_limit_app, _multipart_chunks("b0undary", "big.mp4", 50 * MB), ctype)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert body["error"]["file"] == "big.mp4" and "limit of 1 MB" in body["error"]["message"]
    assert 1 * MB < consumed <= 1 * MB + 2 * 64 * 1024


def test_oversized_content_length_is_refused_before_reading(small_limit_app) -> None:
    headers = {"content-type": "multipart/form-data; boundary=b0undary", "content-length": str(50 * MB)}
    status, body, consumed = _asgi_post(small_limit_app, _multipart_chunks("b0undary", "big.mp4", 50 * MB), headers)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert consumed == 0


def test_unsupported_type_is_refused_before_its_bytes(small_limit_app) -> None:
    ctype = {"content-type": "multipart/form-data; boundary=b0undary"}
    status, body, consumed = _asgi_post(small_limit_app, _multipart_chunks("b0undary", "movie.gif", 50 * MB), ctype)
    assert status == 415 and body["error"]["file"] == "movie.gif"
    assert consumed < 200  # the part's headers only


def test_upload_at_the_limit_is_accepted(small_limit_app, face_image: Path) -> None:
    """A JPEG padded to exactly the limit (JPEG decoders stop at the end-of-image marker) is analysed."""
    data = face_image.read_bytes()
    padded = data + b"\0" * (1 * MB - len(data))
    r = TestClient(small_limit_app).post("/v1/analyze", files={"file": ("still.jpg", padded)})
    assert r.status_code == 200, r.text
    r = TestClient(small_limit_app).post("/v1/analyze", files={"file": ("still.jpg", padded + b"\0")})
    _error(r, 413, "too_large")


# --------------------------------------------------------------------------- the serve command


def test_serve_command_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    monkeypatch.setattr(api, "serve", lambda host, port, options: calls.append((host, port, options)))
    monkeypatch.setenv(api.API_KEY_ENV, KEY)
    assert main(["serve"]) == 0
    host, port, options = calls[-1]
    assert (host, port) == ("127.0.0.1", 8000)  # this machine only, unless asked
    assert options == api.ApiOptions(api_key=KEY)
    assert main(["serve", "--host", "0.0.0.0", "--port", "9001", "--workers", "3", "--queue", "0",
                 "--max-upload-mb", "5", "--threads", "1"]) == 0
    host, port, options = calls[-1]
    assert (host, port) == ("0.0.0.0", 9001)
    assert (options.workers, options.queue, options.max_upload_bytes, options.threads) == (3, 0, 5 * MB, 1)
    assert KEY not in repr(options)  # the key never lands in a log line through repr
