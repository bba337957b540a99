"""Fixtures for the dashboard's tests (AppTest and the browser tests); imported by tests/test_app_*.py and test_e2e_*.py.

The checkpoint made here is a *randomly initialised, untrained* model: it
tests plumbing only (pages render, files flow, widgets react). Its verdicts
mean nothing and no test reads them as evidence of detection quality.

The model card made here (``<stem>.card.json`` beside the checkpoint, where
``dfcore.models.model_registry`` looks for it) has the schema ``dfcore.evaluation.card`` writes (it
is built by that module's own ``_card``), but its metrics are computed from
invented per-video scores: it exercises the Model and Speed pages, it is not a
measurement of anything.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_videos"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
# From ../shared/notes/environment.md: what Debian's Chromium needs to run headless in a container.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MODEL_NAME = "resnext_compact_lstm"
WEIGHTS_NAME = "untrained_fixture.pt"

def make_untrained_checkpoint(folder: Path, name: str = WEIGHTS_NAME, seed: int = 0) -> Path:
    """An UNTRAINED resnext_compact_lstm checkpoint ``name`` (+ SHA256SUMS) in ``folder``: plumbing only.

    A different ``seed`` gives different weights (another sha256), as a second installed model would have.
    """
    from dfcore import PreprocessConfig, create_model, save_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = create_model(MODEL_NAME).eval()
    path = folder / name
    save_checkpoint(path, model, MODEL_NAME, PreprocessConfig())
    return path


def write_card_fixture(weights: Path, secs_per_frame: float = 0.05) -> Path:
    """``<stem>.card.json`` beside ``weights`` in dfcore.evaluation.card's schema, from invented scores (not measurements)."""
    from dfcore import load_detector
    from dfcore.evaluation.card import _card, render_markdown
    from dfcore.evaluation.evaluate import DEFAULT_FRAME_COUNTS, VideoScores, auc_change_with_frames, \
        summarize_by_frames
    from dfcore.evaluation.verdict_validation import verdict_validation
    from dfcore.models.model_registry import CARD_MD_SUFFIX, card_path_for
    from dfcore.training.train import TrainConfig

    det = load_detector(weights, device="cpu")
    rng = np.random.default_rng(0)

    def invented_videos(counts: tuple[int, ...], n_videos: int, secs_per_frame: float) -> list[VideoScores]:
        videos = []
        for v in range(n_videos):
            label = "fake" if v % 2 else "real"
            scores, frames, seconds = {}, {}, {}
            for k in counts:
                # Invented: fakes score higher, and more frames separate them a little better.
                centre = (0.62 if label == "fake" else 0.38) + (0.1 if label == "fake" else -0.1) * np.log10(k) / 2
                p = float(np.clip(rng.normal(centre, 0.15), 0.01, 0.99))
                scores[str(k)], frames[str(k)] = p, [p] * min(k, 5)
                seconds[str(k)] = 0.5 + secs_per_frame * k
            videos.append(VideoScores(f"invented_{v}.mp4", label, scores, frames, seconds))
        return videos

    def report(videos: list[VideoScores], counts: tuple[int, ...]) -> dict:
        return {"by_frames": summarize_by_frames(videos, counts, det.threshold),
                "auc_change": auc_change_with_frames(videos, counts)}

    ffpp = invented_videos(DEFAULT_FRAME_COUNTS, 40, secs_per_frame)
    dfdc = invented_videos((1,), 30, 0.0)
    # The verdicts on the invented scores at the model's own thresholds: the card's "error_rates" come from these.
    validation = verdict_validation({"ffpp": ffpp}, {"dfdc": dfdc}, det.rule, DEFAULT_FRAME_COUNTS)
    card = _card(det, TrainConfig(), {"ffpp": report(ffpp, DEFAULT_FRAME_COUNTS), "dfdc": report(dfdc, (1,))},
                 validation, {"ffpp_val": "invented.csv"})
    card["name"] += " (TEST FIXTURE: untrained weights, invented metrics)"
    path = card_path_for(weights)
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    weights.with_name(weights.stem + CARD_MD_SUFFIX).write_text(render_markdown(card))
    return path


@pytest.fixture(scope="session")
def untrained_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """UNTRAINED checkpoint, no model card beside it."""
    return make_untrained_checkpoint(tmp_path_factory.mktemp("ui_weights_nocard"))


@pytest.fixture(scope="session")
def weights_with_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """UNTRAINED checkpoint with a fixture model card beside it."""
    weights = make_untrained_checkpoint(tmp_path_factory.mktemp("ui_weights_card"))
    write_card_fixture(weights)
    return weights


# Two fixture models' names: invented for the tests, never the names of real models.
TWO_MODELS = ("fixture_first", "fixture_second")


