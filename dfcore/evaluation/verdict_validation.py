"""The verdicts measured on the validation pool: what a model card and the dashboard quote beside a verdict.

The validation pool mirrors the calibration pool (:mod:`dfcore.training.sources.calibration_pool`) on the test splits:
FF++ clips, talking-head clips, those clips web-degraded (the video rule, the three domains weighted equally) and
DFDC face crops and stills cut from the test clips (the still-image rule, the two weighted equally). Nothing in it
was trained, calibrated or selected on.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..decision import FAKE, NO_SIGN, DecisionRule
from .evaluate import VideoScores, three_way_by_source

REPORT_FRAMES = "20"  # the dashboard's default frame count: the rates quoted beside a verdict


def report_count(frame_counts: Sequence[int]) -> str:
    """The frame count whose rates are reported: the dashboard's default, or the nearest one analysed."""
    return str(min(frame_counts, key=lambda k: abs(k - int(REPORT_FRAMES))))


def verdict_validation(videos: dict[str, Sequence[VideoScores]], images: dict[str, Sequence[VideoScores]],
                       rule: DecisionRule, frame_counts: Sequence[int]) -> dict:
    """Three-way rates on the validation pool, per frame count (overall) and at 20 frames (per source).

    Args:
        videos: {domain: scored clips} of the video domains (weighted equally in "all").
        images: {domain: scored still images} (stills of clips, DFDC crops), photos judged with the photos'
            thresholds and small face crops with the crops' (each kind's domains weighted equally in its "all").
        rule: the model's decision rule.
        frame_counts: the counts the clips were scored at.

    Returns:
        ``{"frames": "20" (or the count nearest it), "by_frames": {k: overall rates}, "by_source": {source: rates} (at 20 frames, with
        "all"), "images": {source: rates}, "domains": [...]}``.
    """
    domain = {id(v): d for by in (videos, images) for d, vs in by.items() for v in vs}
    union = [v for vs in videos.values() for v in vs]
    photos = [v for vs in images.values() for v in vs if not v.is_crop]
    crops = [v for vs in images.values() for v in vs if v.is_crop]
    of = lambda v: domain[id(v)]  # noqa: E731
    by_frames = {str(k): three_way_by_source(union, str(k), rule.video, of).get("all") for k in frame_counts}
    at = report_count(frame_counts)
    return {
        "frames": at,
        "domains": list(videos),
        "thresholds": {"video": rule.video.to_dict(), "image": rule.image.to_dict(),
                       "crop": rule.thresholds(True, True).to_dict()},
        "by_frames": by_frames,
        "by_source": three_way_by_source(union, at, rule.video, of),
        "image_domains": list(images),
        "images": three_way_by_source(photos, "1", rule.image, of) if photos else {},
        "crops": three_way_by_source(crops, "1", rule.thresholds(True, True), of) if crops else {},
    }


def error_rates(validation: dict) -> dict | None:
    """The headline rates at the shipped thresholds (reals called FAKE, fakes called NO SIGN, fakes called FAKE)."""
    overall = (validation.get("by_source") or {}).get("all")
    if not overall or not overall.get("real") or not overall.get("fake"):
        return None
    real, fake = overall["real"], overall["fake"]
    return {
        "frames": int(validation["frames"]),
        "false_alarm": real[FAKE]["rate"], "false_alarm_ci": real[FAKE]["ci"],
        "miss": fake[NO_SIGN]["rate"], "miss_ci": fake[NO_SIGN]["ci"],
        "fakes_called_fake": fake[FAKE]["rate"], "fakes_called_fake_ci": fake[FAKE]["ci"],
        "n_real": real["n"], "n_fake": fake["n"],
        "where": (f"the validation pool ({', '.join(validation['domains'])}, weighted equally; test splits never "
                  f"trained, calibrated or selected on) at {validation['frames']} frames"),
    }
