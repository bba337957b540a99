"""End-to-end in Chromium: each verdict as a person sees it — its colour, its sentence, UNCERTAIN's reasons, the
score's rarity and the model's error rates — in the dashboard's result view and in the saved HTML report.

The untrained test model cannot be steered to a chosen verdict, so the analyses are made by hand
(tests/shown_verdicts.py: the verdict and its reasons come from dfcore.decision.decide with a rule made there)
and shown by the dashboard's own ResultView through a test-only page (tests/verdict_page.py) served by a real
``streamlit run`` on a free loopback port. The model card beside the (absent) weights carries invented error
rates for that made-up model; nothing here measures detection.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dfcore.decision import EVIDENCE_NOT_PROOF, FAKE, NO_FACE, NO_SIGN, UNCERTAIN, VERDICT_LABELS, VERDICT_SENTENCES
from dfcore.reporting.figures import FAKE_COLOUR, NO_SIGN_COLOUR, UNCERTAIN_COLOUR
from dfcore.reporting.report import html_report
from dfcore.reporting.verdict_card import GRADCAM_NOTE, VERDICT_COLOURS, error_rates_sentence
from shown_verdicts import error_rates_card, made_result
from ui_fixtures import BROWSER_TEST, screenshot, start_streamlit, stop_streamlit

pytestmark = BROWSER_TEST

LOAD_MS = 120_000  # the first run imports torch and plotly on a busy 2-core machine
LABEL_COLOUR = """(el) => { const span = [...el.querySelectorAll('h2 span')].find(
    (s) => s.textContent.trim() === el.dataset.label); return span ? getComputedStyle(span).color : null; }"""


def rgb(css: str) -> tuple[int, int, int]:
    """``rgb(214, 69, 69)`` (or rgba) -> (214, 69, 69)."""
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return r, g, b


def hex_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def hue_family(colour: tuple[int, int, int]) -> str:
    """The colour family a person would name: red, amber, green or grey (Streamlit's theme shades differ from
    the report's hex values, so the app is checked by family)."""
    r, g, b = colour
    if max(r, g, b) - min(r, g, b) < 40:
        return "grey"
    if g > r and g > b:
        return "green"
    if r > g > b and g > 0.4 * r:
        return "amber"
    if r > g and r > b:
        return "red"
    return "other"


FAMILY = {FAKE: "red", UNCERTAIN: "amber", NO_SIGN: "green", NO_FACE: "grey"}


@pytest.fixture(scope="module")
def verdict_server(tmp_path_factory: pytest.TempPathFactory):
    """``streamlit run tests/verdict_page.py``, its weights variable naming a model whose card has error rates."""
    folder = tmp_path_factory.mktemp("verdict_page")
    weights = folder / "made.pt"  # never loaded: the page shows hand-made results; only its card is read
    (folder / "made.card.json").write_text(json.dumps({"name": "made", **error_rates_card()}))
    proc, url = start_streamlit(weights, folder / "streamlit.log", script="tests/verdict_page.py")
    try:
        yield url
    finally:
        stop_streamlit(proc)


@pytest.mark.parametrize("verdict", [FAKE, UNCERTAIN, NO_SIGN])
def test_result_view_shows_the_verdict_in_its_colour_with_its_words(verdict: str, verdict_server: str, browser,
                                                                     failure_screenshots: list) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, color_scheme="light")
    failure_screenshots.append(page)
    page.goto(f"{verdict_server}/?verdict={verdict}")
    card = page.locator(".st-key-shown_verdict")
    label = VERDICT_LABELS[verdict]
    card.get_by_text(VERDICT_SENTENCES[verdict]).wait_for(timeout=LOAD_MS)
    text = card.inner_text()
    result = made_result(verdict)

    card.evaluate(f"(el) => {{ el.dataset.label = {json.dumps(label)}; }}")
    colour = card.evaluate(LABEL_COLOUR)
    assert colour is not None, f"no {label!r} heading in {text!r}"
    assert hue_family(rgb(colour)) == FAMILY[verdict], (verdict, colour)
    assert EVIDENCE_NOT_PROOF in text
    assert "Fake score" in text and "FAKE at ≥ 84% · NO SIGN below 40%" in text, text
    for sentence in result.reason_sentences:
        assert sentence in text
    assert bool(result.reason_sentences) == (verdict == UNCERTAIN), "reasons only for UNCERTAIN"
    assert result.rarity and result.rarity in text
    assert error_rates_sentence(error_rates_card()) in text, "the model card's measured error rates"
    assert "REAL" not in page.inner_text("body")

    # The timeline: each frame's point in its own band's colour, whatever the clip's verdict.
    points = page.locator(".js-plotly-plot .scatterlayer .trace").first.locator(".point")
    points.first.wait_for(timeout=LOAD_MS)
    fills = {rgb(points.nth(i).evaluate("(p) => getComputedStyle(p).fill")) for i in range(points.count())}
    assert fills == {hex_rgb(c) for c in (FAKE_COLOUR, UNCERTAIN_COLOUR, NO_SIGN_COLOUR)}, fills
    page.get_by_text(GRADCAM_NOTE).first.wait_for(timeout=LOAD_MS)
    assert "towards" not in page.inner_text("body")
    screenshot(page, f"verdict_{verdict}")
    page.close()


def test_uncertain_from_thin_evidence_says_why(verdict_server: str, browser, failure_screenshots: list) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    failure_screenshots.append(page)
    page.goto(f"{verdict_server}/?verdict={UNCERTAIN}&thin=1")
    card = page.locator(".st-key-shown_verdict")
    card.get_by_text(VERDICT_SENTENCES[UNCERTAIN]).wait_for(timeout=LOAD_MS)
    reasons = made_result(UNCERTAIN, thin=True).reason_sentences
    assert len(reasons) >= 1 and all(r in card.inner_text() for r in reasons), card.inner_text()
    page.close()


@pytest.mark.parametrize("verdict", [FAKE, UNCERTAIN, NO_SIGN, NO_FACE])
def test_html_report_shows_the_verdict_in_its_colour_with_its_words(verdict: str, tmp_path: Path, browser,
                                                                     failure_screenshots: list) -> None:
    result = made_result(verdict)
    report = tmp_path / f"{verdict}.html"
    report.write_text(html_report(result, f"{verdict}.mp4", card=error_rates_card()))
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    failure_screenshots.append(page)
    page.goto(report.as_uri())
    label = page.locator(".verdict-card .verdict")
    assert label.inner_text() == VERDICT_LABELS[verdict]
    assert rgb(label.evaluate("(el) => getComputedStyle(el).color")) == hex_rgb(VERDICT_COLOURS[verdict])
    card = page.locator(".verdict-card").inner_text()
    assert VERDICT_SENTENCES[verdict] in card and EVIDENCE_NOT_PROOF in card
    assert all(r in card for r in result.reason_sentences)
    assert (result.rarity or "") in card
    assert (error_rates_sentence(error_rates_card()) in card) == (verdict != NO_FACE)
    page.close()
