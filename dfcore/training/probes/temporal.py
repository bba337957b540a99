"""Does the change from one frame to the next carry evidence of a talking-head fake the model never saw? A probe.

Issue 29 (item 4) asks for temporal evidence the clip head can read: lip-sync and reenactment flicker around the
mouth from frame to frame. The analysis samples frames spread over the clip (20 over 10 s are half a second
apart), so the LSTM never sees two neighbouring frames; flicker lives between them. Before changing what the
analysis decodes and what the clip head reads (a retrain), this probe asks whether that evidence generalises to
a kind of fake the probe never saw, with the leave-one-out rule of :mod:`.linear`.

Per clip, :data:`TRIPLETS` triplets of neighbouring frames (t-1, t, t+1) spread over the clip; the face is found
in frame t and all three are cut with that box (the analysis's crop), so what differs between them is what
changed in the video, not the crop. Per triplet (:func:`triplet_features`), for the mouth, the eyes (boxes
around MediaPipe's keypoints, sized by the eyes' distance) and the whole face box:

* the first difference, mean |x(t+1) - x(t)| and |x(t) - x(t-1)| of the grey crop: how much changed;
* the second difference, mean |x(t+1) - 2 x(t) + x(t-1)|: what does not change smoothly (flicker; a head that
  moves steadily for 66 ms leaves little of it), and its ratio to the first;
* the mouth's and the eyes' second difference against the face's: flicker local to the mouth;

and the same first and second differences of the frozen CNN's features. A clip's block is the mean over its
triplets (logs of the energies). The probe compares the frozen CNN's mean features (``rgb``) with them
(``temporal``) and with both, fitted without one kind of fake and scored on that kind against unseen reals.

Rule, written before the first run: the temporal block is worth building into the analysis and the clip head
when ``both`` beats ``rgb`` by >= 0.05 AUC in the mean over the three kinds left out and falls by no more than
0.05 on any of them. With it, the same probe from the first :data:`FEW_TRIPLETS` triplets only says whether
more neighbouring frames pay.

``python -m dfcore.training.probes.temporal --data ../shared/data`` prints the table and writes JSON; the
per-clip features are kept (``--features``), so a second run only fits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import DfcoreError
from ...models.checkpoint import load_checkpoint
from ...models.model import inference_backbone
from ...vision.faces import Detection
from ...vision.preprocessing import PreprocessConfig, crop_face, square_crop_region
from ..sources.items import LabelledItem
from ..recipe import TH_LEAVE_OUTS
from ..sources.splits import make_splits, trained_data_config
from ..stages.model_input import as_input
from .linear import ClipFeatures, leave_kind_out

TRIPLETS = 16  # neighbouring-frame triplets per clip, spread over it (the face cache's 16 faces per clip)
FEW_TRIPLETS = 4  # the probe again from this many (every 4th): does more temporal evidence pay?
REGIONS = ("mouth", "eyes", "face")
# Region sizes in units of the distance between the eyes (MediaPipe's keypoints 0 and 1): the mouth box spans
# the lips and the chin's top, the eye boxes each eye and its lid.
MOUTH_HALF_W, MOUTH_HALF_H, EYE_HALF = 0.55, 0.35, 0.25
FEATURE_SETS = {"rgb": ("rgb",), "temporal": ("temporal",), "both": ("rgb", "temporal")}
_RIGHT_EYE, _LEFT_EYE, _MOUTH = 0, 1, 3  # MediaPipe's face keypoints


@dataclass
class Triplet:
    """Three neighbouring frames' face crops, all cut with the middle frame's box."""

    crops: np.ndarray  # (3, S, S, 3) uint8 RGB: frames t-1, t, t+1
    keypoints: np.ndarray  # (6, 2) float32 the middle frame's keypoints, in crop pixels
    face_box: np.ndarray  # (4,) float32 the middle frame's face box (x, y, w, h), in crop pixels


def triplet_centres(frame_count: int, n: int) -> list[int]:
    """``n`` frame numbers spread evenly over a clip, each with a neighbour on both sides (fewer on a short clip)."""
    if frame_count < 3:
        return []
    inner = frame_count - 2  # frames 1 .. frame_count - 2
    return sorted({1 + ((2 * k + 1) * inner) // (2 * n) for k in range(n)})


def region_boxes(keypoints: np.ndarray, face_box: np.ndarray, side: int) -> dict[str, list[tuple[int, int, int, int]]]:
    """Each region's boxes (x0, y0, x1, y1) inside a crop of ``side`` pixels, from the face's keypoints."""
    eye_dist = max(2.0, float(np.hypot(*(keypoints[_LEFT_EYE] - keypoints[_RIGHT_EYE]))))

    def box(cx: float, cy: float, hw: float, hh: float) -> tuple[int, int, int, int]:
        x0, y0 = int(np.clip(cx - hw, 0, side - 1)), int(np.clip(cy - hh, 0, side - 1))
        return x0, y0, max(x0 + 1, int(np.clip(cx + hw, 1, side))), max(y0 + 1, int(np.clip(cy + hh, 1, side)))

    mx, my = keypoints[_MOUTH]
    x, y, w, h = face_box
    return {
        "mouth": [box(mx, my, MOUTH_HALF_W * eye_dist, MOUTH_HALF_H * eye_dist)],
        "eyes": [box(*keypoints[i], EYE_HALF * eye_dist, EYE_HALF * eye_dist) for i in (_RIGHT_EYE, _LEFT_EYE)],
        "face": [box(x + w / 2, y + h / 2, w / 2, h / 2)],
    }


def triplet_features(t: Triplet, feats: np.ndarray) -> np.ndarray:
    """One triplet's temporal features (see the module's docstring).

    Args:
        t: the triplet's crops and the middle frame's keypoints.
        feats: (3, F) the frozen CNN's features of the three crops.

    Returns:
        (len(feature_names()),) float32.
    """
    grey = t.crops.astype(np.float32).mean(axis=3)
    first = (np.abs(grey[2] - grey[1]) + np.abs(grey[1] - grey[0])) / 2
    second = np.abs(grey[2] - 2 * grey[1] + grey[0])
    energy = {}
    for name, boxes in region_boxes(t.keypoints, t.face_box, grey.shape[1]).items():
        d1 = np.mean([first[y0:y1, x0:x1].mean() for x0, y0, x1, y1 in boxes])
        d2 = np.mean([second[y0:y1, x0:x1].mean() for x0, y0, x1, y1 in boxes])
        energy[name] = (np.log1p(d1), np.log1p(d2))
    out = []
    for name in REGIONS:
        d1, d2 = energy[name]
        out += [d1, d2, d2 - d1]
    out += [energy["mouth"][1] - energy["face"][1], energy["eyes"][1] - energy["face"][1]]
    scale = np.abs(feats[1]).mean() + 1e-6
    c1 = (np.abs(feats[2] - feats[1]).mean() + np.abs(feats[1] - feats[0]).mean()) / 2 / scale
    c2 = np.abs(feats[2] - 2 * feats[1] + feats[0]).mean() / scale
    out += [np.log(c1 + 1e-6), np.log(c2 + 1e-6), np.log(c2 + 1e-6) - np.log(c1 + 1e-6)]
    return np.array(out, np.float32)


def feature_names() -> list[str]:
    names = [f"{r}_{k}" for r in REGIONS for k in ("first", "second", "second_over_first")]
    return names + ["mouth_over_face_second", "eyes_over_face_second", "cnn_first", "cnn_second",
                    "cnn_second_over_first"]


def clip_triplets(path: str | Path, pre: PreprocessConfig, n: int = TRIPLETS) -> list[Triplet]:
    """The clip's triplets of neighbouring frames, where the face is found in the middle one.

    Raises:
        InputNotFoundError, UnsupportedFormatError, VideoDecodeError: the clip cannot be read.
    """
    from ...analyze import detect_track  # MediaPipe and PyAV: only when clips are read
    from ...media.video_io import probe_video, sample_frames

    info = probe_video(path)
    centres = triplet_centres(info.frame_count, n)
    if not centres:
        return []
    # A grid as fine as the clip's frames: grid position p is frame p (see sample_frames).
    positions = sorted({c + d for c in centres for d in (-1, 0, 1)})
    _, frames = sample_frames(path, info.frame_count, positions=positions)
    by_position = {f.position: f for f in frames}
    middles = [by_position[c] for c in centres if all(c + d in by_position for d in (-1, 0, 1))]
    if not middles:
        return []
    track = detect_track(middles)
    out = []
    for mid, det in zip(middles, track.detections):
        if det is None:
            continue
        crops = np.stack([crop_face(by_position[mid.position + d].image, det.box, pre) for d in (-1, 0, 1)])
        out.append(Triplet(crops, *_in_crop(det, pre)))
    return out


def _in_crop(det: Detection, pre: PreprocessConfig) -> tuple[np.ndarray, np.ndarray]:
    """The detection's keypoints and box in the pixels of its model crop."""
    x0, y0, side, _ = square_crop_region(det.box, pre.margin)
    s = pre.input_size / side
    kp = np.array([((kx - x0) * s, (ky - y0) * s) for kx, ky in det.keypoints], np.float32)
    x, y, w, h = det.box
    return kp, np.array([(x - x0) * s, (y - y0) * s, w * s, h * s], np.float32)


