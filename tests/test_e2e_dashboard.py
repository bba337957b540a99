"""End-to-end: the dashboard served by `streamlit run`, driven in Debian's Chromium with Playwright.

The detector behind the server is an UNTRAINED, randomly initialised
checkpoint and the model card a fixture with invented metrics (see
ui_fixtures.py): these tests check that every page works in a real browser
(uploads, media, charts, the webcam, downloads), never what the verdicts are.
Each test saves a full-page screenshot to test-artifacts/screenshots/.
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from dfcore.decision import VERDICT_LABELS, VERDICTS as MACHINE_VERDICTS
from ui_fixtures import (
    ANALYSIS_MS,
    BROWSER_TEST,
    LOAD_MS,
    SAMPLES,
    copy_sample,
    launch_chromium,
    sample_frames_rgb,
    screenshot,
    write_y4m,
)

pytestmark = BROWSER_TEST

VERDICTS = tuple(VERDICT_LABELS.values())  # as shown: "FAKE", "UNCERTAIN", "NO SIGN FOUND", "NO FACE"
ANALYZE_BUTTON = ".st-key-analyze_run button"  # its accessible name ends with its shortcut ("Analyze Enter")


def open_app(browser, url: str, path: str = "/"):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, color_scheme="light",
                            accept_downloads=True)
    page.goto(url + path)
    page.wait_for_selector("[data-testid=stApp]", timeout=LOAD_MS)
    return page


def shown_verdict(page, key: str) -> str:
    """Wait for the view ``key``'s verdict box to show a verdict; return the box's text."""
    verdict = page.locator(f".st-key-{key}_verdict")
    verdict.wait_for(timeout=ANALYSIS_MS)
    # Streamlit sends the keyed container before the elements inside it: on a busy machine the box can be
    # in the page, still empty, for a moment. Wait for its text rather than read it the instant it appears.
    deadline = time.monotonic() + LOAD_MS / 1000
    while not any(v in (text := verdict.inner_text()) for v in VERDICTS):
        assert time.monotonic() < deadline, f"the verdict box shows no verdict: {text!r}"
        page.wait_for_timeout(100)
    return text


def wait_for_result(page, key: str) -> str:
    """Wait for the view ``key`` to show its verdict, timeline chart and loaded explorer images; return the verdict."""
    text = shown_verdict(page, key)
    page.locator(".js-plotly-plot").first.wait_for(timeout=LOAD_MS)
    explorer = page.locator(f".st-key-{key}_explorer")
    explorer.get_by_text("Grad-CAM,").first.wait_for(timeout=LOAD_MS)
    # Every image in the explorer (frame, crop, Grad-CAM overlay) really loaded from the media endpoint.
    page.wait_for_function(
        """(sel) => { const imgs = [...document.querySelectorAll(sel + ' img')];
                      return imgs.length >= 3 && imgs.every((i) => i.complete && i.naturalWidth > 0); }""",
        arg=f".st-key-{key}_explorer", timeout=LOAD_MS)
    return text


VIDEO_STATES = """() => [...document.querySelectorAll('video')].map((v) => ({
    src: v.currentSrc, autoplay: v.autoplay, muted: v.muted, paused: v.paused, readyState: v.readyState,
    networkState: v.networkState, currentTime: v.currentTime, width: v.videoWidth,
    error: v.error && v.error.code}))"""


def wait_for_playing_video(page) -> None:
    """Wait until a preview video has decoded frames and its time advances; fail with every video's state."""
    # Chromium may hold back a muted autoplay video outside the viewport (to save power), and where the preview
    # lands depends on the layout: bring it into view, as a user who wants to watch it would.
    page.locator("video").first.scroll_into_view_if_needed(timeout=LOAD_MS)
    deadline = time.monotonic() + LOAD_MS / 1000
    while True:
        states = page.evaluate(VIDEO_STATES)
        if any(v["readyState"] >= 2 and v["currentTime"] > 0 and v["error"] is None and v["width"] > 0
               for v in states):
            return
        # Streamlit autoplays a video element only the first time it mounts (its "preventAutoplay" element
        # state): one that React mounts again, as a rerun can, waits loaded and paused. Press play then, as a
        # user would; what is tested is that the browser decodes and plays the preview.
        page.evaluate("() => document.querySelectorAll('video').forEach((v) => "
                      "{ if (v.paused && v.readyState >= 2) v.play().catch(() => {}); })")
        assert time.monotonic() < deadline, f"no preview video played within {LOAD_MS / 1000:.0f} s: {states}"
        page.wait_for_timeout(500)


