"""Calibrating a trained checkpoint and setting its threshold, on a split the card never reports on.

The calibration split's clips are analysed with the full inference pipeline
(``evaluate.score_items``) at every slider frame count, exactly as a user's clip
would be, so the probabilities are calibrated for what the dashboard shows.

The threshold is for the people who pay for mistakes: calling a real video FAKE
is the costly error for a journalist or a moderator, so it is set so that at
most ``MAX_REAL_CALLED_FAKE`` of the calibration split's real clips are called
FAKE, and the share of fakes caught there is recorded beside it. The card
measures both again on the test split.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..models.checkpoint import load_checkpoint, save_checkpoint
from .datasets import LabelledItem, count_by_source
from ..decision import Thresholds
from ..models.detector import Detector
from ..evaluation.evaluate import VideoScores, pool_of, score_items
from ..evaluation.metrics import fit_platt, fit_temperature, sigmoid, threshold_at_fpr
from ..evaluation.thresholds import (MAX_FAKE_CALLED_NO_SIGN, MAX_REAL_CALLED_FAKE, Pool, fit_thresholds, fit_thresholds_with_intervals,
                                     three_way_rates)

CALIBRATION_FRAMES = (10, 20, 40, 60, 80, 100)  # the slider's counts: one calibration serves them all


def logits_from(probabilities: Sequence[float]) -> np.ndarray:
    """Invert an uncalibrated checkpoint's sigmoid (clipped so that saturated scores stay finite).

    The model's logits are float32, and this inversion is off by ~1e-16: rounding to float32
    recovers each logit exactly (up to |logit| ~ 23), so the threshold is set on the very
    probabilities the calibrated detector will compute, not on ones an ulp away.
    """
    p = np.clip(np.asarray(probabilities, dtype=float), 1e-12, 1 - 1e-12)
    return (np.log(p) - np.log1p(-p)).astype(np.float32).astype(float)


def calibrate_checkpoint(path: str | os.PathLike, items: Sequence[LabelledItem],
                         frame_counts: Sequence[int] = CALIBRATION_FRAMES, refit: bool = False) -> dict:
    """Fit the clip and frame calibration and the threshold of an uncalibrated checkpoint; rewrite it.

    Args:
        path: a checkpoint saved with temperature 1, bias 0 and frame temperature 1.
        items: the calibration split (real and fake clips, identity-disjoint from training and test).
        frame_counts: the frame counts to analyse each clip at.
        refit: calibrate a calibrated checkpoint afresh (its old calibration is set aside first).

    Returns:
        The calibration record stored in the checkpoint's info.

    Raises:
        ValueError: the checkpoint is already calibrated, or the split lacks a class.
    """
    ck = load_checkpoint(path)
    if refit:
        ck.temperature, ck.bias, ck.frame_temperature, ck.threshold = 1.0, 0.0, 1.0, 0.5
    if (ck.temperature, ck.bias, ck.frame_temperature) != (1.0, 0.0, 1.0):
        raise ValueError(f"{path}: already calibrated; calibrate the uncalibrated checkpoint train_run writes")
    detector = Detector(ck, device="cpu")
    print(f"calibrating {Path(path).name} on {len(items)} clips at {list(frame_counts)} frames", flush=True)
    videos = score_items(items, frame_counts, detector)
    clip_l, clip_y, frame_l, frame_y = [], [], [], []
    for v in videos:
        for k in map(str, frame_counts):
            if v.scores.get(k) is None:
                continue
            clip_l.append(v.scores[k])
            clip_y.append(v.label == "fake")
            frame_l.extend(v.frame_scores[k])
            frame_y.extend([v.label == "fake"] * len(v.frame_scores[k]))
    clip_l, frame_l = logits_from(clip_l), logits_from(frame_l)
    clip_y, frame_y = np.array(clip_y, dtype=int), np.array(frame_y, dtype=int)
    if len(set(clip_y.tolist())) < 2:
        raise ValueError(f"{path}: the calibration split needs real and fake clips with a face; scored "
                         f"{int((clip_y == 0).sum())} real and {int((clip_y == 1).sum())} fake")
    temperature, bias = fit_platt(clip_l, clip_y)
    frame_temperature = fit_temperature(frame_l, frame_y)
    p = sigmoid(clip_l / temperature + bias)
    threshold = threshold_at_fpr(p[clip_y == 0], MAX_REAL_CALLED_FAKE)
    record = {
        "method": "clip: Platt scaling (temperature and bias); frames: temperature scaling; fitted on the "
                  "calibration split's clips analysed with the full pipeline at "
                  f"{list(frame_counts)} frames. The card's metrics come from another split, never this one",
        "split_clips": {"real": int(sum(v.label == "real" for v in videos)),
                        "fake": int(sum(v.label == "fake" for v in videos))},
        "temperature": temperature, "bias": bias, "frame_temperature": frame_temperature,
        "threshold": threshold,
        "calibration_real_called_fake": float(np.mean(p[clip_y == 0] >= threshold)),
        "calibration_fakes_caught": float(np.mean(p[clip_y == 1] >= threshold)),
    }
    info = {**ck.info, "calibration": record,
            "threshold_rule": f"at most {MAX_REAL_CALLED_FAKE:.0%} of the calibration split's real clips "
                              "(every slider frame count) called FAKE"}
    save_checkpoint(path, ck.model, ck.model_name, ck.preprocess, threshold=threshold, temperature=temperature,
                    bias=bias, frame_temperature=frame_temperature, info=info)
    print(f"  threshold {threshold:.3f}: calibration reals called FAKE "
          f"{record['calibration_real_called_fake']:.1%}, fakes caught {record['calibration_fakes_caught']:.1%}",
          flush=True)
    return record


def threshold_on_reals(path: str | os.PathLike, items: Sequence[LabelledItem], calibration: tuple[float, float, float],
                       frame_counts: Sequence[int] = CALIBRATION_FRAMES) -> dict:
    """Set the threshold of an uncalibrated checkpoint from real clips alone; keep a given calibration.

    For data with no fakes (a real-only fine-tune): Platt scaling needs both classes, so the
    probabilities keep the base model's calibration, but the threshold still follows the rule,
    at most ``MAX_REAL_CALLED_FAKE`` of the calibration split's real clips called FAKE, which
    needs only real clips.

    Args:
        path: a checkpoint saved with temperature 1, bias 0 and frame temperature 1.
        items: the calibration split's real clips (fakes among them are ignored).
        calibration: (temperature, bias, frame temperature) to keep, usually the base model's.
        frame_counts: the frame counts to analyse each clip at.

    Returns:
        The calibration record stored in the checkpoint's info.

    Raises:
        ValueError: no real clip gave a score.
    """
    ck = load_checkpoint(path)
    temperature, bias, frame_temperature = calibration
    reals = [it for it in items if it.label == 0]
    print(f"setting the threshold of {Path(path).name} on {len(reals)} real clips at {list(frame_counts)} frames",
          flush=True)
    videos = score_items(reals, frame_counts, Detector(ck, device="cpu"))
    logits = logits_from([v.scores[k] for v in videos for k in map(str, frame_counts) if v.scores.get(k) is not None])
    if len(logits) == 0:
        raise ValueError(f"{path}: no real calibration clip gave a score (no face found in any)")
    p = sigmoid(logits / temperature + bias)
    threshold = threshold_at_fpr(p, MAX_REAL_CALLED_FAKE)
    record = {
        "method": "the base model's calibration, kept (the data has no fakes to fit one on); the threshold is set "
                  f"on the calibration split's real clips analysed with the full pipeline at {list(frame_counts)} "
                  "frames",
        "split_clips": {"real": len(reals), "fake": 0},
        "temperature": temperature, "bias": bias, "frame_temperature": frame_temperature,
        "threshold": threshold,
        "calibration_real_called_fake": float(np.mean(p >= threshold)),
        "calibration_fakes_caught": None,
    }
    info = {**ck.info, "calibration": record,
            "threshold_rule": f"at most {MAX_REAL_CALLED_FAKE:.0%} of the calibration split's real clips "
                              "(every slider frame count) called FAKE"}
    save_checkpoint(path, ck.model, ck.model_name, ck.preprocess, threshold=threshold, temperature=temperature,
                    bias=bias, frame_temperature=frame_temperature, info=info)
    print(f"  threshold {threshold:.3f}: calibration reals called FAKE {record['calibration_real_called_fake']:.1%}",
          flush=True)
    return record


# --------------------------------------------------------------------------- three outcomes, on a world-like pool

POOL_FRAMES = (10, 20, 40, 100)  # the slider's range, ends and middle: one calibration serves every count
REPORT_FRAMES = "20"  # the dashboard's default: the rates the card and the dashboard quote
# Left-out checks: calibrate without a source, report the rates on it (does the rule transfer?).
LEFT_OUT = {
    "dfdc": lambda v, dom: dom == "dfdc",
    "ffpp/Deepfakes": lambda v, dom: v.source == "ffpp/Deepfakes",
    "talking_heads/DeepFaceLive": lambda v, dom: v.source == "talking_heads/DeepFaceLive",
}


@dataclass
class ScoredPool:
    """A pool's clips scored by an uncalibrated detector, with the domain each counts in."""

    videos: list[VideoScores]
    domains: list[str]  # per video

    def domain_of(self) -> Callable[[VideoScores], str]:
        by_path = {v.path: d for v, d in zip(self.videos, self.domains)}
        return lambda v: by_path[v.path]

    def subset(self, keep: Callable[[VideoScores, str], bool]) -> "ScoredPool":
        pairs = [(v, d) for v, d in zip(self.videos, self.domains) if keep(v, d)]
        return ScoredPool([v for v, _ in pairs], [d for _, d in pairs])


