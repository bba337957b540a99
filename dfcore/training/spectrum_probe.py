"""Do frequency-domain inputs carry evidence of a talking-head fake the model never saw? A linear probe.

Issue 29 asks whether frequency-domain or noise-residual inputs beside the RGB crop are worth adding for
generated talking heads. A two-branch network costs hours on 2 cores to find out; a linear probe answers the
narrower question first, in minutes: on the teacher's frozen CNN features (``weights/lite0_lstm.pt``, which
never saw a talking head), on each face's residual spectrum, and on both together. Each probe is fitted on the
talking-head train split without one kind of fake and scored on every clip of that kind against the reals of
the calibration and test splits: the leave-one-out rule of :mod:`dfcore.evaluation.leave_out`.

The residual spectrum (:func:`residual_spectrum`): the model's grey crop minus its 3x3 box blur (what sensor
noise and a generator's up-sampling leave behind), Hann-windowed, its log power averaged over rings of equal
frequency. Rings read periodic up-sampling peaks and missing sensor noise wherever the face sits in the crop. A
clip's features are the means over its cached faces.

The probe's L2 strength is chosen by identity-grouped cross-validation on the training clips alone: the clips
scored never choose anything.

``python -m dfcore.training.spectrum_probe --data ../shared/data`` prints the table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from ..errors import DfcoreError
from ..evaluation.metrics import auc_change_interval, auc_interval, roc_auc
from ..models.checkpoint import Checkpoint, load_checkpoint
from ..models.model import inference_backbone
from .augment import sample_augment
from .head_refit import fit_head
from .sources.datasets import LabelledItem, identity_groups
from .sources.face_cache import CropSet
from .train import TH_LEAVE_OUTS, as_input, load_or_extract, make_splits, model_face, trained_data_config

SPECTRUM_BINS = 24  # rings from the lowest frequency to Nyquist: fine enough for an up-sampling peak
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # probe strengths tried by the cross-validation on train
FEATURE_SETS = ("rgb", "spectrum", "both")
FACES_PER_CLIP = 16  # the face cache's faces per talking-head clip (the recipe's)


@dataclass
class ClipFeatures:
    """One row per talking-head clip."""

    rgb: np.ndarray  # (N, F) mean frozen CNN features over the clip's faces
    spectrum: np.ndarray  # (N, SPECTRUM_BINS) mean residual spectrum over the clip's faces
    label: np.ndarray  # (N,) 1 = fake
    source: np.ndarray  # (N,) str: e.g. "talking_heads/AniTalker"
    split: np.ndarray  # (N,) str: "train", "calib" or "test"
    identities: list[tuple[str, ...]]  # per clip: who is in it (clips sharing one share a fold)


def residual_spectrum(crop: np.ndarray, bins: int = SPECTRUM_BINS) -> np.ndarray:
    """The log power of a face crop's high-pass residual, averaged over rings of equal frequency.

    Args:
        crop: (S, S, 3) uint8 RGB.
        bins: rings between the lowest non-zero frequency and Nyquist.

    Returns:
        (bins,) float32, with the mean over rings subtracted, so that a brighter or noisier crop does not read as a
        different spectrum shape.
    """
    grey = crop.astype(np.float32).mean(axis=2)
    residual = grey - cv2.blur(grey, (3, 3))
    h, w = residual.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2(residual * window))) ** 2
    yy, xx = np.indices((h, w))
    radius = np.hypot((yy - h // 2) / (h / 2), (xx - w // 2) / (w / 2))  # 1.0 = Nyquist on each axis
    ring = np.floor(radius * bins).astype(int)
    keep = (radius > 0) & (ring < bins)
    sums = np.bincount(ring[keep], weights=np.log(power[keep] + 1e-6), minlength=bins)
    counts = np.maximum(np.bincount(ring[keep], minlength=bins), 1)
    out = (sums / counts).astype(np.float32)
    return out - out.mean()


@torch.no_grad()
def clip_features(sets: dict[str, CropSet], ck: Checkpoint) -> ClipFeatures:
    """Frozen CNN features (``ck``'s backbone) and residual spectra of every clip in ``sets`` ({split: faces})."""
    pre = ck.preprocess
    backbone = inference_backbone(ck.model.backbone.eval())
    clean = sample_augment(np.random.default_rng(0), 0.0)  # no degradation: the probe reads the clip as it is
    rgb, spec, label, source, split, identities = [], [], [], [], [], []
    for name, cs in sets.items():
        for k, meta in enumerate(cs.items):
            idx = np.flatnonzero(cs.item == k)
            if len(idx) == 0:
                continue
            faces = np.stack([model_face(cs, int(i), pre, np.random.default_rng(0), 0.0, None, clean) for i in idx])
            rgb.append(backbone(as_input(faces, pre)).numpy().mean(axis=0))
            spec.append(np.mean([residual_spectrum(f) for f in faces], axis=0))
            label.append(int(meta["label"]))
            source.append(meta["source"])
            split.append(name)
            identities.append(tuple(meta["identities"]))
    return ClipFeatures(np.array(rgb, np.float32), np.array(spec, np.float32), np.array(label), np.array(source),
                        np.array(split), identities)


def feature_matrix(f: ClipFeatures, which: str, fit_rows: np.ndarray) -> np.ndarray:
    """The features ``which`` ("rgb", "spectrum", "both"), standardised on ``fit_rows``; in "both" each block
    is scaled by 1/sqrt(its width), so that 24 spectrum rings are not drowned by 1,280 CNN features."""
    blocks = {"rgb": [f.rgb], "spectrum": [f.spectrum], "both": [f.rgb, f.spectrum]}[which]
    out = []
    for x in blocks:
        mu, sd = x[fit_rows].mean(axis=0), x[fit_rows].std(axis=0) + 1e-6
        z = (x - mu) / sd
        out.append(z / np.sqrt(x.shape[1]) if which == "both" else z)
    return np.concatenate(out, axis=1)


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Reals and fakes count equally; the weights sum to 1."""
    w = np.where(y == 1, 1.0 / max(1, int((y == 1).sum())), 1.0 / max(1, int((y == 0).sum())))
    return w / w.sum()


def fit_probe(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Balanced logistic regression with an L2 penalty of strength ``l2``: (weights, bias)."""
    return fit_head(x, y, balanced_weights(y), np.zeros(x.shape[1]), 0.0, l2)


def identity_folds(identities: Sequence[tuple[str, ...]], n_folds: int, seed: int = 0) -> np.ndarray:
    """A fold per clip; clips that share an identity (a live swap and its original) share a fold."""
    items = [LabelledItem(Path(str(i)), 0, ids, "") for i, ids in enumerate(identities)]
    groups = identity_groups(items)
    fold = np.zeros(len(items), int)
    for n, gi in enumerate(np.random.default_rng(seed).permutation(len(groups))):
        fold[list(groups[gi])] = n % n_folds
    return fold


def choose_l2(x: np.ndarray, y: np.ndarray, identities: Sequence[tuple[str, ...]], n_folds: int = 5,
              grid: Sequence[float] = L2_GRID) -> float:
    """The strength with the best pooled out-of-fold AUC on these clips (ties: the stronger penalty)."""
    folds = identity_folds(identities, n_folds)
    best, best_auc = grid[-1], -1.0
    for l2 in sorted(grid, reverse=True):
        scores = np.zeros(len(y))
        for k in range(n_folds):
            test = folds == k
            train = ~test
            if not test.any() or len(np.unique(y[train])) < 2:
                continue
            w, b = fit_probe(x[train], y[train], l2)
            scores[test] = x[test] @ w + b
        auc = roc_auc(y, scores)
        if auc > best_auc + 1e-9:
            best, best_auc = l2, auc
    return best


def leave_kind_out(f: ClipFeatures, kind: str) -> dict:
    """Fit each probe on the train split without ``kind``'s fakes; score ``kind``'s clips against unseen reals."""
    train = (f.split == "train") & ~((f.label == 1) & (f.source == kind))
    scored = ((f.label == 1) & (f.source == kind)) | ((f.label == 0) & (f.split != "train"))
    y = f.label[scored]
    ids_train = [f.identities[i] for i in np.flatnonzero(train)]
    out: dict = {"left_out": kind, "n_fakes": int(y.sum()), "n_reals": int((y == 0).sum())}
    scores = {}
    for which in FEATURE_SETS:
        x = feature_matrix(f, which, train)
        l2 = choose_l2(x[train], f.label[train], ids_train)
        w, b = fit_probe(x[train], f.label[train], l2)
        scores[which] = x[scored] @ w + b
        low, high = auc_interval(y, scores[which])
        out[which] = {"auc": roc_auc(y, scores[which]), "auc_ci": [low, high], "l2": l2}
    for which in ("spectrum", "both"):
        change, low, high = auc_change_interval(y, scores["rgb"], scores[which])
        out[which]["change_vs_rgb"] = [change, low, high]
    return out


def measure(data_root: str, weights: str = "weights/lite0_lstm.pt") -> dict:
    """Every leave-one-out of ``TH_LEAVE_OUTS`` with the three probes (see the module's docstring).

    Raises:
        WeightsError: the checkpoint cannot be loaded.
        DatasetError: the data folders do not have the expected layout.
    """
    ck = load_checkpoint(weights)
    cfg = trained_data_config(ck.info, data_root)
    splits = make_splits(cfg)
    sets = {part: load_or_extract(f"th_{part}", splits[f"th_{part}"], FACES_PER_CLIP, cfg)[0]
            for part in ("train", "calib", "test")}
    f = clip_features(sets, ck)
    return {"weights": str(weights), "clips": len(f.label),
            "results": [leave_kind_out(f, kind) for kind in TH_LEAVE_OUTS.values()]}


def _line(r: dict) -> str:
    cells = [f"{w} {r[w]['auc']:.3f} ({r[w]['auc_ci'][0]:.2f}–{r[w]['auc_ci'][1]:.2f})" for w in FEATURE_SETS]
    change = r["both"]["change_vs_rgb"]
    return (f"{r['left_out']}: {r['n_fakes']} fakes, {r['n_reals']} reals | " + " | ".join(cells) +
            f" | both - rgb {change[0]:+.3f} ({change[1]:+.3f} to {change[2]:+.3f})")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dfcore.training.spectrum_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/, dfdc_faces/, talking_heads/")
    p.add_argument("--weights", default="weights/lite0_lstm.pt", help="the frozen backbone (one that never saw a "
                   "talking head, or the leave-one-out is not one)")
    p.add_argument("--out", type=Path, default=Path("runs/spectrum_probe.json"), help="where the results go")
    args = p.parse_args(argv)
    try:
        report = measure(args.data, args.weights)
    except DfcoreError as e:  # a wrong checkpoint or missing data: say which
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    for r in report["results"]:
        print(_line(r))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
