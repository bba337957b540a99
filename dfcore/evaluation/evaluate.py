"""Measuring the detector: accuracy and speed against the number of frames analysed.

Each clip is analysed with the full inference pipeline (``analyze_video``) once
per frame count, so the reported seconds per video are what a user waits and
the scores are what a user sees. Clips in which no face is found are counted
per frame count (``n_no_face``) and left out of the score metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..analyze import AnalysisResult, analyze_video, prepare_clip, score_clip
from ..decision import Thresholds
from ..media.clip_memory import ClipMemory
from ..training.sources.items import LabelledItem
from ..models.detector import Detector
from ..errors import DfcoreError
from .metrics import auc_change_interval, auc_interval, expected_calibration_error, reliability_table, summarize
from .thresholds import OUTCOMES, Pool, three_way_rates
from ..media.video_io import is_image

DEFAULT_FRAME_COUNTS = (10, 20, 40, 60, 80, 100)


@dataclass
class VideoScores:
    path: str  # the clip
    label: str  # "real" or "fake"
    scores: dict[str, float | None]  # frame count -> clip fake probability (None: no face)
    frame_scores: dict[str, list[float]]  # frame count -> per-frame probabilities of frames with a face
    seconds: dict[str, float]  # frame count -> analysis time
    error: str | None = None  # why the clip could not be analysed at all
    source: str = ""  # the item's source (e.g. "ffpp/Deepfakes", "talking_heads/MEAD"): rates are given per source
    verdicts: dict[str, str] = field(default_factory=dict)  # frame count -> the verdict the user was shown
    thin: dict[str, bool] = field(default_factory=dict)  # frame count -> too little evidence (UNCERTAIN whatever the score)
    is_image: bool = False  # a still image (judged with the single-frame thresholds)
    is_crop: bool = False  # a still image small enough to be a face crop (judged with the crops' thresholds)


def score_items(
    items: Sequence[LabelledItem],
    frame_counts: Sequence[int],
    detector: Detector,
    progress: Callable[[int, int, str], None] | None = None,
    reuse_decoding: bool = False,
) -> list[VideoScores]:
    """Analyse every item at every frame count.

    A still image is one frame whatever the count, so it is analysed once and
    that result stands for every count.

    Args:
        reuse_decoding: decode each clip once (at the most frames) and keep its frames and faces for the
            other counts, as the dashboard's slider does: the same scores, far faster, but the seconds
            are no longer what a user waits for a first analysis (calibration sets this; the cards do not).
    """
    out = []
    for n, it in enumerate(items):
        image = is_image(it.path)
        vs = VideoScores(str(it.path), "fake" if it.label else "real", {}, {}, {}, source=it.source, is_image=image)
        counts = frame_counts[:1] if image else frame_counts
        memory = ClipMemory() if reuse_decoding else None
        try:
            for k in counts:
                t = time.perf_counter()
                if memory is None:
                    r = analyze_video(it.path, k, detector=detector)
                else:
                    r = score_clip(prepare_clip(it.path, k, memory=memory, prefetch=max(counts)), detector)
                vs.seconds[str(k)] = time.perf_counter() - t
                _record(vs, str(k), r)
        except DfcoreError as e:
            vs.error = e.message
        for k in frame_counts:  # images: the one analysis stands for every count
            key, first = str(k), str(counts[0])
            if key not in vs.scores and first in vs.scores:
                for d in (vs.scores, vs.frame_scores, vs.seconds, vs.verdicts, vs.thin):
                    d[key] = d[first]
        out.append(vs)
        if progress:
            progress(n + 1, len(items), str(it.path))
    return out


def _record(vs: VideoScores, k: str, r: AnalysisResult) -> None:
    vs.scores[k] = r.fake_probability
    vs.frame_scores[k] = [f.fake_probability for f in r.frames if f.fake_probability is not None]
    vs.verdicts[k] = r.verdict
    vs.is_crop = r.is_crop
    vs.thin[k] = bool(r.decision and any(x != "between_thresholds" for x in r.decision.reasons))


def pool_of(videos: Sequence[VideoScores], frame_counts: Sequence[int], domain_of: Callable[[VideoScores], str],
            score_of: Callable[[VideoScores, str], float | None] | None = None) -> Pool:
    """The scored clips as a :class:`~dfcore.evaluation.thresholds.Pool`: one row per clip and frame count.

    Args:
        domain_of: the domain a clip counts in (domains weigh equally).
        score_of: the score to use (default: the calibrated probability the detector gave).
    """
    score_of = score_of or (lambda v, k: v.scores.get(k))
    rows = [(score_of(v, k), v.label == "fake", domain_of(v), i, v.thin.get(k, False))
            for i, v in enumerate(videos) for k in map(str, frame_counts) if v.scores.get(k) is not None]
    s, y, d, g, thin = zip(*rows) if rows else ((), (), (), (), ())
    return Pool(np.array(s, float), np.array(y, int), np.array(d, dtype=object), np.array(g, int),
                np.array(thin, bool))


def three_way_by_source(videos: Sequence[VideoScores], k: str, t: Thresholds,
                        domain_of: Callable[[VideoScores], str] | None = None) -> dict:
    """Reals and fakes called FAKE / UNCERTAIN / NO_SIGN at frame count ``k``: over all and per source, with 95%
    intervals; the verdicts are recomputed from the scores and the evidence under ``t``, exactly as
    :func:`dfcore.decision.verdict_from` gives them. "all" weighs the domains that ``domain_of`` names
    equally (default: each source)."""
    pool = pool_of(videos, [k], lambda v: v.source or "all")
    if not len(pool.scores):
        return {}
    overall = pool_of(videos, [k], domain_of) if domain_of else pool
    out = {"all": three_way_rates(overall, t)}
    for src in sorted(set(pool.domains.tolist())):
        out[src] = three_way_rates(pool.where(pool.domains == src), t)
    return out


def summarize_by_frames(videos: Sequence[VideoScores], frame_counts: Sequence[int], threshold: float) -> dict:
    """Per frame count: AUC with its 95% bootstrap interval, accuracy, EER, log-loss, calibration, speed, counts."""
    by = {}
    for k in map(str, frame_counts):
        scored = [v for v in videos if v.scores.get(k) is not None]
        y = np.array([v.label == "fake" for v in scored], dtype=int)
        p = np.array([v.scores[k] for v in scored], dtype=float)
        fy = np.concatenate([[v.label == "fake"] * len(v.frame_scores[k]) for v in scored]).astype(int) if scored else np.zeros(0, int)
        fp = np.concatenate([v.frame_scores[k] for v in scored]).astype(float) if scored else np.zeros(0)
        clip_of_frame = np.repeat(np.arange(len(scored)), [len(v.frame_scores[k]) for v in scored])
        m = summarize(y, p, threshold) if len(scored) else {}
        # 95% intervals by a stratified bootstrap over clips: the clip is the independent unit, so the frame
        # AUC's interval resamples whole clips too (a clip's frames are not independent evidence).
        ci_low, ci_high = auc_interval(y, p) if len(scored) else (None, None)
        frame_ci_low, frame_ci_high = auc_interval(fy, fp, groups=clip_of_frame) if len(fp) else (None, None)
        secs = [v.seconds[k] for v in videos if k in v.seconds]
        by[k] = {
            "auc": m.get("auc"), "auc_ci_low": ci_low, "auc_ci_high": ci_high,
            "accuracy": m.get("accuracy"), "eer": m.get("eer"), "log_loss": m.get("log_loss"),
            "ece": expected_calibration_error(y, p) if len(scored) else None,
            "frame_auc": summarize(fy, fp, threshold)["auc"] if len(fp) else None,
            "frame_auc_ci_low": frame_ci_low, "frame_auc_ci_high": frame_ci_high,
            # The two rates at the shipped threshold: reals called FAKE (the costly error) and fakes caught.
            "real_called_fake": float(np.mean(p[y == 0] >= threshold)) if (y == 0).any() else None,
            "fakes_caught": float(np.mean(p[y == 1] >= threshold)) if (y == 1).any() else None,
            "seconds_per_video": float(np.mean(secs)) if secs else None,
            "n_videos": len(videos), "n_scored": len(scored),
            "n_no_face": sum(1 for v in videos if v.error is None and v.scores.get(k) is None),
            "n_errors": sum(1 for v in videos if v.error is not None),
            "reliability": reliability_table(y, p) if len(scored) else [],
        }
    return _finite(by)


def auc_change_with_frames(videos: Sequence[VideoScores], frame_counts: Sequence[int]) -> dict | None:
    """Does the AUC fall as more frames are analysed? The change from the fewest to the most frames, with a
    paired bootstrap interval over the clips scored at both.

    Returns:
        ``{"from_frames", "to_frames", "change", "ci_low", "ci_high", "n_scored", "falls_beyond_noise"}``
        (it falls beyond noise when the whole interval is below zero); None with fewer than two frame
        counts or without a real and a fake clip scored at both.
    """
    first, last = str(min(frame_counts)), str(max(frame_counts))
    both = [v for v in videos if v.scores.get(first) is not None and v.scores.get(last) is not None]
    y = np.array([v.label == "fake" for v in both], dtype=int)
    if first == last or not (y == 0).any() or not (y == 1).any():
        return None
    change, low, high = auc_change_interval(y, [v.scores[first] for v in both], [v.scores[last] for v in both])
    return {"from_frames": int(first), "to_frames": int(last), "change": change, "ci_low": low, "ci_high": high,
            "n_scored": len(both), "falls_beyond_noise": bool(high < 0)}


def auc_change_sentence(change: dict | None) -> str | None:
    """Whether the AUC falls as frames rise, in words, from a card's ``auc_change`` (None: the card has none)."""
    if not change:
        return None
    verdict = "it falls beyond noise" if change["falls_beyond_noise"] else "no fall beyond noise"
    return (f"AUC from {change['from_frames']} to {change['to_frames']} frames: {change['change']:+.3f} "
            f"(95% interval {change['ci_low']:+.3f} to {change['ci_high']:+.3f}, a paired bootstrap over the "
            f"{change['n_scored']} clips scored at both): {verdict}.")


