"""Offline for real and private by default, in Debian's Chromium against `streamlit run` (issue "Dashboard: offline
for real, private by default, and the rough edges a newcomer hits").

- No page asks any host but the app's own for anything (favicon, fonts, icons, scripts), while a user clicks
  through every page, in the light and the dark theme.
- The dashboard listens on 127.0.0.1 when started with the repository's config and no address.
- The webcam page without a camera says so once, in a plain sentence, with the browser's reason in small print;
  with a camera, its Record button wears the app's font.

The detector is an UNTRAINED checkpoint (ui_fixtures.py): these tests never read what a verdict says.
Screenshots of every page in both themes go to test-artifacts/screenshots/offline_*.png.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ui_fixtures import (
    ANALYSIS_MS,
    BROWSER_TEST,
    LOAD_MS,
    REPO,
    SAMPLES,
    launch_chromium,
    screenshot,
    stop_streamlit,
)

pytestmark = BROWSER_TEST

NO_CAMERA = "No camera found: connect one, or allow this page to use it."


class RequestLog:
    """Every request a page makes, and those to any host but the app's own."""

    def __init__(self, app_url: str) -> None:
        self.app = urlsplit(app_url).netloc
        self.seen: list[str] = []
        self.external: list[str] = []

    def __call__(self, request) -> None:
        url = request.url
        self.seen.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != self.app:
            self.external.append(url)


def open_page(browser, url: str, scheme: str, log: RequestLog, path: str = "/"):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=scheme)
    page = context.new_page()
    page.on("request", log)
    # Anything external fails at once (as it would offline); it is still logged above, and counted.
    context.route(lambda u: urlsplit(u).netloc not in ("", log.app), lambda route: route.abort())
    page.goto(url + path)
    page.wait_for_selector("[data-testid=stApp]", timeout=LOAD_MS)
    return page


def go_to(page, title: str, heading: str) -> None:
    page.locator("[data-testid=stSidebarNav] a", has_text=title).click()
    page.locator("h1", has_text=heading).wait_for(timeout=LOAD_MS)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_page_asks_another_host_for_anything(browser, streamlit_app, scheme: str, tmp_path: Path,
                                               failure_screenshots) -> None:
    log = RequestLog(streamlit_app)
    page = open_page(browser, streamlit_app, scheme, log)
    failure_screenshots.append(page)
    page.locator(".st-key-analyze_run button").wait_for(timeout=LOAD_MS)
    # The tab's icon is the app's own file, not a font CDN's.
    icon = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map((l) => l.href)")
    assert icon and all(urlsplit(h).netloc == log.app for h in icon), icon

    # Analyze: the sample list (the real clip first), the shortcut help, an analysis, a layer switch.
    sample = page.locator(".st-key-analyze_sample")
    sample.get_by_role("combobox").click()
    page.get_by_role("option").first.wait_for(timeout=LOAD_MS)
    options = page.get_by_role("option").all_inner_texts()
    assert len(options) == 4 and all(" says " in o for o in options), options
    assert "synthetic_real_astronaut.mp4 · real" in page.get_by_role("option", selected=True).inner_text()
    screenshot(page, f"offline_samples_{scheme}")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Keyboard shortcuts").click()
    page.locator("[data-testid=stPopoverBody]").wait_for(timeout=LOAD_MS)
    screenshot(page, f"offline_shortcuts_{scheme}")
    page.keyboard.press("Escape")
    page.locator(".st-key-analyze_run button").click()
    explorer = page.locator(".st-key-analyze_explorer")
    explorer.get_by_text("Grad-CAM, layer4").wait_for(timeout=ANALYSIS_MS)
    explorer.locator("[data-testid=stTooltipHoverTarget]").first.hover()
    page.locator("[data-testid=stTooltipContent]").wait_for(timeout=LOAD_MS)
    assert "ResNeXt" in page.locator("[data-testid=stTooltipContent]").inner_text()
    screenshot(page, f"offline_analyze_{scheme}")
    page.mouse.move(0, 0)
    page.wait_for_timeout(1500)  # the other layers are explained in the background meanwhile
    explorer.locator(".st-key-analyze_layer").get_by_role("combobox").click()
    page.keyboard.type("layer2")
    start = time.monotonic()
    page.keyboard.press("Enter")
    explorer.get_by_text("Grad-CAM, layer2").wait_for(timeout=ANALYSIS_MS)
    print(f"layer switch shown after {time.monotonic() - start:.2f} s ({scheme})")  # measured, not a target

    # Webcam (no camera in this browser), Batch (two files of one name), Speed, Model.
    go_to(page, "Webcam", "Webcam")
    page.get_by_text(NO_CAMERA).wait_for(timeout=LOAD_MS)
    screenshot(page, f"offline_webcam_{scheme}")
    go_to(page, "Batch", "Batch")
    files = []
    for folder, sample_name in (("a", "synthetic_real_astronaut.mp4"), ("b", "synthetic_fake_warp_astronaut.mp4")):
        (tmp_path / folder).mkdir()
        files.append(tmp_path / folder / "clip.mp4")
        files[-1].write_bytes((SAMPLES / sample_name).read_bytes())
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files([str(f) for f in files])
    page.locator("[data-testid=stFileChip]").nth(1).wait_for(timeout=LOAD_MS)
    page.locator(".st-key-batch_run button").click()
    page.locator("[data-testid=stDataFrame]").wait_for(timeout=ANALYSIS_MS)
    page.locator(".st-key-batch_verdict").wait_for(timeout=ANALYSIS_MS)
    screenshot(page, f"offline_batch_{scheme}")
    go_to(page, "Speed vs accuracy", "Speed vs accuracy")
    page.locator(".st-key-speed_chart").wait_for(timeout=LOAD_MS)
    screenshot(page, f"offline_speed_{scheme}")
    go_to(page, "Model", "Model")
    page.locator("[data-testid=stMetric]").first.wait_for(timeout=LOAD_MS)
    screenshot(page, f"offline_model_{scheme}")

    assert len(log.seen) > 50, "the log saw the app's own requests"
    assert log.external == [], f"requests to other hosts: {sorted(set(log.external))}"
    page.context.close()