def score_pool(items: dict[str, list[LabelledItem]], detector: Detector,
               frame_counts: Sequence[int] = POOL_FRAMES, cache_dir: str | os.PathLike | None = None) -> ScoredPool:
    """Analyse every pool item with the full pipeline at each frame count (decoding each clip once).

    Args:
        cache_dir: keep the raw scores there, keyed by the model's weights, the items and the frame counts, so a
            refit (another rule, another left-out check) needs no second analysis. None: no cache.
    """
    videos, domains = [], []
    for dom, its in items.items():
        cache = _cache_file(cache_dir, detector, dom, its, frame_counts) if cache_dir else None
        if cache is not None and cache.is_file():
            scored = [VideoScores(**v) for v in json.loads(cache.read_text())]
        else:
            print(f"  scoring {dom}: {len(its)} items", flush=True)
            scored = score_items(its, frame_counts, detector, reuse_decoding=True)
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps([asdict(v) for v in scored]))
        videos += scored
        domains += [dom] * len(its)
    return ScoredPool(videos, domains)


def _cache_file(cache_dir: str | os.PathLike, detector: Detector, domain: str, items: list[LabelledItem],
                frame_counts: Sequence[int]) -> Path:
    """One domain's cache: keyed by the model's weights (not the file: calibration rewrites it), the items and
    the frame counts."""
    h = hashlib.sha256()
    for name, t in sorted(detector.model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps([domain, [str(it.path) for it in items], list(frame_counts)]).encode())
    return Path(cache_dir) / f"pool_scores_{domain}_{h.hexdigest()[:16]}.json"


