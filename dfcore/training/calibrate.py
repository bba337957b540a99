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
from .sources.identity_split import count_by_source
from .sources.items import LabelledItem
from ..decision import Thresholds
from ..models.detector import Detector
from ..evaluation.evaluate import VideoScores, pool_of, score_items
from ..evaluation.metrics import fit_platt, fit_temperature, sigmoid, threshold_at_fpr
from ..evaluation.verdict_validation import report_count
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
    """Platt scaling and thresholds per kind of input: "video" (clips), "image" (photos), "crop" (small face crops)."""

    platt: dict[str, tuple[float, float]]  # kind -> (temperature, bias): p = sigmoid(logit / temperature + bias)
    frame_temperature: float  # frames: p = sigmoid(logit / frame_temperature)
    thresholds: dict[str, Thresholds]  # kind -> its two thresholds

    def clip_probability(self, raw: float, kind: str = "video") -> float:
        t, b = self.platt.get(kind, self.platt["video"])
        return float(sigmoid(logits_from([raw])[0] / t + b))

    @property
    def video(self) -> Thresholds:
        return self.thresholds["video"]

    @property
    def image(self) -> Thresholds:
        return self.thresholds.get("image", self.video)


def kind_of(v: VideoScores, domain: str, image_domains: Collection[str]) -> str:
    """"video" for a clip, "crop" for a still image that is a tight face crop, else "image" (a photo)."""
    if domain not in image_domains:
        return "video"
    return "crop" if v.is_crop else "image"


def fit_calibration(pool: ScoredPool, frame_counts: Sequence[int], image_domains: Collection[str],
                    intervals: bool = True) -> Calibration:
    """Platt scaling and thresholds for clips (the pool's video domains weighted equally) and for each kind of still
    image in ``image_domains``, photos and tight face crops: one face scores on another scale than a clip's frames
    together, and a tight crop on another scale than a photo.

    A kind of image without a domain in the pool gets the photos' calibration, and photos without one the clips'.

    Raises:
        ValueError: the pool lacks real or fake clips with a face.
    """
    fit = fit_thresholds_with_intervals if intervals else fit_thresholds
    cal = lambda t, b: lambda v, k: float(sigmoid(logits_from([v.scores[k]])[0] / t + b))  # noqa: E731
    platt, thresholds = {}, {}
    for kind in ("video", "image", "crop"):
        part = pool.subset(lambda v, d: kind_of(v, d, image_domains) == kind)
        if not part.videos:
            continue
        counts = frame_counts if kind == "video" else frame_counts[:1]
        platt[kind] = _platt(part, counts)
        thresholds[kind] = fit(pool_of(part.videos, counts, part.domain_of(), cal(*platt[kind])))
    frows = [(p, v.label == "fake", d) for v, d in zip(pool.videos, pool.domains) for k in map(str, frame_counts)
             for p in v.frame_scores.get(k, [])]
    fraw, fy, fdom = (np.array(c) for c in zip(*frows))
    frame_temperature = fit_temperature(logits_from(fraw), fy.astype(int), weights=_equal_domains(fdom))
    for kind, fallback in (("image", "video"), ("crop", "image")):
        platt.setdefault(kind, platt[fallback])
        thresholds.setdefault(kind, thresholds[fallback])
    return Calibration(platt, frame_temperature, thresholds)


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
    """The pool's calibrated scores, each item with the calibration of its kind (:func:`kind_of`)."""
    domain_of = pool.domain_of()
    return pool_of(pool.videos, frame_counts, domain_of,
                   lambda v, k: cal.clip_probability(v.scores[k], kind_of(v, domain_of(v), image_domains)))


def left_out_checks(pool: ScoredPool, frame_counts: Sequence[int], image_domains: Collection[str]) -> dict:
    """For each left-out source: calibrate without it, and give its reals' and fakes' three-way rates at 20 frames.

    A left-out image source is judged by the rule of its kind that the other domains set (or, with no other
    domain of its kind, by the fallback: crops by the photos' rule).
    """
    out = {}
    for name, is_out in LEFT_OUT.items():
        held, rest = pool.subset(is_out), pool.subset(lambda v, d: not is_out(v, d))
        if not held.videos or not rest.videos:
            continue
        cal = fit_calibration(rest, frame_counts, image_domains, intervals=False)
        kinds = {kind_of(v, d, image_domains) for v, d in zip(held.videos, held.domains)}
        t = cal.thresholds[kinds.pop()] if len(kinds) == 1 else cal.video
        scored = calibrated_pool(held, cal, [report_count(frame_counts)], image_domains)
        out[name] = {"thresholds_without_it": t.to_dict(),
                     "rates_on_it": three_way_rates(scored, t) if len(scored.scores) else None}
    return out