def test_webcam_without_a_camera_says_so_once_in_plain_words(browser, streamlit_app, failure_screenshots) -> None:
    log = RequestLog(streamlit_app)
    page = open_page(browser, streamlit_app, "light", log, "/webcam")
    failure_screenshots.append(page)
    page.get_by_text(NO_CAMERA).wait_for(timeout=LOAD_MS)
    clip_tab = page.locator("[data-testid=stTabPanel]").first
    text = clip_tab.inner_text()
    assert text.count("No camera") == 1, text
    assert clip_tab.locator("[data-testid=stAlertContentError]").count() == 0, "not an error of the app"
    reason = clip_tab.locator("[data-testid=stCaptionContainer]", has_text="The browser said:")
    assert reason.count() == 1 and "Error" in reason.inner_text(), "the browser's reason, in small print"
    assert clip_tab.locator(".rec").is_hidden(), "no empty recorder beside the sentence"
    page.context.close()


def test_record_button_wears_the_apps_font(playwright_instance, streamlit_app, failure_screenshots) -> None:
    camera_browser = launch_chromium(playwright_instance, [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
    try:
        log = RequestLog(streamlit_app)
        for scheme in ("light", "dark"):
            page = open_page(camera_browser, streamlit_app, scheme, log, "/webcam")
            failure_screenshots.append(page)
            page.get_by_text("Camera ready.").wait_for(timeout=LOAD_MS)
            font = ("(el) => { const s = getComputedStyle(el); "
                    "return [s.fontFamily, s.fontWeight, s.fontSize, s.lineHeight]; }")
            record = page.locator(".rec button.record").evaluate(font)
            # Streamlit's own camera button on the same page (the snapshot's "Take Photo").
            theirs = page.locator("[data-testid=stCameraInputButton]").first.evaluate(font)
            assert record == theirs, f"Record {record}, Streamlit's camera button {theirs}"
            assert "Source Sans" in record[0], "the theme's font, not the browser's default for buttons"
            screenshot(page, f"offline_webcam_camera_{scheme}")
            page.context.close()
        assert log.external == [], log.external
    finally:
        camera_browser.close()


def test_dashboard_listens_on_loopback_only_by_default(weights_with_card: Path, tmp_path: Path) -> None:
    """`streamlit run app.py` with the repository's config and no --server.address: 127.0.0.1 only."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, DFCORE_WEIGHTS=str(weights_with_card), OMP_NUM_THREADS="1")
    log = tmp_path / "streamlit.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.fileWatcherType", "none"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        addresses = {line.split()[3].rsplit(":", 1)[0] for line in listening.splitlines() if line.strip()}
        assert addresses == {"127.0.0.1"}, listening
        assert "Network URL" not in log.read_text(), log.read_text()
    finally:
        stop_streamlit(proc)
