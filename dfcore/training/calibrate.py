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

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..models.checkpoint import load_checkpoint, save_checkpoint
from .datasets import LabelledItem
from ..models.detector import Detector
from ..evaluation.evaluate import score_items
from ..evaluation.metrics import fit_platt, fit_temperature, sigmoid, threshold_at_fpr

MAX_REAL_CALLED_FAKE = 0.05  # the share of real clips the threshold may call FAKE
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