def test_analyze_upload_shows_verdict_chart_gradcam_video_and_downloads(browser, streamlit_app, tmp_path,
                                                                        failure_screenshots):
    clip = copy_sample("synthetic_fake_warp_astronaut.mp4", tmp_path)
    page = open_app(browser, streamlit_app)
    failure_screenshots.append(page)
    page.get_by_text("Upload", exact=True).click()
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(clip))
    page.locator("[data-testid=stFileChip]").first.wait_for(timeout=LOAD_MS)
    page.locator(ANALYZE_BUTTON).click()

    wait_for_result(page, "analyze")
    wait_for_playing_video(page)
    assert page.get_by_text("Most suspicious frames").count() == 1

    with page.expect_download(timeout=LOAD_MS) as dl:
        page.get_by_role("button", name="Download JSON").click()
    data = json.loads(Path(dl.value.path()).read_text())
    assert data["verdict"] in MACHINE_VERDICTS and data["n_frames"] == 20
    assert data["model"]["sha256"] and len(data["frames"]) == 20
    assert data["input"]["name"] == clip.name and data["input"]["size_bytes"] == clip.stat().st_size
    assert dl.value.suggested_filename == f"{clip.name}.{data['verdict']}.deepfake-lens.json"

    with page.expect_download(timeout=ANALYSIS_MS) as dl:
        page.get_by_role("button", name="Download HTML report").click()
    report = Path(dl.value.path()).read_text()
    assert "Plotly.newPlot" in report and "data:image/png;base64," in report
    assert "<script src=" not in report  # self-contained: plotly.js is inline
    screenshot(page, "analyze")

    # The report renders on its own, from a file, with the network blocked.
    report_file = tmp_path / "report.html"
    report_file.write_text(report)
    offline = browser.new_page(viewport={"width": 1200, "height": 900})
    offline.route("http*://**", lambda route: route.abort())
    offline.goto(report_file.as_uri())
    offline.locator(".js-plotly-plot .scatterlayer").first.wait_for(timeout=LOAD_MS)
    offline.wait_for_function("[...document.images].every((i) => i.complete && i.naturalWidth > 0)")
    screenshot(offline, "report")
    offline.close()

    # A click on a point of the timeline opens that frame in the explorer.
    probs = [f["fake_probability"] for f in data["frames"]]
    shown = max(range(len(probs)), key=lambda i: probs[i])  # the explorer starts on the most suspicious frame
    target = 0 if shown != 0 else 1
    explorer = page.locator(".st-key-analyze_explorer")
    assert explorer.get_by_text(f"Frame {data['frames'][shown]['index']} at").count() == 1
    point = page.locator(".js-plotly-plot .scatterlayer .trace").first.locator(".point").nth(target)
    point.scroll_into_view_if_needed(timeout=LOAD_MS)  # a mouse click lands only inside the window
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    explorer.get_by_text(f"Frame {data['frames'][target]['index']} at").wait_for(timeout=LOAD_MS)
    page.close()


def test_dark_theme_from_the_settings_menu(browser, streamlit_app, failure_screenshots):
    page = open_app(browser, streamlit_app)
    failure_screenshots.append(page)
    page.locator(ANALYZE_BUTTON).click()
    wait_for_result(page, "analyze")
    app_background = "getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"
    light = page.evaluate(app_background)
    page.locator("[data-testid=stMainMenuButton]").click()
    page.locator("[data-testid=stMainMenuItem-theme-Dark]").click()
    page.wait_for_function(f"{app_background} !== {json.dumps(light)}")
    r, g, b = (int(v) for v in page.evaluate(app_background).strip("rgba()").split(",")[:3])
    assert max(r, g, b) < 80, "a dark background"
    page.keyboard.press("Escape")
    screenshot(page, "analyze_dark")
    page.close()


