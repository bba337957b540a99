"""The words and colour of a verdict, as every surface shows them (the dashboard's verdict card, the HTML report).

One function builds them from an :class:`~dfcore.analyze.AnalysisResult` (and the model's card, for its measured
error rates), so the app and a saved report can never word a verdict differently. Every probability and threshold
is in one unit, percent (:func:`dfcore.decision.percent`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analyze import AnalysisResult
from ..decision import (
    EVIDENCE_NOT_PROOF,
    FAKE,
    NO_FACE,
    NO_SIGN,
    UNCERTAIN,
    VERDICT_LABELS,
    VERDICT_SENTENCES,
    percent,
)
from .figures import FAKE_COLOUR, NEUTRAL_COLOUR, NO_SIGN_COLOUR, UNCERTAIN_COLOUR

VERDICT_COLOURS = {FAKE: FAKE_COLOUR, UNCERTAIN: UNCERTAIN_COLOUR, NO_SIGN: NO_SIGN_COLOUR, NO_FACE: NEUTRAL_COLOUR}
# What a Grad-CAM map shows: the maps always explain the fake score (dfcore.models.explain), whatever the verdict.
GRADCAM_NOTE = ("Red: the regions that raised the fake score most. A heat map shows where the model looked, "
                "not proof of manipulation.")


@dataclass(frozen=True)
class VerdictCard:
    """Everything the verdict card says, in display order."""

    verdict: str  # the machine name (dfcore.decision.VERDICTS)
    label: str  # its display label ("NO SIGN FOUND")
    colour: str  # "#rrggbb": red FAKE, amber UNCERTAIN, green NO_SIGN, grey NO_FACE
    sentence: str  # the verdict's one plain sentence (NO_SIGN's says it is not proof of authenticity)
    score_line: str  # "Fake score 63% · FAKE at ≥ 84% · NO SIGN below 40%"
    reasons: list[str] = field(default_factory=list)  # UNCERTAIN's reasons, one plain sentence each
    rarity: str | None = None  # how rare the score is in the calibration pool; None: not known
    error_rates: str | None = None  # the model's measured false alarms and misses; None: its card has none
    evidence_note: str = EVIDENCE_NOT_PROOF  # shown beside the label


def verdict_label(result: AnalysisResult) -> str:
    """The verdict's display label ("FAKE", "UNCERTAIN", "NO SIGN FOUND", "NO FACE")."""
    return VERDICT_LABELS[result.verdict]


def thresholds_line(t_fake: float, t_no_sign: float) -> str:
    """Both thresholds in percent: "FAKE at ≥ 84% · NO SIGN below 40%"."""
    return f"FAKE at ≥ {percent(t_fake)} · NO SIGN below {percent(t_no_sign)}"


def score_line(result: AnalysisResult) -> str:
    """The clip's fake score and both thresholds in one unit: "Fake score 63% · FAKE at ≥ 84% · NO SIGN below 40%"."""
    score = "No fake score (no face)" if result.fake_probability is None \
        else f"Fake score {percent(result.fake_probability)}"
    return f"{score} · {thresholds_line(result.threshold, result.t_no_sign)}"


def error_rates_sentence(card: dict | None, *, is_image: bool = False) -> str | None:
    """The model's measured error rates at its shipped thresholds, from its card's ``error_rates``, in words.

    "On our validation clips at 20 frames this model called 3% of real videos FAKE (false alarms) and let 9% of
    fakes through as NO SIGN FOUND (misses)."

    Args:
        card: the model's card (``dfcore.models.model_registry.read_card``); None: no card.
        is_image: the rates were measured on videos; a still image gets none (they do not describe it).

    Returns:
        The sentence; None when the card does not record the rates (cards written before them) or for an image.
    """
    rates = (card or {}).get("error_rates")
    if is_image or not isinstance(rates, dict):
        return None
    false_alarm, miss = rates.get("false_alarm"), rates.get("miss")
    if not isinstance(false_alarm, (int, float)) or not isinstance(miss, (int, float)):
        return None
    where = rates.get("where") or "our validation clips"
    frames = f" at {rates['frames']} frames" if rates.get("frames") and " frames" not in where else ""
    counts = ""
    if rates.get("n_real") and rates.get("n_fake"):
        counts = f" ({rates['n_real']} real, {rates['n_fake']} fake videos)"
    return (f"On {where}{frames}{counts} this model called {percent(false_alarm)}{_interval(rates, 'false_alarm')} "
            f"of real videos FAKE (false alarms) and let {percent(miss)}{_interval(rates, 'miss')} of fakes through "
            f"as {VERDICT_LABELS[NO_SIGN]} (misses).")


def verdict_card(result: AnalysisResult, card: dict | None = None) -> VerdictCard:
    """What the verdict card says about ``result``.

    Args:
        result: the analysis.
        card: the analysing model's card, for its measured error rates (None: none shown). Pass only the card
            of the model that made ``result`` (see :func:`card_matches`).
    """
    v = result.verdict
    return VerdictCard(
        verdict=v, label=VERDICT_LABELS[v], colour=VERDICT_COLOURS[v], sentence=VERDICT_SENTENCES[v],
        score_line=score_line(result), reasons=list(result.reason_sentences) if v == UNCERTAIN else [],
        rarity=result.rarity,
        # Nothing was judged without a face: the model's error rates say nothing about this result.
        error_rates=None if v == NO_FACE else error_rates_sentence(card, is_image=result.is_image),
    )


def card_matches(card: dict | None, result: AnalysisResult) -> bool:
    """Whether ``card`` describes the checkpoint that made ``result`` (a card that records no sha256 is trusted)."""
    if card is None:
        return False
    sha = card.get("sha256")
    return not sha or sha == result.model_sha256


def _interval(rates: dict, key: str) -> str:
    ci = rates.get(f"{key}_ci")
    if not (isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(x, (int, float)) for x in ci)):
        return ""
    return f" (95% interval {percent(ci[0])}–{percent(ci[1])})"


__all__ = ["VERDICT_COLOURS", "GRADCAM_NOTE", "VerdictCard", "verdict_label", "thresholds_line", "score_line",
           "error_rates_sentence", "verdict_card", "card_matches"]