@torch.no_grad()
def clip_rows(items: Sequence[LabelledItem], split: str, backbone: torch.nn.Module, pre: PreprocessConfig,
              log_every: int = 20) -> list[dict]:
    """A row per clip with at least one triplet: its mean CNN features and its triplets' temporal features."""
    rows = []
    t0 = time.time()
    for k, it in enumerate(items):
        try:
            triplets = clip_triplets(it.path, pre)
        except DfcoreError as e:
            print(f"skipping {e.message}", flush=True)
            continue
        if triplets:
            crops = np.concatenate([t.crops for t in triplets])
            feats = backbone(as_input(crops, pre)).numpy().reshape(len(triplets), 3, -1)
            rows.append({"path": str(it.path), "label": it.label, "source": it.source, "split": split,
                         "identities": list(it.identities), "rgb": feats[:, 1].mean(axis=0).tolist(),
                         "temporal": [triplet_features(t, f).tolist() for t, f in zip(triplets, feats)]})
        if log_every and (k + 1) % log_every == 0:
            print(f"  {split}: {k + 1}/{len(items)} clips, {time.time() - t0:.0f} s", flush=True)
    return rows


def as_clip_features(rows: Sequence[dict], every: int = 1) -> ClipFeatures:
    """The probe's blocks from the rows; ``every``: use every k-th triplet only (at least one)."""
    temporal = [np.mean(np.array(r["temporal"], np.float32)[::every], axis=0) for r in rows]
    return ClipFeatures({"rgb": np.array([r["rgb"] for r in rows], np.float32),
                         "temporal": np.array(temporal, np.float32)},
                        np.array([r["label"] for r in rows]), np.array([r["source"] for r in rows]),
                        np.array([r["split"] for r in rows]), [tuple(r["identities"]) for r in rows])