def evaluate(items: Sequence[LabelledItem], frame_counts: Sequence[int], detector: Detector,
             progress: Callable[[int, int, str], None] | None = None, reuse_decoding: bool = False) -> dict:
    """Score ``items`` and summarise: the JSON that ``python -m dfcore evaluate`` writes.

    Args:
        items: labelled clips or images.
        frame_counts: frame counts to evaluate at, e.g. (10, 20, 40, 60, 80, 100).
        detector: the loaded detector.
        progress: called as ``progress(done, total, path)`` after each item.
        reuse_decoding: see :func:`score_items` (faster; the seconds then are not a first analysis's).

    Returns:
        ``{"by_frames": {n: metrics}, "three_way": {n: rates per source}, "auc_change": see
        :func:`auc_change_with_frames`, "videos": [...], "model": {...}, "threshold": t_fake, "t_no_sign": t}``.
        Still images are judged with the model's single-frame thresholds, clips with its video thresholds.
    """
    return report_of(score_items(items, frame_counts, detector, progress, reuse_decoding), frame_counts, detector)


def report_of(videos: Sequence[VideoScores], frame_counts: Sequence[int], detector: Detector) -> dict:
    """:func:`evaluate`'s report from clips already scored."""
    t = thresholds_for(videos, detector)
    return {
        "by_frames": summarize_by_frames(videos, frame_counts, t.fake),
        "three_way": {str(k): three_way_by_source(videos, str(k), t) for k in frame_counts},
        "auc_change": auc_change_with_frames(videos, frame_counts),
        "videos": [
            {"path": v.path, "label": v.label, "source": v.source, "scores": v.scores, "verdicts": v.verdicts,
             "error": v.error} for v in videos
        ],
        "threshold": t.fake,
        "t_no_sign": t.no_sign,
        "model": {"name": detector.name, "sha256": detector.sha256},
    }


