"""Fixtures and helpers shared by the API's tests: the installed model, request temp folders, a served API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from ui_fixtures import REPO, free_port, stop_streamlit

import dfcore.serving.api as api
from dfcore.serving.api import TEMP_PREFIX


@pytest.fixture(scope="module")
def installed(checkpoint: Path) -> Iterator[Path]:
    """The untrained checkpoint as the one installed model, and no API key in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DFCORE_WEIGHTS", str(checkpoint))
        mp.delenv(api.API_KEY_ENV, raising=False)
        yield checkpoint


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Requests' temporary folders go here; after the test it must be empty."""
    folder = tmp_path / "server_tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == [], "a request left files behind"


def wait_for_health(proc: subprocess.Popen, url: str, log: Path, timeout_s: float = 90) -> None:
    """Wait until the server at ``url`` answers ``/v1/health`` with status ok; fail with its log if it exits or stays silent."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/v1/health", timeout=2) as r:
                if r.status == 200 and json.load(r)["status"] == "ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the server did not answer within {timeout_s} s: {log.read_text()[-2000:]}")


@dataclass
class Server:
    """A ``python -m dfcore serve`` process started by a test."""

    url: str
    host: str
    port: int
    pid: int
    tmp: Path  # the server's $TMPDIR
    log: Path  # its stdout and stderr

    def request_folders(self) -> list[Path]:
        """Requests' temporary folders left in the server's $TMPDIR (ONNX Runtime writes a `.ses` file of its own
        there on import: not a request's)."""
        return [p for p in self.tmp.iterdir() if p.name.startswith(TEMP_PREFIX)]

    def memory_mb(self, field: str = "VmRSS") -> float:
        """The server's resident memory now (``VmRSS``) or at its peak (``VmHWM``), in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no {field} in /proc/{self.pid}/status")


@contextmanager
def served_api(checkpoint: Path, folder: Path, *options: str, api_key: str | None = None) -> Iterator[Server]:
    """The API on a free loopback port, one thread per worker, with ``checkpoint`` installed; stopped on exit.

    Args:
        checkpoint: the model it serves.
        folder: its $TMPDIR (``folder/tmp``) and log (``folder/server.log``) go here.
        options: more ``serve`` options (workers, queue, upload limit).
        api_key: the key it requires; None: no key.

    Raises:
        RuntimeError: it exited or did not answer its health check within 90 s (with its log).
        AssertionError: its log holds a traceback once it has stopped.
    """
    tmp, log = folder / "tmp", folder / "server.log"
    tmp.mkdir(parents=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != api.API_KEY_ENV}
    env.update(DFCORE_WEIGHTS=str(checkpoint), TMPDIR=str(tmp), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", GLOG_minloglevel="2")
    if api_key is not None:
        env[api.API_KEY_ENV] = api_key
    cmd = [sys.executable, "-m", "dfcore", "serve", "--port", str(port), *options, "--threads", "1", "--device", "cpu"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(proc, url, log)
        yield Server(url, "127.0.0.1", port, proc.pid, tmp, log)
    finally:
        stop_streamlit(proc)  # terminate, then kill if it lingers: any server process, not only Streamlit
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
