"""Does test-time horizontal flip pay for its time? Measured on the calibration split, never on test.

``python -m dfcore.evaluation.flip_tta --data ../shared/data`` analyses every FF++ and talking-head calibration
clip and a seeded sample of DFDC calibration crops with the default model, once as the product does, then scores
the same face crops mirrored left to right, and compares the clip logit alone with the mean of the two logits
(the flip is the one augmentation a face detector can add at inference without changing what a face is: faces
are near-symmetric, a blend's seam is not). Per domain it reports both AUCs, the change with a paired bootstrap
interval over the same clips, and what the second pass costs in seconds against the whole analysis.

The calibration split is where the recipe already makes its choices (the kept training step, the thresholds), so
a keep-or-drop decision made here leaves the test split unlooked at.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..analyze import prepare_clip, score_clip
from ..errors import DfcoreError
from ..models.detector import Detector, load_detector
from ..training.sources.items import LabelledItem
from ..training.sources.splits import make_splits, trained_data_config
from .metrics import paired_auc_summary

FRAMES = 20  # the dashboard's default frame count
DFDC_SAMPLE = 300  # DFDC calibration crops scored (of ~900): enough for an interval, minutes not an hour
DOMAINS = {"ffpp": "ffpp_calib", "talking_heads": "th_calib", "dfdc": "dfdc_calib"}


@dataclass
class FlipScore:
    path: str  # the clip or image
    label: int  # 1 = fake
    domain: str  # a key of DOMAINS
    logit: float  # the clip logit as the product computes it
    flipped_logit: float  # the same crops mirrored left to right
    analysis_s: float  # the whole analysis (decode, faces, crops, model), without Grad-CAM
    flip_s: float  # the extra model pass on the mirrored crops

    @property
    def tta_logit(self) -> float:
        return (self.logit + self.flipped_logit) / 2


def calibration_items(splits: dict[str, list[LabelledItem]], dfdc_sample: int = DFDC_SAMPLE,
                      seed: int = 0) -> list[tuple[str, LabelledItem]]:
    """(domain, item) for every FF++ and talking-head calibration clip and ``dfdc_sample`` DFDC calibration crops
    (a seeded draw, so a rerun scores the same crops)."""
    out = []
    for domain, split in DOMAINS.items():
        items = list(splits.get(split, []))
        if domain == "dfdc" and len(items) > dfdc_sample:
            pick = np.random.default_rng(seed).choice(len(items), dfdc_sample, replace=False)
            items = [items[i] for i in sorted(pick)]
        out += [(domain, it) for it in items]
    return out


def mirrored(crops: np.ndarray) -> np.ndarray:
    """(T, S, S, 3) crops flipped left to right, contiguous (the CNN's input is copied from it)."""
    return np.ascontiguousarray(crops[:, :, ::-1])


def score_with_flip(path: str | Path, label: int, domain: str, detector: Detector,
                    frames: int = FRAMES) -> FlipScore | None:
    """Analyse one item as the product does, then score its face crops mirrored.

    Returns:
        The two logits and their times; None when no face was found (nothing to flip).

    Raises:
        DfcoreError: the file cannot be analysed.
    """
    t = time.perf_counter()
    result = score_clip(prepare_clip(path, frames), detector)
    analysis_s = time.perf_counter() - t
    faces = [c for c in result.crops if c is not None]
    if not faces:
        return None
    crops = np.stack(faces)
    plain = detector.score(crops).clip_logit
    t = time.perf_counter()
    flipped = detector.score(mirrored(crops)).clip_logit
    return FlipScore(str(path), label, domain, plain, flipped, analysis_s, time.perf_counter() - t)


def compare(scores: Sequence[FlipScore]) -> dict:
    """AUC without and with the flip, the paired change, and the cost, per domain and over all domains."""
    out = {}
    for domain in [*DOMAINS, "all"]:
        group = [s for s in scores if domain in ("all", s.domain)]
        m = paired_auc_summary([s.label for s in group], [s.logit for s in group], [s.tta_logit for s in group],
                               "flip")
        if m is not None:
            out[domain] = {**m, "analysis_s": float(np.median([s.analysis_s for s in group])),
                           "flip_s": float(np.median([s.flip_s for s in group]))}
    return out


def measure(data_root: str, weights: str | None = None, frames: int = FRAMES, dfdc_sample: int = DFDC_SAMPLE,
            progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Score the calibration items with and without the flip and compare (see the module's docstring).

    Raises:
        WeightsError: the checkpoint cannot be loaded.
        DatasetError: the data folders do not have the expected layout.
    """
    det = load_detector(weights)
    items = calibration_items(make_splits(trained_data_config(det.checkpoint.info, data_root)), dfdc_sample)
    scores, failed = [], []
    for n, (domain, it) in enumerate(items):
        try:
            s = score_with_flip(it.path, it.label, domain, det, frames)
        except DfcoreError as e:  # one unreadable clip is reported, not fatal to the measurement
            failed.append(f"{it.path}: {e.message}")
            s = None
        if s is not None:
            scores.append(s)
        if progress:
            progress(n + 1, len(items), str(it.path))
    return {"checkpoint": str(det.checkpoint.path), "sha256": det.sha256, "runtime": det.runtime, "frames": frames,
            "by_domain": compare(scores), "failed": failed, "scores": [asdict(s) for s in scores]}


def _line(domain: str, m: dict) -> str:
    return (f"{domain:>13}: {m['n_reals']:4d} real {m['n_fakes']:4d} fake | AUC {m['auc']:.3f} -> with flip "
            f"{m['auc_flip']:.3f}, change {m['change']:+.3f} ({m['change_ci'][0]:+.3f} to {m['change_ci'][1]:+.3f}) | "
            f"+{m['flip_s']:.3f} s on {m['analysis_s']:.3f} s (+{100 * m['flip_s'] / m['analysis_s']:.0f}%)")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dfcore.evaluation.flip_tta", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/, dfdc_faces/, talking_heads/")
    p.add_argument("--weights", default=None, help="checkpoint (default: the default model)")
    p.add_argument("--frames", type=int, default=FRAMES, help=f"frames per clip (default {FRAMES})")
    p.add_argument("--dfdc", type=int, default=DFDC_SAMPLE, help=f"DFDC calibration crops (default {DFDC_SAMPLE})")
    p.add_argument("--out", type=Path, default=Path("runs/flip_tta.json"), help="where the report goes")
    args = p.parse_args(argv)

    def say(n: int, total: int, path: str) -> None:
        if n % 25 == 0 or n == total:
            print(f"  {n}/{total}", file=sys.stderr, flush=True)

    try:
        report = measure(args.data, args.weights, args.frames, args.dfdc, say)
    except DfcoreError as e:  # a wrong checkpoint or missing data: say which
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    for domain, m in report["by_domain"].items():
        print(_line(domain, m))
    for line in report["failed"]:
        print(f"not analysed: {line}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
