"""Face crops for training, extracted once with the inference pipeline and cached on disk.

Every crop is made exactly as ``analyze_video`` makes it (the same frame
sampling, face detector, subject tracking and crop rule); only the output size
is larger, so augmentations and self-blending happen at a higher resolution
before :func:`dfcore.preprocessing.resize_crop` brings the crop to the model's size.
The cache holds derived research data: it lives in ``cache/`` (git-ignored).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .analyze import detect_track
from .datasets import LabelledItem
from .errors import DfcoreError
from .faces import FaceOptions
from .preprocessing import PreprocessConfig, crop_face, square_crop_region
from .video_io import sample_frames


@dataclass
class CropSet:
    """Face crops of many items (clips or images), concatenated."""

    crops: np.ndarray  # (N, S, S, 3) uint8 RGB
    boxes: np.ndarray  # (N, 4) float32 face box (x, y, w, h) in crop pixels
    keypoints: np.ndarray  # (N, 6, 2) float32 MediaPipe keypoints in crop pixels
    item: np.ndarray  # (N,) int32 index of the item each crop belongs to
    items: list[dict]  # per item: path, label, identities, source, n_crops

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path.with_suffix(".npz"), crops=self.crops, boxes=self.boxes, keypoints=self.keypoints, item=self.item)
        path.with_suffix(".json").write_text(json.dumps(self.items))

    @classmethod
    def load(cls, path: Path) -> "CropSet":
        z = np.load(path.with_suffix(".npz"))
        return cls(z["crops"], z["boxes"], z["keypoints"], z["item"], json.loads(path.with_suffix(".json").read_text()))


def extract_crops(
    items: list[LabelledItem],
    frames_per_item: int,
    preprocess: PreprocessConfig,
    cache_size: int,
    face_options: FaceOptions | None = None,
    log_every: int = 500,
) -> CropSet:
    """Sample, detect, track and crop each item's frames as inference does.

    Args:
        items: clips or images with labels.
        frames_per_item: frames sampled evenly over each clip (images give one).
        preprocess: the model's crop rule (its margin is used).
        cache_size: side of the cached crops (>= the model's input size).
        face_options: detection options (the inference defaults when None).
        log_every: print progress every this many items.

    Returns:
        The crops of all frames in which the subject's face was found.
    """
    cfg = replace(preprocess, input_size=cache_size)
    crops, boxes, kps, owner, meta = [], [], [], [], []
    t0 = time.time()
    for n, it in enumerate(items):
        n_found = 0
        try:
            _, frames = sample_frames(it.path, frames_per_item)
            track = detect_track(frames, face_options)
        except DfcoreError as e:
            print(f"skipping {e.message}", flush=True)
            frames, track = [], None
        for f, det in zip(frames, track.detections if track else []):
            if det is None:
                continue
            crops.append(crop_face(f.image, det.box, cfg))
            x0, y0, side, _ = square_crop_region(det.box, cfg.margin)
            s = cache_size / side
            x, y, w, h = det.box
            boxes.append(((x - x0) * s, (y - y0) * s, w * s, h * s))
            kps.append([((kx - x0) * s, (ky - y0) * s) for kx, ky in det.keypoints])
            owner.append(n)
            n_found += 1
        meta.append({"path": str(it.path), "label": it.label, "identities": list(it.identities),
                     "source": it.source, "n_crops": n_found})
        if log_every and (n + 1) % log_every == 0:
            print(f"  {n + 1}/{len(items)} items, {len(crops)} crops, {time.time() - t0:.0f}s", flush=True)
    return CropSet(
        crops=np.stack(crops) if crops else np.zeros((0, cache_size, cache_size, 3), np.uint8),
        boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        keypoints=np.asarray(kps, np.float32).reshape(-1, 6, 2),
        item=np.asarray(owner, np.int32),
        items=meta,
    )
