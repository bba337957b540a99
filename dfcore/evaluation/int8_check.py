"""Does int8 pay? ONNX Runtime's static int8 quantisation of the per-frame CNN, judged by the speed issue's rule.

``python -m dfcore.evaluation.int8_check --data ../shared/data`` (about 10 minutes on 2 cores):

1. **Calibrate** the quantiser (QDQ, per-channel int8 weights, uint8 activations) on face crops of one half of
   the calibration split's clips (FF++, talking heads, DFDC crops), cut by the product's own pipeline.
2. **Choose** among the ways of setting the activation ranges (MinMax, Percentile, Entropy) on the other half:
   the one that moves the clip logits least. The test split is not looked at for this choice.
3. **Judge once** on the test split: every FF++ and talking-head test clip and a seeded sample of DFDC test
   crops, analysed once at 20 frames; the same face crops scored with the float32 graph and the int8 one; per
   domain the AUC of each and the paired change with its 95% interval. The rule, the issue's and written before
   this ran: int8 is kept only if the test AUC moves by less than 0.005 in every domain.
4. **Time** the CNN on 100 crops in float32 and int8, taken in turn (ratios hold on a shared machine).

Nothing is kept on disk but the report: the graphs are built in a temporary folder that is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..analyze import prepare_clip, score_clip
from ..errors import DfcoreError
from ..models.detector import BATCH, Detector, load_detector
from ..models.onnx_runtime import OnnxBackbone, cpu_session
from ..training.sources.items import LabelledItem
from ..training.sources.splits import make_splits, trained_data_config
from ..vision.preprocessing import to_tensor
from .metrics import paired_auc_summary

FRAMES = 20  # the dashboard's default frame count
FIT_FRAMES = 8  # crops per calibration clip the quantiser is fitted on (spread over the clip)
DFDC_FIT = 96  # DFDC calibration crops the quantiser is fitted on
DFDC_CHOOSE = 150  # other DFDC calibration crops the range method is chosen on
DFDC_TEST = 300  # DFDC test crops judged (of ~900): enough for an interval, minutes not an hour
METHODS = ("MinMax", "Percentile", "Entropy")  # onnxruntime.quantization.CalibrationMethod names
AUC_RULE = 0.005  # keep int8 only if the test AUC moves by less than this in every domain (the speed issue's rule)
TIMING_CROPS = 100  # the CNN is timed on this many crops: a 100-frame analysis
DOMAINS = ("ffpp", "talking_heads", "dfdc")
SPLIT_OF = {"ffpp": "ffpp", "talking_heads": "th", "dfdc": "dfdc"}


@dataclass
class Int8Score:
    path: str  # the clip or image
    label: int  # 1 = fake
    domain: str  # one of DOMAINS
    logit: float  # the clip logit from the float32 graph (as the product computes it)
    int8_logit: float  # the same crops through the int8 graph
    probability: float  # the calibrated probability from the float32 graph
    int8_probability: float  # and from the int8 graph (the same calibration applied)


class _Crops:
    """onnxruntime's CalibrationDataReader over (N, 3, S, S) normalised crops, in full batches of the product's size.

    Full batches only: the histogram calibrators (Percentile, Entropy) stack every batch's outputs into one
    array, and a shorter last batch breaks that (the few crops left over are dropped).
    """

    def __init__(self, x: np.ndarray) -> None:
        if len(x) < BATCH:
            raise ValueError(f"calibrating the quantiser needs at least {BATCH} crops, got {len(x)}")
        self._batches = iter([{"crops": x[i : i + BATCH]} for i in range(0, len(x) - BATCH + 1, BATCH)])

    def get_next(self) -> dict | None:
        return next(self._batches, None)


def quantize(float_graph: bytes, calibration: np.ndarray, method: str) -> bytes:
    """The int8 graph of ``float_graph``, its activation ranges set by ``method`` on ``calibration``.

    Args:
        float_graph: the float32 features graph (:meth:`OnnxBackbone.export`).
        calibration: (N, 3, S, S) float32 normalised face crops.
        method: one of METHODS.

    Returns:
        The quantised graph (QDQ: per-channel int8 weights, uint8 activations), as bytes.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="dfcore-int8-") as tmp:
        src, pre, out = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(float_graph)
        quant_pre_process(str(src), str(pre))  # shape inference and graph fusions, as ONNX Runtime advises
        with contextlib.redirect_stdout(io.StringIO()):  # the calibrators print their progress; not ours to show
            quantize_static(str(pre), str(out), _Crops(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=getattr(CalibrationMethod, method),
                            extra_options={"CalibPercentile": 99.999} if method == "Percentile" else None)
        return out.read_bytes()


def face_crops(path: str | Path, detector: Detector, frames: int) -> np.ndarray | None:
    """The (T, S, S, 3) face crops the product scores for ``path`` at ``frames`` frames; None when no face.

    Raises:
        DfcoreError: the file cannot be analysed.
    """
    result = score_clip(prepare_clip(path, frames), detector)
    faces = [c for c in result.crops if c is not None]
    return np.stack(faces) if faces else None


def normalised(crops: np.ndarray, detector: Detector) -> np.ndarray:
    """uint8 crops -> the CNN's float32 input, by the checkpoint's own preprocessing."""
    return to_tensor(crops, detector.preprocess).numpy()


def int8_features(session, x: np.ndarray) -> torch.Tensor:
    """(N, 3, S, S) normalised crops -> (N, F) features from the int8 graph, in the product's batches."""
    return torch.from_numpy(np.concatenate([session.run(None, {"crops": x[i : i + BATCH]})[0]
                                            for i in range(0, len(x), BATCH)]))


def score_both(path: str, label: int, domain: str, crops: np.ndarray, detector: Detector, session) -> Int8Score:
    """One item's crops scored through the float32 model and through the int8 graph, same heads and calibration."""
    x = normalised(crops, detector)
    plain = detector.score_features(detector.features(crops))
    q = detector.score_features(int8_features(session, x))
    return Int8Score(path, label, domain, plain.clip_logit, q.clip_logit, plain.clip_probability,
                     q.clip_probability)


def _sample(items: list[LabelledItem], n: int, seed: int) -> list[LabelledItem]:
    if len(items) <= n:
        return items
    pick = np.random.default_rng(seed).choice(len(items), n, replace=False)
    return [items[i] for i in sorted(pick)]


def calibration_halves(splits: dict[str, list[LabelledItem]], seed: int = 0
                       ) -> tuple[list[tuple[str, LabelledItem]], list[tuple[str, LabelledItem]]]:
    """(fit, choose): the calibration split's clips in two seeded halves per domain, DFDC crops sampled."""
    fit, choose = [], []
    for domain in DOMAINS:
        items = list(splits.get(f"{SPLIT_OF[domain]}_calib", []))
        order = np.random.default_rng(seed).permutation(len(items))
        if domain == "dfdc":
            a, b = order[:DFDC_FIT], order[DFDC_FIT : DFDC_FIT + DFDC_CHOOSE]
        else:
            a, b = order[::2], order[1::2]
        fit += [(domain, items[i]) for i in sorted(a)]
        choose += [(domain, items[i]) for i in sorted(b)]
    return fit, choose


def judged_items(splits: dict[str, list[LabelledItem]], seed: int = 0) -> list[tuple[str, LabelledItem]]:
    """Every FF++ and talking-head test clip and a seeded sample of DFDC test crops."""
    out = []
    for domain in DOMAINS:
        items = list(splits.get(f"{SPLIT_OF[domain]}_test", []))
        if domain == "dfdc":
            items = _sample(items, DFDC_TEST, seed)
        out += [(domain, it) for it in items]
    return out


def compare(scores: Sequence[Int8Score]) -> dict:
    """Per domain and over all: AUC float32 and int8, the paired change, and how far the probabilities moved."""
    out = {}
    for domain in [*DOMAINS, "all"]:
        group = [s for s in scores if domain in ("all", s.domain)]
        m = paired_auc_summary([s.label for s in group], [s.logit for s in group], [s.int8_logit for s in group],
                               "int8")
        if m is not None:
            moved = np.abs(np.array([s.int8_probability - s.probability for s in group]))
            out[domain] = {**m, "probability_moved_mean": float(moved.mean()),
                           "probability_moved_max": float(moved.max())}
    return out


def passes(by_domain: dict) -> bool:
    """The rule: the AUC moves by less than AUC_RULE in every domain."""
    return all(abs(m["change"]) < AUC_RULE for d, m in by_domain.items() if d != "all")


def time_cnn(detector: Detector, session, crops: np.ndarray, runs: int = 5) -> dict:
    """Median seconds of the CNN on ``crops`` in float32 (the product's path) and int8, taken in turn."""
    x = normalised(crops, detector)
    detector.features(crops), int8_features(session, x)  # warm both
    plain, q = [], []
    for _ in range(runs):
        t = time.perf_counter()
        detector.features(crops)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        int8_features(session, x)
        q.append(time.perf_counter() - t)
    return {"crops": len(crops), "float32_s": float(np.median(plain)), "int8_s": float(np.median(q))}


def _crops_of(items: Sequence[tuple[str, LabelledItem]], detector: Detector, frames: int,
              progress: Callable[[str], None]) -> tuple[list[tuple[str, LabelledItem, np.ndarray]], list[str]]:
    out, failed = [], []
    for n, (domain, it) in enumerate(items):
        try:
            crops = face_crops(it.path, detector, frames)
        except DfcoreError as e:  # one unreadable clip is reported, not fatal to the measurement
            failed.append(f"{it.path}: {e.message}")
            crops = None
        if crops is not None:
            out.append((domain, it, crops))
        if (n + 1) % 50 == 0 or n + 1 == len(items):
            progress(f"  faces {n + 1}/{len(items)}")
    return out, failed


def measure(data_root: str, weights: str | None = None, frames: int = FRAMES,
            progress: Callable[[str], None] = lambda line: None) -> dict:
    """Fit, choose, judge and time (see the module's docstring).

    Raises:
        WeightsError: the checkpoint cannot be loaded.
        DatasetError: the data folders do not have the expected layout.
        OptionalDependencyError: ONNX Runtime or onnx is not installed.
    """
    det = load_detector(weights, runtime="onnx")
    splits = make_splits(trained_data_config(det.checkpoint.info, data_root))
    fit_items, choose_items = calibration_halves(splits)
    progress(f"fitting on {len(fit_items)} calibration items, choosing on {len(choose_items)}")
    fit, failed = _crops_of(fit_items, det, FIT_FRAMES, progress)
    fit_x = np.concatenate([normalised(c, det) for _, _, c in fit])
    graph = OnnxBackbone(det.model.backbone, det.preprocess.input_size, "").export()
    sessions, choice = {}, {}
    chosen_crops, more = _crops_of(choose_items, det, frames, progress)
    failed += more
    for method in METHODS:
        t = time.perf_counter()
        sessions[method] = cpu_session(quantize(graph, fit_x, method), torch.get_num_threads())
        scores = [score_both(str(it.path), it.label, d, c, det, sessions[method]) for d, it, c in chosen_crops]
        choice[method] = {"logit_moved_mean": float(np.mean([abs(s.int8_logit - s.logit) for s in scores])),
                          "probability_moved_mean": float(np.mean([abs(s.int8_probability - s.probability)
                                                                   for s in scores])),
                          "quantise_s": time.perf_counter() - t}
        progress(f"  {method}: clip logits moved {choice[method]['logit_moved_mean']:.3f} on average")
    method = min(METHODS, key=lambda m: choice[m]["logit_moved_mean"])
    session = sessions[method]
    tests, more = _crops_of(judged_items(splits), det, frames, progress)
    failed += more
    scores = [score_both(str(it.path), it.label, d, c, det, session) for d, it, c in tests]
    by_domain = compare(scores)
    longest = max((c for _, _, c in tests), key=len)
    timing_crops = np.concatenate([longest] * -(-TIMING_CROPS // len(longest)))[:TIMING_CROPS]
    return {"checkpoint": str(det.checkpoint.path), "sha256": det.sha256, "frames": frames,
            "fit_crops": int(len(fit_x)), "choice": choice, "method": method, "rule": f"|change| < {AUC_RULE}",
            "by_domain": by_domain, "kept": passes(by_domain), "timing": time_cnn(det, session, timing_crops),
            "failed": failed, "scores": [asdict(s) for s in scores]}


def _line(domain: str, m: dict) -> str:
    return (f"{domain:>13}: {m['n_reals']:4d} real {m['n_fakes']:4d} fake | AUC {m['auc']:.4f} -> int8 "
            f"{m['auc_int8']:.4f}, change {m['change']:+.4f} ({m['change_ci'][0]:+.4f} to {m['change_ci'][1]:+.4f})"
            f" | probability moved {m['probability_moved_mean']:.4f} on average, {m['probability_moved_max']:.4f} "
            "at most")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dfcore.evaluation.int8_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/, dfdc_faces/, talking_heads/")
    p.add_argument("--weights", default=None, help="checkpoint (default: the default model)")
    p.add_argument("--frames", type=int, default=FRAMES, help=f"frames per clip (default {FRAMES})")
    p.add_argument("--out", type=Path, default=Path("runs/int8_check.json"), help="where the report goes")
    args = p.parse_args(argv)
    try:
        report = measure(args.data, args.weights, args.frames, lambda line: print(line, file=sys.stderr, flush=True))
    except DfcoreError as e:  # a wrong checkpoint, missing data or a missing package: say which
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    print(f"range method chosen on the calibration split: {report['method']}")
    for domain, m in report["by_domain"].items():
        print(_line(domain, m))
    t = report["timing"]
    print(f"CNN on {t['crops']} crops: float32 {t['float32_s']:.3f} s, int8 {t['int8_s']:.3f} s")
    print(f"rule {report['rule']} in every domain: {'PASSED, int8 may be kept' if report['kept'] else 'FAILED, not kept'}")
    for line in report["failed"]:
        print(f"not analysed: {line}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
