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

The probe and its leave-one-out are :mod:`.linear`'s.

``python -m dfcore.training.probes.spectrum --data ../shared/data`` prints the table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from ...errors import DfcoreError
from ...models.checkpoint import Checkpoint, load_checkpoint
from ...models.model import inference_backbone
from ..augment import sample_augment
from ..sources.face_cache import CropSet
from ..recipe import TH_LEAVE_OUTS
from ..sources.splits import load_or_extract, make_splits, trained_data_config
from ..stages.model_input import as_input, model_face
from .linear import ClipFeatures, leave_kind_out

SPECTRUM_BINS = 24  # rings from the lowest frequency to Nyquist: fine enough for an up-sampling peak
FEATURE_SETS = {"rgb": ("rgb",), "spectrum": ("spectrum",), "both": ("rgb", "spectrum")}
FACES_PER_CLIP = 16  # the face cache's faces per talking-head clip (the recipe's)


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
    return ClipFeatures({"rgb": np.array(rgb, np.float32), "spectrum": np.array(spec, np.float32)},
                        np.array(label), np.array(source),
                        np.array(split), identities)


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
            "results": [leave_kind_out(f, kind, FEATURE_SETS) for kind in TH_LEAVE_OUTS.values()]}


def _line(r: dict) -> str:
    cells = [f"{w} {r[w]['auc']:.3f} ({r[w]['auc_ci'][0]:.2f}–{r[w]['auc_ci'][1]:.2f})" for w in FEATURE_SETS]
    change = r["both"]["change_vs_rgb"]
    return (f"{r['left_out']}: {r['n_fakes']} fakes, {r['n_reals']} reals | " + " | ".join(cells) +
            f" | both - rgb {change[0]:+.3f} ({change[1]:+.3f} to {change[2]:+.3f})")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dfcore.training.probes.spectrum", description=__doc__.split("\n\n")[0])
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