def _score_lists(pool: ScoredPool, cal: Calibration, frame_counts: Sequence[int], kind: str) -> dict | None:
    """Calibrated scores per domain and label (all frame counts pooled), rounded: for the rarity of a score."""
    out: dict[str, dict[str, list[float]]] = {}
    for v, d in zip(pool.videos, pool.domains):
        for k in map(str, frame_counts):
            if v.scores.get(k) is not None:
                p = round(cal.clip_probability(v.scores[k], kind), 4)
                out.setdefault(d, {}).setdefault(v.label, []).append(p)
    return {d: {lab: sorted(s) for lab, s in by.items()} for d, by in out.items()} or None


def calibrate_on_pool(path: str | os.PathLike, items: dict[str, list[LabelledItem]], image_domains: Collection[str],
                      frame_counts: Sequence[int] = POOL_FRAMES, cache_dir: str | os.PathLike | None = None) -> dict:
    """Recalibrate a checkpoint for three outcomes on a pool of domains weighted equally; rewrite it.

    Any earlier calibration is set aside first: the scores are the model's own. Clip probabilities get Platt
    scaling and frames temperature scaling, both with the domains weighted equally; then ``t_fake`` (at most 5%
    of the pool's reals called FAKE) and ``t_no_sign`` (at most 10% of its fakes below it), with bootstrap
    intervals, for videos and for each kind of still image (photos, small face crops) on its own domains. The
    checkpoint keeps the pool's score distributions, so each verdict can say how rare its score is, and the
    left-out-source checks.

    Args:
        path: the checkpoint (rewritten in place; its sha256 changes: update the manifest, card and goldens).
        items: {domain: items}, e.g. from :func:`dfcore.training.sources.calibration_pool.pool_items`.
        image_domains: the domains of still images (each judged as a photo or a tight face crop, as analysis
            judges it: :func:`dfcore.decision.is_face_crop`); the other domains are clips.
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
    part = {kind: pool.subset(lambda v, d, kind=kind: kind_of(v, d, image_domains) == kind)
            for kind in ("video", "image", "crop")}
    domains = lambda kind: ", ".join(sorted(set(part[kind].domains))) or "none"  # noqa: E731
    platt = lambda kind: {"temperature": cal.platt[kind][0], "bias": cal.platt[kind][1]}  # noqa: E731
    record = {
        "rule": (f"t_fake: at most {MAX_REAL_CALLED_FAKE:.0%} of the calibration pool's real items called FAKE; "
                 f"t_no_sign: at most {MAX_FAKE_CALLED_NO_SIGN:.0%} of its fakes below it; the domains weighted "
                 f"equally; clips on {domains('video')}, each at {list(frame_counts)} frames; still photos on "
                 f"{domains('image')}, tight face crops on {domains('crop')}, each with its own calibration"),
        "video": cal.video.to_dict(),
        "image": cal.image.to_dict(),
        "crop": cal.thresholds["crop"].to_dict() if part["crop"].videos else None,  # None: crops are photos
        "image_calibration": platt("image"),
        "crop_calibration": platt("crop") if part["crop"].videos else None,
        "video_scores": _score_lists(part["video"], cal, frame_counts, "video"),
        "image_scores": _score_lists(part["image"], cal, frame_counts[:1], "image"),
        "crop_scores": _score_lists(part["crop"], cal, frame_counts[:1], "crop"),
        "pool": {d: count_by_source(its) for d, its in items.items()},
        "n_no_face": sum(1 for v in pool.videos if v.error is None and not any(s is not None for s in v.scores.values())),
        "n_errors": sum(1 for v in pool.videos if v.error is not None),
        "rates_frames": int(at[0]),
        "calibration_rates": {kind: three_way_rates(calibrated_pool(p, cal, at, image_domains), cal.thresholds[kind])
                              for kind, p in part.items() if p.videos},
        "left_out": left_out_checks(pool, frame_counts, image_domains),
    }
    t, b = cal.platt["video"]
    info = {**ck.info, "decision": record,
            "calibration": {"method": "clip: Platt scaling; frames: temperature scaling; domains weighted equally",
                            "temperature": t, "bias": b, "frame_temperature": cal.frame_temperature,
                            "threshold": cal.video.fake, "pool_frames": list(frame_counts)},
            "threshold_rule": record["rule"]}
    save_checkpoint(path, ck.model, ck.model_name, ck.preprocess, threshold=cal.video.fake, temperature=t, bias=b,
                    frame_temperature=cal.frame_temperature, info=info)
    for kind, th in cal.thresholds.items():
        print(f"  {kind}: FAKE at >= {th.fake:.3f} {th.fake_interval}, NO SIGN below {th.no_sign:.3f} "
              f"{th.no_sign_interval}{' (crossed: no band)' if th.crossed else ''}", flush=True)
    return record