def test_webcam_records_and_analyses_a_clip(playwright_instance, streamlit_app, tmp_path,
                                            failure_screenshots):
    # Chromium's fake camera plays this clip: frames of the synthetic (public-domain) face sample.
    y4m = write_y4m(sample_frames_rgb(SAMPLES / "synthetic_real_astronaut.mp4", 50), tmp_path / "camera.y4m", fps=25)
    camera_browser = launch_chromium(playwright_instance, [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}"])
    try:
        page = open_app(camera_browser, streamlit_app, "/webcam")
        failure_screenshots.append(page)
        record = page.get_by_role("button", name="Record 5 s")
        record.wait_for(timeout=LOAD_MS)
        # Shorter clip: 3 s (the slider's minimum) keeps the test quick.
        page.locator(".st-key-webcam_seconds input[type=range]").focus()
        page.keyboard.press("Home")
        record = page.get_by_role("button", name="Record 3 s")
        record.wait_for(timeout=LOAD_MS)
        page.get_by_text("Camera ready.").wait_for(timeout=LOAD_MS)
        record.click()
        wait_for_result(page, "webcam")
        wait_for_playing_video(page)
        assert "webcam-" in page.locator(".st-key-webcam_verdict").inner_text()
        screenshot(page, "webcam_clip")

        page.get_by_role("tab", name="Snapshot").click()
        page.get_by_role("button", name="Take Photo").click()
        shown_verdict(page, "snapshot")
        screenshot(page, "webcam_snapshot")
        page.close()
    finally:
        camera_browser.close()


def test_batch_two_files_table_csv_and_open_row(browser, streamlit_app, tmp_path, failure_screenshots):
    files = [copy_sample(n, tmp_path) for n in ("synthetic_real_astronaut.mp4", "synthetic_real_astronaut.jpg")]
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"garbage" * 50)
    page = open_app(browser, streamlit_app, "/batch")
    failure_screenshots.append(page)
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files([str(f) for f in [*files, broken]])
    page.locator("[data-testid=stFileChip]").nth(2).wait_for(timeout=LOAD_MS)
    page.get_by_role("button", name="Analyze 3 file(s)").click()
    page.locator("[data-testid=stDataFrame]").wait_for(timeout=ANALYSIS_MS)

    with page.expect_download(timeout=LOAD_MS) as dl:
        page.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text())))
    assert sorted(r["file"] for r in rows) == sorted(f.name for f in [*files, broken])
    good = [r for r in rows if r["file"] != broken.name]
    assert all(r["verdict"] in VERDICTS and r["model"] for r in good), rows
    bad = next(r for r in rows if r["file"] == broken.name)
    assert bad["verdict"] == "ERROR" and bad["fake score (%)"] == bad["seconds"] == "", "blank, never None"
    # The error in full, outside the table (a cell would cut it off).
    page.locator("[data-testid=stAlertContentError]").get_by_text(bad["error"], exact=True).wait_for(timeout=LOAD_MS)

    wait_for_result(page, "batch")  # the first row's full analysis opens below the table
    screenshot(page, "batch")
    page.close()


def test_speed_and_model_pages_render_the_card(browser, streamlit_app, failure_screenshots):
    page = open_app(browser, streamlit_app)
    failure_screenshots.append(page)
    page.locator(ANALYZE_BUTTON).click()
    wait_for_result(page, "analyze")
    # Through the sidebar, not a new page load: the session (and its loaded clip) must carry over.
    page.get_by_role("link", name="Speed vs accuracy").click()
    page.get_by_role("heading", name="Speed vs accuracy").wait_for(timeout=LOAD_MS)
    page.get_by_text("Seconds per video").first.wait_for(timeout=LOAD_MS)  # the card's curves
    page.get_by_role("button", name="Time every frame count").click()
    page.get_by_text("this clip, this machine").first.wait_for(timeout=ANALYSIS_MS)
    screenshot(page, "speed")
    page.goto(streamlit_app + "/model")
    page.get_by_role("heading", name="Limitations").wait_for(timeout=LOAD_MS)
    # Waited for, not counted at one instant: Streamlit may still be replacing stale elements.
    page.get_by_text("TEST FIXTURE").first.wait_for(timeout=LOAD_MS)
    page.get_by_text("Device in use", exact=True).first.wait_for(timeout=LOAD_MS)
    assert page.get_by_text("Device in use", exact=True).count() == 1  # once rendered, shown once
    screenshot(page, "model")
    page.close()


# The target is 10 s on an idle 2-core machine; the suite shares its cores with pytest
# itself (and CI machines are slower), so the test allows more and records what it measured.
FIRST_VERDICT_TARGET_S = 10.0
FIRST_VERDICT_LIMIT_S = 30.0


def test_first_verdict_soon_after_the_server_is_up(browser, tmp_path) -> None:
    """A fresh server with the committed weights: seconds from its health check to the first verdict."""
    from dfcore.models.model_registry import WEIGHTS_DIR, list_models
    from ui_fixtures import REPO, start_streamlit, stop_streamlit

    weights = list_models(WEIGHTS_DIR)[0].path  # the committed default model
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    proc, url = start_streamlit(weights, tmp_path / "streamlit.log")
    try:
        t0 = time.monotonic()
        page.goto(url + "/")
        page.locator(ANALYZE_BUTTON).click(timeout=LOAD_MS)
        text = shown_verdict(page, "analyze")
        seconds = time.monotonic() - t0
    finally:
        stop_streamlit(proc)
    out = REPO / "test-artifacts" / "first_verdict.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"seconds": round(seconds, 2), "target_s": FIRST_VERDICT_TARGET_S,
                               "verdict": text.splitlines()[0] if text else ""}))
    assert any(v in text for v in VERDICTS), text
    assert seconds <= FIRST_VERDICT_LIMIT_S, f"first verdict after {seconds:.1f} s"
