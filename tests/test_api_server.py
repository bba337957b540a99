"""The HTTP API as a real server: ``python -m dfcore serve`` on a free loopback port, driven over HTTP.

One server for the module, with the session's UNTRAINED checkpoint as its only
model (``$DFCORE_WEIGHTS``), two run slots and a queue of four, a 1 MB upload
limit, and ``$TMPDIR`` pointed at a folder the tests own (it must be empty
after every request). Answers are compared with the same files analysed
directly in this process: equality, never detection quality.

The load test (slow) sends 60 requests from 8 client threads at once, each a
sample clip or a bad file; a 503 (backpressure) is retried after a short
pause. It writes p50/p95 latency and throughput to test-artifacts/api_load.json.
The figures are recorded, not asserted: speed targets live in ``make bench``.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from dfcore.analyze import analyze_video
from api_fixtures import Server, served_api
from ui_fixtures import REPO, SAMPLES

N_FRAMES = 10
WORKERS, QUEUE = 2, 4
UPLOAD_LIMIT_MB = 1
LOAD_REQUESTS, LOAD_CLIENTS = 60, 8
RETRY_PAUSE_S = 0.2  # a client's pause after a 503 before it tries again (the test's, not Retry-After's 5 s)
RSS_GROWTH_LIMIT_MB = 300  # resident memory the load may add to a warmed-up server: bounded, not a leak per request
ARTIFACT = REPO / "test-artifacts" / "api_load.json"
SAMPLE_FILES = ["synthetic_real_astronaut.mp4", "synthetic_fake_selfblend_astronaut.mp4",
                "synthetic_fake_warp_astronaut.mp4", "synthetic_real_astronaut.jpg"]


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served_api(checkpoint, tmp_path_factory.mktemp("api_server"), "--workers", str(WORKERS), "--queue",
                    str(QUEUE), "--max-upload-mb", str(UPLOAD_LIMIT_MB)) as s:
        yield s


def _post(client: httpx.Client, url: str, path: Path) -> httpx.Response:
    with path.open("rb") as f:
        return client.post(url + "/v1/analyze", files={"file": (path.name, f)}, data={"frames": str(N_FRAMES)})


@pytest.fixture(scope="module")
def expected(detector) -> dict[str, dict]:
    """Each sample analysed directly, in this process, with the same checkpoint and frame count."""
    return {name: analyze_video(SAMPLES / name, N_FRAMES, detector=detector).to_dict() for name in SAMPLE_FILES}


def _same_answer(got: dict, want: dict) -> None:
    assert got["verdict"] == want["verdict"]
    assert got["fake_probability"] == pytest.approx(want["fake_probability"], abs=1e-4)
    assert [f["face_box"] for f in got["frames"]] == [f["face_box"] for f in want["frames"]]


@pytest.mark.slow
def test_serve_analyses_a_sample(server: Server, expected: dict) -> None:
    name = SAMPLE_FILES[0]
    with httpx.Client(timeout=120) as client:
        r = _post(client, server.url, SAMPLES / name)
        assert r.status_code == 200, r.text
        _same_answer(r.json(), expected[name])
        assert client.get(server.url + "/v1/models").json()["models"][0]["default"] is True
        assert client.get(server.url + "/openapi.json").status_code == 200
    assert server.request_folders() == []


@pytest.mark.slow
def test_serve_refuses_a_declared_oversize_before_the_body(server: Server) -> None:
    """A Content-Length over the limit is answered at once: the client never has to send the body."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("POST", "/v1/analyze")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.putheader("Content-Length", str(50 * 1024 * 1024))
        conn.endheaders()  # headers only: not one byte of the 50 MB
        r = conn.getresponse()
        body = json.loads(r.read())
    finally:
        conn.close()
    assert r.status == 413 and body["error"]["code"] == "too_large"
    assert server.request_folders() == []


@pytest.mark.slow
def test_serve_under_load(server: Server, expected: dict, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(3).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a" + bytes(1000))
    jobs: list[tuple[Path, int, str | None]] = [(SAMPLES / n, 200, None) for n in SAMPLE_FILES]
    jobs += [(corrupt, 422, "undecodable"), (gif, 415, "unsupported_type")]

    with httpx.Client(timeout=180, limits=httpx.Limits(max_connections=LOAD_CLIENTS)) as client:
        for path, status, _ in jobs:  # warm-up: every code path loaded before memory is read
            assert _post(client, server.url, path).status_code == status
        rss_before = server.memory_mb()

        def run(i: int) -> dict:
            path, status, code = jobs[i % len(jobs)]
            busy = 0
            while True:
                t = time.perf_counter()
                r = _post(client, server.url, path)
                latency = time.perf_counter() - t
                if r.status_code != 503:
                    return {"path": path, "want": (status, code), "response": r, "latency": latency, "busy": busy}
                assert r.headers.get("retry-after") and r.json()["error"]["code"] == "busy"
                busy += 1
                time.sleep(RETRY_PAUSE_S)

        start = time.perf_counter()
        with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
            results = list(pool.map(run, range(LOAD_REQUESTS)))
        wall = time.perf_counter() - start
        rss_after, rss_peak = server.memory_mb(), server.memory_mb("VmHWM")
        health = client.get(server.url + "/v1/health").json()

    statuses = Counter(res["response"].status_code for res in results)
    for res in results:
        r, (status, code) = res["response"], res["want"]
        assert r.status_code == status, (res["path"].name, r.status_code, r.text[:300])  # no 5xx at all
        if status == 200:
            _same_answer(r.json(), expected[res["path"].name])
        else:
            assert r.json()["error"]["code"] == code
    assert server.request_folders() == [], "temporary files left behind"
    assert health["running"] == 0 and health["admitted"] == 0
    assert rss_after - rss_before < RSS_GROWTH_LIMIT_MB, (rss_before, rss_after)

    ok = [res["latency"] for res in results if res["response"].status_code == 200]
    report = {
        "requests": LOAD_REQUESTS, "clients": LOAD_CLIENTS, "workers": WORKERS, "queue": QUEUE, "frames": N_FRAMES,
        "cpu_count": os.cpu_count(), "wall_s": round(wall, 3),
        "throughput_requests_per_s": round(LOAD_REQUESTS / wall, 3),
        "analyses_latency_s": {"p50": round(float(np.percentile(ok, 50)), 3),
                               "p95": round(float(np.percentile(ok, 95)), 3), "max": round(max(ok), 3), "n": len(ok)},
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "busy_503_retries": sum(res["busy"] for res in results),
        "rss_mb": {"before": round(rss_before, 1), "after": round(rss_after, 1), "peak": round(rss_peak, 1)},
    }
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