@dataclass(frozen=True)
class Calibration:
    temperature: float  # clips: p = sigmoid(logit / temperature + bias)
    bias: float
    frame_temperature: float  # frames: p = sigmoid(logit / frame_temperature)
    image_temperature: float  # still images (one face crop): their own Platt scaling...
    image_bias: float
    video: Thresholds  # ...and their own thresholds
    image: Thresholds

    def clip_probability(self, raw: float, is_image: bool = False) -> float:
        t, b = (self.image_temperature, self.image_bias) if is_image else (self.temperature, self.bias)
        return float(sigmoid(logits_from([raw])[0] / t + b))


def fit_calibration(pool: ScoredPool, frame_counts: Sequence[int], image_domains: Collection[str],
                    intervals: bool = True) -> Calibration:
    """Platt scaling and thresholds for clips (the pool's video domains weighted equally) and, on
    ``image_domains``, for still images: one face crop scores on another scale than a clip's frames together.

    Without an image domain in the pool, still images get the clips' calibration and thresholds.

    Raises:
        ValueError: the pool lacks real or fake clips with a face.
    """
    videos = pool.subset(lambda v, d: d not in image_domains)
    temperature, bias = _platt(videos, frame_counts)
    frows = [(p, v.label == "fake", d) for v, d in zip(pool.videos, pool.domains) for k in map(str, frame_counts)
             for p in v.frame_scores.get(k, [])]
    fraw, fy, fdom = (np.array(c) for c in zip(*frows))
    frame_temperature = fit_temperature(logits_from(fraw), fy.astype(int), weights=_equal_domains(fdom))
    fit = fit_thresholds_with_intervals if intervals else fit_thresholds
    cal = lambda t, b: lambda v, k: float(sigmoid(logits_from([v.scores[k]])[0] / t + b))  # noqa: E731
    video = fit(pool_of(videos.videos, frame_counts, videos.domain_of(), cal(temperature, bias)))
    images = pool.subset(lambda v, d: d in image_domains)
    if not images.videos:
        return Calibration(temperature, bias, frame_temperature, temperature, bias, video, video)
    image_t, image_b = _platt(images, frame_counts[:1])
    image = fit(pool_of(images.videos, frame_counts[:1], images.domain_of(), cal(image_t, image_b)))
    return Calibration(temperature, bias, frame_temperature, image_t, image_b, video, image)


