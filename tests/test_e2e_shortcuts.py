"""The keyboard shortcuts, pressed with Playwright's keyboard in Debian's Chromium against `streamlit run`.

Enter starts the analysis, V scrolls to the verdict, J and D download the JSON
result and the HTML report (named after the clip and the verdict, and naming
the clip's sha256), T toggles dark mode and U opens the file chooser. The
detector is the UNTRAINED fixture model (ui_fixtures.py): verdicts are
checked for form only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dfcore.decision import VERDICTS  # the JSON's machine names
from ui_fixtures import (
    ANALYSIS_MS,
    BROWSER_TEST,
    LOAD_MS,
    SAMPLES,
    copy_sample,
    screenshot,
)

pytestmark = BROWSER_TEST

BACKGROUND = "getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"
VERDICT_TOP = "document.querySelector('.st-key-analyze_verdict').getBoundingClientRect().top"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_dark(rgb: str) -> bool:
    r, g, b = (int(v) for v in rgb.strip("rgba()").split(",")[:3])
    return 0.299 * r + 0.587 * g + 0.114 * b < 128


def test_shortcuts_analyse_view_download_theme_and_upload(browser, streamlit_app, tmp_path: Path,
                                                         failure_screenshots) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900}, color_scheme="light", accept_downloads=True)
    failure_screenshots.append(page)
    page.goto(streamlit_app + "/")
    page.locator(".st-key-analyze_run button").wait_for(timeout=LOAD_MS)

    # The help lists every shortcut.
    page.get_by_role("button", name="Keyboard shortcuts").click()
    help_text = page.locator("[data-testid=stPopoverBody]").inner_text()
    for key in ("Enter", "U", "V", "D", "J", "T", "Ctrl+U", "Ctrl+R", "Ctrl+T"):
        assert key in help_text, key
    page.keyboard.press("Escape")

    # Enter: the selected sample is analysed.
    page.keyboard.press("Enter")
    verdict = page.locator(".st-key-analyze_verdict")
    verdict.wait_for(timeout=ANALYSIS_MS)
    page.locator(".st-key-analyze_explorer img").first.wait_for(timeout=LOAD_MS)

    # V: back to the verdict from the bottom of the page.
    page.evaluate("document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]')"
                  ".forEach((e) => { e.scrollTop = e.scrollHeight; })")
    page.wait_for_function(f"{VERDICT_TOP} < 0", timeout=LOAD_MS)
    page.keyboard.press("v")
    page.wait_for_function(f"Math.abs({VERDICT_TOP}) < 120", timeout=LOAD_MS)

    # J and D: the result and the report, named after the clip and the verdict, naming its sha256.
    with page.expect_download(timeout=LOAD_MS) as dl:
        page.keyboard.press("j")
    data = json.loads(Path(dl.value.path()).read_text())
    clip = SAMPLES / data["input"]["name"]
    assert data["verdict"] in VERDICTS and data["n_frames"] == 20
    assert data["input"]["sha256"] == sha256(clip.read_bytes())
    assert dl.value.suggested_filename == f"{clip.name}.{data['verdict']}.deepfake-lens.json"
    with page.expect_download(timeout=ANALYSIS_MS) as dl:
        page.keyboard.press("d")
    assert dl.value.suggested_filename == f"{clip.name}.{data['verdict']}.deepfake-lens.html"
    report = Path(dl.value.path()).read_text()
    assert data["input"]["sha256"] in report and "Plotly.newPlot" in report

    # T: dark mode, and back.
    assert not is_dark(page.evaluate(BACKGROUND))
    page.keyboard.press("t")
    page.wait_for_function(f"{BACKGROUND} !== 'rgb(255, 255, 255)'", timeout=LOAD_MS)
    assert is_dark(page.evaluate(BACKGROUND))
    # The settings menu that switched it closes by itself (a moment after the new theme is drawn).
    page.locator("[data-testid=stMainMenuItem-theme-Dark]").wait_for(state="detached", timeout=LOAD_MS)
    screenshot(page, "shortcuts_dark")
    page.keyboard.press("t")
    page.wait_for_function(f"{BACKGROUND} === 'rgb(255, 255, 255)'", timeout=LOAD_MS)

    # U: the uploader, with the file chooser open; then Enter analyses the upload.
    still = copy_sample("synthetic_real_astronaut.jpg", tmp_path)
    with page.expect_file_chooser(timeout=LOAD_MS) as chooser:
        page.keyboard.press("u")
    chooser.value.set_files(str(still))
    page.locator("[data-testid=stFileChip]").first.wait_for(timeout=LOAD_MS)
    page.locator(".st-key-analyze_run button:not([disabled])").wait_for(timeout=LOAD_MS)  # the upload arrived
    page.keyboard.press("Enter")
    verdict.get_by_text(still.name).wait_for(timeout=ANALYSIS_MS)
    verdict.get_by_text("1 / 1").wait_for(timeout=ANALYSIS_MS)
    screenshot(page, "shortcuts_upload")
    page.close()