@pytest.fixture(scope="session")
def two_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with two UNTRAINED models (different weights), each with a card (invented metrics),
    and their models.json, the first the default."""
    from dfcore.models.model_registry import write_index

    folder = tmp_path_factory.mktemp("ui_two_models")
    for seed, name in enumerate(TWO_MODELS):
        write_card_fixture(make_untrained_checkpoint(folder, f"{name}.pt", seed=seed), 0.05 / (seed + 1))
    write_index(folder, list(TWO_MODELS), "test fixture: the first is the default")
    return folder


# --------------------------------------------------------------------------- AppTest


def started_app(timeout: float) -> AppTest:
    """The dashboard in AppTest after its first run, from empty caches (they live in the process, shared
    by every AppTest; the detector cache is keyed by the weights file anyway, the clip caches by content)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    wait_for_background(timeout)
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_for_background(timeout: float = 120) -> None:
    """Wait until the dashboard's background jobs queued so far (the Grad-CAM layers an earlier test's analysis
    left to explain) are done, so a test starts on a quiet process: nothing of an earlier test runs beside it."""
    import ui.analysis as analysis

    analysis._background().submit(lambda: None).result(timeout=timeout)  # one worker, first in first out


# --------------------------------------------------------------------------- browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_streamlit(weights: Path, log: Path, script: str = "app.py") -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` (or another ``script``, relative to the repository) on a free port with
    DFCORE_WEIGHTS set; returns the process and its URL."""
    port = free_port()
    # tests/ on the path too, for the test-only pages (tests/verdict_page.py) and the modules they import.
    env = dict(os.environ, DFCORE_WEIGHTS=str(weights), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               GLOG_minloglevel="2", PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
           "--browser.gatherUsageStats", "false"]
    with log.open("w") as out:  # the child keeps its own copy of the handle
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    stop_streamlit(proc)
    raise RuntimeError(f"streamlit did not answer within 90 s; see {log}")


def stop_streamlit(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="session")
def streamlit_app(weights_with_card: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard served by a real ``streamlit run`` (UNTRAINED weights + fixture card); yields its URL."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (CI does)")
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    proc, url = start_streamlit(weights_with_card, log)
    try:
        yield url
    finally:
        stop_streamlit(proc)  # always: a finalizer, so a failing test never leaves a server behind


def launch_chromium(playwright, extra_args: list[str] | None = None):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS + (extra_args or []))


# Playwright waits, in ms: a fresh server's first page run imports torch and loads the model on a busy 2-core
# machine, and an analysis there can take minutes.
LOAD_MS = 120_000
ANALYSIS_MS = 180_000

# A browser test module's marks: ``pytestmark = BROWSER_TEST``.
BROWSER_TEST = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium; CI has it)"),
]


@pytest.fixture(scope="module")
def browser(playwright_instance):
    """One Chromium per test module; closed after failure_screenshots has captured a failing test's pages."""
    b = launch_chromium(playwright_instance)
    yield b
    b.close()


@pytest.fixture(scope="module")
def playwright_instance():
    """Playwright for one test module. Not for the session: while it runs, its event loop is the
    thread's, and a later test's ``asyncio.run()`` would fail."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (CI does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def screenshot(page, name: str) -> Path:
    """A screenshot of the whole page in test-artifacts/screenshots/<name>.png.

    Streamlit scrolls inside its main section, not the document, so a "full
    page" screenshot would stop at the window: the window is made as tall as
    the content for the shot.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    size = page.viewport_size
    content_height = ("() => Math.max(document.body.scrollHeight, ...[...document.querySelectorAll("
                      "'[data-testid=stMain], [data-testid=stAppViewContainer]')].map((e) => e.scrollHeight))")
    page.wait_for_timeout(500)  # let late elements (tables, charts) take their size
    for _ in range(2):  # grow, then measure again: some elements size themselves to the window
        height = min(int(page.evaluate(content_height)), 8000)
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
        page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


@pytest.fixture
def failure_screenshots(request: pytest.FixtureRequest) -> Iterator[list]:
    """Pages a test appends here are captured as FAILED_<test>_<n>.png if the test fails."""
    pages: list = []
    failed_before = request.session.testsfailed
    yield pages
    # The call phase's report is counted before fixtures are torn down.
    if request.session.testsfailed > failed_before:
        for n, page in enumerate(pages):
            try:
                screenshot(page, f"FAILED_{request.node.name}_{n}")
            except Exception:  # noqa: BLE001 - a closed page or browser: nothing left to capture
                pass


def write_y4m(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """Raw 4:2:0 YUV4MPEG2, the format Chromium's --use-file-for-fake-video-capture reads."""
    h, w = frames[0].shape[:2]
    import cv2

    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def sample_frames_rgb(video: Path, limit: int) -> list[np.ndarray]:
    """The first ``limit`` frames of a (synthetic sample) clip as RGB arrays, even-sized."""
    import av

    out = []
    with av.open(str(video)) as c:
        for frame in c.decode(video=0):
            img = frame.to_ndarray(format="rgb24")
            out.append(np.ascontiguousarray(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]))
            if len(out) >= limit:
                break
    return out


def copy_sample(name: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(SAMPLES / name, dest / name))