def _platt(pool: ScoredPool, frame_counts: Sequence[int]) -> tuple[float, float]:
    rows = [(v.scores[k], v.label == "fake", d) for v, d in zip(pool.videos, pool.domains)
            for k in map(str, frame_counts) if v.scores.get(k) is not None]
    if not rows:
        raise ValueError("no pool item gave a score (no face found in any)")
    raw, y, dom = (np.array(c) for c in zip(*rows))
    return fit_platt(logits_from(raw), y.astype(int), weights=_equal_domains(dom))


def _equal_domains(domains: np.ndarray) -> np.ndarray:
    """Per-row weights giving every domain the same total."""
    names, inverse, sizes = np.unique(domains, return_inverse=True, return_counts=True)
    return 1.0 / (sizes[inverse.ravel()] * len(names))


def calibrated_pool(pool: ScoredPool, cal: Calibration, frame_counts: Sequence[int],
                    image_domains: Collection[str]) -> Pool:
    """The pool's calibrated scores (items of ``image_domains`` with the still images' own calibration)."""
    domain_of = pool.domain_of()
    return pool_of(pool.videos, frame_counts, domain_of,
                   lambda v, k: cal.clip_probability(v.scores[k], domain_of(v) in image_domains))


def report_count(frame_counts: Sequence[int]) -> str:
    """The frame count whose rates are reported: the dashboard's default, or the nearest one analysed."""
    return str(min(frame_counts, key=lambda k: abs(k - int(REPORT_FRAMES))))


def left_out_checks(pool: ScoredPool, frame_counts: Sequence[int], image_domains: Collection[str]) -> dict:
    """For each left-out source: calibrate without it, and give its reals' and fakes' three-way rates at 20 frames.

    A left-out still-image source is judged by the still-image rule that the other image domains set.
    """
    out = {}
    for name, is_out in LEFT_OUT.items():
        held, rest = pool.subset(is_out), pool.subset(lambda v, d: not is_out(v, d))
        if not held.videos or not rest.videos:
            continue
        cal = fit_calibration(rest, frame_counts, image_domains, intervals=False)
        images_held = set(held.domains) <= set(image_domains)
        t = cal.image if images_held else cal.video
        scored = calibrated_pool(held, cal, [report_count(frame_counts)], image_domains)
        out[name] = {"thresholds_without_it": t.to_dict(),
                     "rates_on_it": three_way_rates(scored, t) if len(scored.scores) else None}
    return out


def _score_lists(pool: ScoredPool, cal: Calibration, frame_counts: Sequence[int], is_image: bool) -> dict:
    """Calibrated scores per domain and label (all frame counts pooled), rounded: for the rarity of a score."""
    out: dict[str, dict[str, list[float]]] = {}
    for v, d in zip(pool.videos, pool.domains):
        for k in map(str, frame_counts):
            if v.scores.get(k) is not None:
                p = round(cal.clip_probability(v.scores[k], is_image), 4)
                out.setdefault(d, {}).setdefault(v.label, []).append(p)
    return {d: {lab: sorted(s) for lab, s in by.items()} for d, by in out.items()}