def measure(data_root: str, weights: str = "weights/lite0_lstm.pt", features: Path | None = None) -> dict:
    """Every leave-one-out of ``TH_LEAVE_OUTS`` with the three probes, from all triplets and from a few.

    Raises:
        WeightsError: the checkpoint cannot be loaded.
        DatasetError: the data folders do not have the expected layout.
    """
    ck = load_checkpoint(weights)
    if features is not None and features.exists():
        rows = json.loads(features.read_text())
    else:
        cfg = trained_data_config(ck.info, data_root)
        splits = make_splits(cfg)
        backbone = inference_backbone(ck.model.backbone.eval())
        rows = [r for part in ("train", "calib", "test")
                for r in clip_rows(splits[f"th_{part}"], part, backbone, ck.preprocess)]
        if features is not None:
            features.parent.mkdir(parents=True, exist_ok=True)
            features.write_text(json.dumps(rows))
    report: dict = {"weights": str(weights), "clips": len(rows), "features": feature_names(),
                    "triplets": TRIPLETS, "few_triplets": FEW_TRIPLETS}
    for key, every in (("results", 1), ("results_few", TRIPLETS // FEW_TRIPLETS)):
        f = as_clip_features(rows, every)
        report[key] = [leave_kind_out(f, kind, FEATURE_SETS) for kind in TH_LEAVE_OUTS.values()]
    report["rule"] = judge(report["results"])
    return report


def judge(results: Sequence[dict]) -> dict:
    """The rule of the module's docstring, applied to ``both`` against ``rgb``."""
    changes = [r["both"]["change_vs_rgb"][0] for r in results]
    mean = float(np.mean(changes))
    kept = mean >= 0.05 and min(changes) >= -0.05
    return {"mean_change": mean, "worst_change": float(min(changes)), "pays": bool(kept)}


def _line(r: dict) -> str:
    cells = [f"{w} {r[w]['auc']:.3f} ({r[w]['auc_ci'][0]:.2f}–{r[w]['auc_ci'][1]:.2f})" for w in FEATURE_SETS]
    change = r["both"]["change_vs_rgb"]
    return (f"{r['left_out']}: {r['n_fakes']} fakes, {r['n_reals']} reals | " + " | ".join(cells) +
            f" | both - rgb {change[0]:+.3f} ({change[1]:+.3f} to {change[2]:+.3f})")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dfcore.training.probes.temporal",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data", help="folder holding ffpp_c23/, dfdc_faces/, talking_heads/")
    p.add_argument("--weights", default="weights/lite0_lstm.pt", help="the frozen backbone (one that never saw a "
                   "talking head, or the leave-one-out is not one)")
    p.add_argument("--features", type=Path, default=Path("runs/temporal_probe_features.json"),
                   help="per-clip features: read when present, else extracted and written here")
    p.add_argument("--out", type=Path, default=Path("runs/temporal_probe.json"), help="where the results go")
    args = p.parse_args(argv)
    try:
        report = measure(args.data, args.weights, args.features)
    except DfcoreError as e:  # a wrong checkpoint or missing data: say which
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    for key, title in (("results", f"{TRIPLETS} triplets"), ("results_few", f"{FEW_TRIPLETS} triplets")):
        print(title)
        for r in report[key]:
            print("  " + _line(r))
    rule = report["rule"]
    print(f"rule (both - rgb: mean >= +0.05, none below -0.05): mean {rule['mean_change']:+.3f}, "
          f"worst {rule['worst_change']:+.3f} -> {'pays' if rule['pays'] else 'does not pay'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