def thresholds_for(videos: Sequence[VideoScores], detector: Detector) -> Thresholds:
    """The model's thresholds for these items: still images' when every item is one (face crops' when every one is
    a small crop), else the clips'."""
    images = bool(videos) and all(v.is_image for v in videos)
    return detector.rule.thresholds(images, images and all(v.is_crop for v in videos))


def format_table(report: dict) -> str:
    """The printed summary: one row per frame count."""
    cols = ("auc", "auc_95%_interval", "accuracy", "eer", "log_loss", "ece", "frame_auc", "seconds_per_video",
            "n_scored", "n_no_face")
    head = f"{'frames':>6} " + " ".join(f"{c:>17}" for c in cols)
    rows = [head, "-" * len(head)]
    for k, m in report["by_frames"].items():
        low, high = m.get("auc_ci_low"), m.get("auc_ci_high")
        values = {**m, "auc_95%_interval": None if low is None or high is None else f"{low:.3f}–{high:.3f}"}
        cells = [f"{'-':>17}" if v is None else f"{v:>17d}" if isinstance(v, int) else
                 f"{v:>17}" if isinstance(v, str) else f"{v:>17.4f}" for v in map(values.get, cols)]
        rows.append(f"{k:>6} " + " ".join(cells))
    trend = auc_change_sentence(report.get("auc_change"))
    return "\n".join(rows + ([trend] if trend else []) + three_way_table(report.get("three_way") or {}))


def three_way_table(three_way: dict) -> list[str]:
    """The printed verdict rates: reals and fakes called FAKE / UNCERTAIN / NO SIGN, per frame count and source."""
    if not three_way:
        return []
    head = f"{'frames':>6} {'source':<32} {'n real':>6} {'real: FAKE / UNCERTAIN / NO SIGN':>34} " \
           f"{'n fake':>6} {'fake: FAKE / UNCERTAIN / NO SIGN':>34}"
    rows = ["", "verdicts (share of reals and of fakes; \"all\" weighs the sources equally)", head, "-" * len(head)]
    for k, by_source in three_way.items():
        for src, rates in by_source.items():
            cells = []
            for lab in ("real", "fake"):
                r = rates.get(lab)
                cells += [f"{r['n']:>6}" if r else f"{'-':>6}",
                          f"{' / '.join(format(r[o]['rate'], '.0%') for o in OUTCOMES) if r else '-':>34}"]
            rows.append(f"{k:>6} {src:<32} " + " ".join(cells))
    return rows


def _finite(obj: object) -> object:
    """NaN (e.g. AUC with one class) is not valid JSON: report it as null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
