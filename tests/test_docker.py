"""The Docker image, built and run for real: the dashboard, the API and the CLI from one image.

The image is built with ``make docker`` (on the local base of ``make docker-base`` when there is one,
else on python:3.11-slim), so the Makefile target, the Dockerfile and .dockerignore are what is tested.
The two services are started with the commands and healthchecks that compose.yaml gives them, each
published on a free port of 127.0.0.1; every container is removed by its id, whatever happens.

Skipped, with a one-line reason, where no docker daemon answers or no base image can be had: a
machine without Docker (or without the right to use it) is not a failure of the project.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from dfcore.decision import VERDICTS

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
IMAGE = "deepfake-lens-test"
LOCAL_BASE = "localbase/python:3.11-bookworm"  # the Makefile's DOCKER_BASE
PUBLIC_BASE = "python:3.11-slim"
SAMPLE = REPO / "sample_videos" / "synthetic_fake_warp_astronaut.mp4"
BUILD_TIMEOUT_S = 1800  # a cold build downloads ~3.5 GB of wheels; a warm one takes seconds
START_TIMEOUT_S = 180  # importing torch and mediapipe on a loaded 2-core machine
ANALYZE_TIMEOUT_S = 300

# Run inside the dashboard's container: the app's first page, as `streamlit run app.py` renders it.
APPTEST = """
import json
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=240).run()
print(json.dumps({"exceptions": [str(e.value) for e in at.exception], "markdown": len(at.markdown)}))
"""


def _docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])}... failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def _skip_without_daemon() -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker: no docker client on PATH")
    try:
        info = _docker("info", "--format", "{{.ServerVersion}}", timeout=30, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("docker: the daemon did not answer within 30 s")
    if info.returncode != 0 or not info.stdout.strip():
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"docker: no docker daemon answers ({reason[:120]})")


def _has_image(name: str) -> bool:
    return _docker("image", "inspect", name, check=False).returncode == 0


def _skip_without_base() -> None:
    """As `make docker` picks: the local base, else python:3.11-slim, pulled if it must be."""
    if _has_image(LOCAL_BASE) or _has_image(PUBLIC_BASE):
        return
    try:
        pulled = _docker("pull", PUBLIC_BASE, timeout=300, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        pulled = False
    if not pulled:
        pytest.skip(f"docker: no base image ({PUBLIC_BASE} cannot be pulled; `make docker-base` builds one locally)")


def _image_id(name: str) -> str | None:
    found = _docker("image", "inspect", "-f", "{{.Id}}", name, check=False)
    return found.stdout.strip() if found.returncode == 0 else None


@pytest.fixture(scope="module")
def image() -> str:
    """The project's image, built by `make docker` (the layer cache makes a rebuild take seconds)."""
    _skip_without_daemon()
    _skip_without_base()
    before = _image_id(IMAGE)
    build = subprocess.run(["make", "docker", f"IMAGE={IMAGE}"], cwd=REPO, capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT_S)
    assert build.returncode == 0, f"make docker failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    after = _image_id(IMAGE)
    if before and before != after:
        # The previous build of this tag is now dangling: free its layers (refused, harmlessly, if in use).
        _docker("image", "rm", before, check=False)
    return IMAGE


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def containers() -> Iterator[list[str]]:
    """The ids of the containers this module starts; each is removed at the end, whatever happened."""
    ids: list[str] = []
    try:
        yield ids
    finally:
        for cid in ids:
            _docker("rm", "--force", "--volumes", cid, check=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _container_port(service: dict) -> int:
    """The container side of the service's one published port ("HOST:HOSTPORT:CONTAINERPORT")."""
    (mapping,) = service["ports"]
    return int(str(mapping).rsplit(":", 1)[1])


def _start(image: str, service: dict, containers: list[str], env: dict[str, str]) -> tuple[str, int]:
    """Start one compose service's command from the image on a free loopback port; its id and that port."""
    port = _free_port()
    args = ["run", "--detach", "--init", "--publish", f"127.0.0.1:{port}:{_container_port(service)}"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    cid = _docker(*args, image, *service["command"]).stdout.strip()
    containers.append(cid)
    return cid, port


def _logs(cid: str) -> str:
    out = _docker("logs", "--tail", "40", cid, check=False)
    return (out.stdout + out.stderr)[-3000:]


def _wait_until(cid: str, ready: Callable[[], bool], what: str) -> float:
    """Poll `ready` until it holds; seconds waited. Fails at once if the container exits."""
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT_S:
        state = _docker("inspect", "-f", "{{.State.Running}}", cid).stdout.strip()
        assert state == "true", f"{what}: the container exited:\n{_logs(cid)}"
        try:
            if ready():
                return time.monotonic() - started
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(1)
    raise AssertionError(f"{what}: not ready after {START_TIMEOUT_S} s:\n{_logs(cid)}")


def _healthcheck_passes(cid: str, service: dict) -> bool:
    """compose.yaml's healthcheck command for the service, run in its container."""
    kind, *command = service["healthcheck"]["test"]
    assert kind == "CMD", kind
    return _docker("exec", cid, *command, check=False).returncode == 0


def test_image_runs_as_a_non_root_user_with_the_weights_and_samples(image: str) -> None:
    user = _docker("image", "inspect", "-f", "{{.Config.User}}", image).stdout.strip()
    uid = _docker("run", "--rm", "--network", "none", image, "id", "-u").stdout.strip()
    assert user and uid != "0", (user, uid)

    # The committed checkpoints, intact (their SHA256SUMS), and the sample videos, as in the repository.
    sums = sorted(str(p.relative_to(REPO)) for p in (REPO / "weights").rglob("SHA256SUMS"))
    assert sums, "the repository has no weights/**/SHA256SUMS"
    check = " && ".join(f"(cd {Path(s).parent} && sha256sum -c --quiet SHA256SUMS)" for s in sums)
    _docker("run", "--rm", "--network", "none", image, "sh", "-c", check)
    listed = _docker("run", "--rm", "--network", "none", image, "ls", "sample_videos").stdout.split()
    assert sorted(listed) == sorted(p.name for p in (REPO / "sample_videos").iterdir()), listed


def test_dashboard_serves_and_renders_without_exceptions(image: str, compose: dict,
                                                         containers: list[str]) -> None:
    service = compose["services"]["dashboard"]
    cid, port = _start(image, service, containers, {})
    url = f"http://127.0.0.1:{port}/_stcore/health"
    _wait_until(cid, lambda: httpx.get(url, timeout=5).text == "ok", "dashboard")
    assert _healthcheck_passes(cid, service)

    run = _docker("exec", cid, "python", "-c", APPTEST, timeout=ANALYZE_TIMEOUT_S)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["exceptions"] == [], report["exceptions"]
    assert report["markdown"] > 0, "the first page rendered nothing"


def test_api_analyzes_an_upload_with_the_key_passed_through(image: str, compose: dict,
                                                            containers: list[str]) -> None:
    service = compose["services"]["api"]
    assert "DFCORE_API_KEY" in service["environment"], "compose.yaml must pass DFCORE_API_KEY through"
    key = secrets.token_urlsafe(16)
    cid, port = _start(image, service, containers, {"DFCORE_API_KEY": key})
    base = f"http://127.0.0.1:{port}"
    _wait_until(cid, lambda: httpx.get(f"{base}/v1/health", timeout=5).status_code == 200, "api")
    assert httpx.get(f"{base}/v1/health", timeout=5).json()["status"] == "ok"
    assert _healthcheck_passes(cid, service)

    def analyze(headers: dict[str, str]) -> httpx.Response:
        with SAMPLE.open("rb") as f:
            return httpx.post(f"{base}/v1/analyze", files={"file": (SAMPLE.name, f, "video/mp4")},
                              data={"frames": "10"}, headers=headers, timeout=ANALYZE_TIMEOUT_S)

    refused = analyze({})
    assert refused.status_code == 401, refused.text  # the key reached the server
    answered = analyze({"Authorization": f"Bearer {key}"})
    assert answered.status_code == 200, answered.text
    result = answered.json()
    assert result["verdict"] in VERDICTS, result["verdict"]
    assert result["n_frames"] > 0


def test_cli_analyzes_a_mounted_clip_offline(image: str, face_video: Path, tmp_path: Path) -> None:
    # The container's user is not this one: let it read the mounted folder.
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(face_video, data / "clip.mp4")
    data.chmod(0o755)
    (data / "clip.mp4").chmod(0o644)
    mount = ["--rm", "--network", "none", "--volume", f"{data}:/data:ro"]  # no network: nothing is downloaded

    run = _docker("run", *mount, image, "python", "-m", "dfcore", "analyze", "/data/clip.mp4", "--json",
                  "--frames", "10", timeout=ANALYZE_TIMEOUT_S)
    result = json.loads(run.stdout)
    assert result["verdict"] in VERDICTS, result["verdict"]

    missing = _docker("run", *mount, image, "python", "-m", "dfcore", "analyze", "/data/missing.mp4",
                      timeout=ANALYZE_TIMEOUT_S, check=False)
    assert missing.returncode == 2, missing.stderr
    assert "/data/missing.mp4" in missing.stderr and "Traceback" not in missing.stderr, missing.stderr