def calibrate_on_pool(path: str | os.PathLike, items: dict[str, list[LabelledItem]], image_domains: Collection[str],
                      frame_counts: Sequence[int] = POOL_FRAMES, cache_dir: str | os.PathLike | None = None) -> dict:
    """Recalibrate a checkpoint for three outcomes on a pool of domains weighted equally; rewrite it.

    Any earlier calibration is set aside first: the scores are the model's own. Clip probabilities get Platt
    scaling and frames temperature scaling, both with the domains weighted equally; then ``t_fake`` (at most 5%
    of the pool's reals called FAKE) and ``t_no_sign`` (at most 10% of its fakes below it), with bootstrap
    intervals, for videos and (on ``image_domains``) for still images. The checkpoint keeps the pool's score
    distributions, so each verdict can say how rare its score is, and the left-out-source checks.

    Args:
        path: the checkpoint (rewritten in place; its sha256 changes: update the manifest, card and goldens).
        items: {domain: items}, e.g. from :func:`dfcore.training.calibration_pool.pool_items`.
        image_domains: the domains of single face images that set the still-image calibration and thresholds
            (none: still images get the clips').
        frame_counts: the frame counts each clip is analysed at.
        cache_dir: where the raw scores are kept for a refit (see :func:`score_pool`); None: not kept.

    Returns:
        The decision record stored in the checkpoint's ``info["decision"]``.

    Raises:
        ValueError: the pool lacks real or fake items with a face.
    """
    ck = load_checkpoint(path)
    ck.temperature, ck.bias, ck.frame_temperature, ck.threshold = 1.0, 0.0, 1.0, 0.5
    ck.info = {k: v for k, v in ck.info.items() if k != "decision"}  # the raw scores: no rule of the old calibration
    detector = Detector(ck, device="cpu")
    print(f"calibrating {Path(path).name} on {sum(map(len, items.values()))} items in {len(items)} domains "
          f"at {list(frame_counts)} frames", flush=True)
    pool = score_pool(items, detector, frame_counts, cache_dir)
    cal = fit_calibration(pool, frame_counts, image_domains)
    at = [report_count(frame_counts)]
    videos, images = pool.subset(lambda v, d: d not in image_domains), pool.subset(lambda v, d: d in image_domains)
    record = {
        "rule": (f"t_fake: at most {MAX_REAL_CALLED_FAKE:.0%} of the calibration pool's real clips called FAKE; "
                 f"t_no_sign: at most {MAX_FAKE_CALLED_NO_SIGN:.0%} of its fakes below it; the pool's video domains "
                 f"({', '.join(d for d in items if d not in image_domains)}) weighted equally, every clip at "
                 f"{list(frame_counts)} frames; still images: their own calibration and the same rule on "
                 f"{', '.join(d for d in items if d in image_domains) or 'the clips'}, weighted equally"),
        "video": cal.video.to_dict(),
        "image": cal.image.to_dict(),
        "image_calibration": {"temperature": cal.image_temperature, "bias": cal.image_bias},
        "video_scores": _score_lists(videos, cal, frame_counts, False),
        "image_scores": _score_lists(images, cal, frame_counts[:1], True) if images.videos else None,
        "pool": {d: count_by_source(its) for d, its in items.items()},
        "n_no_face": sum(1 for v in pool.videos if v.error is None and not any(s is not None for s in v.scores.values())),
        "n_errors": sum(1 for v in pool.videos if v.error is not None),
        "rates_frames": int(at[0]),
        "calibration_rates": three_way_rates(calibrated_pool(videos, cal, at, ()), cal.video),
        "calibration_rates_images": three_way_rates(calibrated_pool(images, cal, at, image_domains), cal.image)
        if images.videos else None,
        "left_out": left_out_checks(pool, frame_counts, image_domains),
    }
    info = {**ck.info, "decision": record,
            "calibration": {"method": "clip: Platt scaling; frames: temperature scaling; domains weighted equally",
                            "temperature": cal.temperature, "bias": cal.bias,
                            "frame_temperature": cal.frame_temperature, "threshold": cal.video.fake,
                            "pool_frames": list(frame_counts)},
            "threshold_rule": record["rule"]}
    save_checkpoint(path, ck.model, ck.model_name, ck.preprocess, threshold=cal.video.fake,
                    temperature=cal.temperature, bias=cal.bias, frame_temperature=cal.frame_temperature, info=info)
    v, i = cal.video, cal.image
    print(f"  video: FAKE at >= {v.fake:.3f} {v.fake_interval}, NO SIGN below {v.no_sign:.3f} {v.no_sign_interval}"
          f"{' (crossed: no band)' if v.crossed else ''}; image: {i.fake:.3f} / {i.no_sign:.3f}", flush=True)
    return record
