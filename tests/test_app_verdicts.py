"""AppTest: each verdict's card in the dashboard's result view — label and colour, "Evidence, not proof", the
verdict's sentence, UNCERTAIN's reasons, the score's rarity, the model's measured error rates, and every number in
percent — and the words that come from dfcore.reporting.verdict_card.

The analyses are made by hand (tests/shown_verdicts.py: the verdict and its reasons come from
dfcore.decision.decide with a rule made there) and shown by the real ResultView through the test-only page
tests/verdict_page.py; the model card's error rates are invented for that made-up model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dfcore.decision import (
    EVIDENCE_NOT_PROOF,
    FAKE,
    NO_FACE,
    NO_SIGN,
    REASON_SENTENCES,
    UNCERTAIN,
    VERDICT_LABELS,
    VERDICT_SENTENCES,
)
from dfcore.reporting.verdict_card import (
    GRADCAM_NOTE,
    card_matches,
    error_rates_sentence,
    score_line,
    verdict_card,
)
from shown_verdicts import MODEL_SHA256, error_rates_card, made_result
from ui_fixtures import REPO

TIMEOUT = 60  # s: the first run imports torch and plotly on a shared 2-core machine
COLOURS = {FAKE: "red", UNCERTAIN: "orange", NO_SIGN: "green", NO_FACE: "gray"}


@pytest.fixture
def card_beside_weights(monkeypatch, tmp_path: Path) -> Path:
    """DFCORE_WEIGHTS names a made-up model whose card (with error rates) describes the hand-made results."""
    (tmp_path / "made.card.json").write_text(json.dumps({"name": "made", **error_rates_card()}))
    monkeypatch.setenv("DFCORE_WEIGHTS", str(tmp_path / "made.pt"))
    return tmp_path


def shown(verdict: str, thin: bool = False) -> AppTest:
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO / "tests" / "verdict_page.py"), default_timeout=TIMEOUT)
    at.query_params["verdict"] = verdict
    if thin:
        at.query_params["thin"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown] + [c.value for c in at.caption]


@pytest.mark.parametrize("verdict", [FAKE, UNCERTAIN, NO_SIGN, NO_FACE])
def test_verdict_card_label_colour_sentence_and_numbers(verdict: str, card_beside_weights: Path) -> None:
    at = shown(verdict)
    result = made_result(verdict)
    label = VERDICT_LABELS[verdict]
    heading = [m for m in at.markdown if m.value.startswith("## ")]
    assert [m.value for m in heading] == [f"## :{COLOURS[verdict]}[{label}] :gray-badge[{EVIDENCE_NOT_PROOF}]"]
    body = texts(at)
    assert f"**{VERDICT_SENTENCES[verdict]}**" in body
    assert score_line(result) in body
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Fake score"] == {FAKE: "91%", UNCERTAIN: "63%", NO_SIGN: "18%", NO_FACE: "–"}[verdict]
    assert "Threshold" not in metrics, "thresholds are in the score line, in percent"
    if verdict == NO_FACE:
        assert not any("real videos" in t for t in body), "no rarity and no error rates when nothing was judged"
    else:
        assert result.rarity in body
        assert error_rates_sentence(error_rates_card()) in body
    assert not any("REAL" in t or "towards" in t for t in body)


def test_no_sign_says_it_is_not_proof_of_authenticity(card_beside_weights: Path) -> None:
    at = shown(NO_SIGN)
    assert any("not proof that the clip is authentic" in t for t in texts(at))


def test_uncertain_shows_each_reason_as_a_plain_sentence(card_beside_weights: Path) -> None:
    at = shown(UNCERTAIN)
    assert REASON_SENTENCES["between_thresholds"] in texts(at)
    at = shown(UNCERTAIN, thin=True)
    reasons = made_result(UNCERTAIN, thin=True).reason_sentences
    assert {REASON_SENTENCES["face_in_few_frames"], REASON_SENTENCES["few_face_frames"]} <= set(reasons)
    for sentence in reasons:
        assert sentence in texts(at)
    assert REASON_SENTENCES["between_thresholds"] not in texts(at)


@pytest.mark.parametrize("verdict", [FAKE, NO_SIGN])
def test_no_reasons_outside_uncertain(verdict: str, card_beside_weights: Path) -> None:
    body = texts(shown(verdict))
    assert not any(s in body for s in REASON_SENTENCES.values())


def test_gradcam_captions_say_what_raised_the_fake_score(card_beside_weights: Path) -> None:
    at = shown(NO_SIGN)  # a NO SIGN verdict's maps still show what raised the fake score, not a push towards real
    captions = [c.value for c in at.caption]
    assert f"Grad-CAM. {GRADCAM_NOTE}" in captions
    assert any(c.startswith("The frames with the highest fake scores") and GRADCAM_NOTE in c for c in captions)
    image_captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert image_captions[0].endswith("fake score 93%") and "p =" not in " ".join(image_captions)


def test_no_error_rates_without_a_matching_card(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DFCORE_WEIGHTS", str(tmp_path / "made.pt"))  # no card at all
    body = texts(shown(FAKE))
    assert not any("false alarms" in t for t in body) and made_result(FAKE).rarity in body
    other = {**error_rates_card(), "sha256": "0" * 64}  # the card of other weights
    (tmp_path / "made.card.json").write_text(json.dumps(other))
    assert not any("false alarms" in t for t in texts(shown(FAKE)))


# --------------------------------------------------------------------------- the words, without Streamlit


def test_error_rates_sentence_reads_the_card_and_copes_without() -> None:
    card = error_rates_card()
    sentence = error_rates_sentence(card)
    assert sentence == ("On our validation clips at 20 frames (60 real, 60 fake videos) this model called 3% "
                        "(95% interval 1%–8%) of real videos FAKE (false alarms) and let 9% (95% interval 4%–15%) "
                        "of fakes through as NO SIGN FOUND (misses).")
    assert error_rates_sentence(None) is None
    assert error_rates_sentence({"decision": {"threshold": 0.7}}) is None, "a card written before the rates"
    assert error_rates_sentence({"error_rates": {"frames": 20, "false_alarm": 0.03}}) is None, "half a record"
    assert error_rates_sentence(card, is_image=True) is None, "video rates do not describe a still"
    bare = {"error_rates": {"false_alarm": 0.0, "miss": 0.25}}
    assert error_rates_sentence(bare) == ("On our validation clips this model called 0% of real videos FAKE (false "
                                          "alarms) and let 25% of fakes through as NO SIGN FOUND (misses).")


def test_card_matches_only_the_checkpoint_that_made_the_result() -> None:
    result = made_result(FAKE)
    assert card_matches({"sha256": MODEL_SHA256}, result)
    assert not card_matches({"sha256": "0" * 64}, result)
    assert card_matches({}, result) and not card_matches(None, result)


def test_verdict_card_words_per_verdict() -> None:
    for verdict in (FAKE, UNCERTAIN, NO_SIGN, NO_FACE):
        vc = verdict_card(made_result(verdict), error_rates_card())
        assert (vc.label, vc.sentence, vc.evidence_note) == (VERDICT_LABELS[verdict], VERDICT_SENTENCES[verdict],
                                                              EVIDENCE_NOT_PROOF)
        assert vc.score_line.endswith("FAKE at ≥ 84% · NO SIGN below 40%")
    assert verdict_card(made_result(NO_FACE)).score_line.startswith("No fake score")
    assert len({verdict_card(made_result(v)).colour for v in (FAKE, UNCERTAIN, NO_SIGN, NO_FACE)}) == 4
