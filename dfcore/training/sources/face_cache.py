"""Face crops for training, extracted once with the inference pipeline and cached on disk.

Every face is found exactly as ``analyze_video`` finds it (the same frame
sampling, face detector and subject tracking). What is cached is a *generous*
square region around it (``margin`` well above the model's), with the face box,
MediaPipe's six keypoints and the 468 Face Mesh landmarks in its pixels: self-
blending happens on that region, as it would on the frame, and only then is the
model's own crop cut from it with :func:`dfcore.vision.preprocessing.crop_face`, the
same function analysis uses.
The cache holds derived research data: it lives in ``cache/`` (git-ignored).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .items import LabelledItem
from ...errors import DfcoreError
from ...vision.preprocessing import PreprocessConfig, crop_face, square_crop_region

if TYPE_CHECKING:  # extraction's imports need MediaPipe and PyAV; CropSet alone (a GPU run) needs neither
    from ...vision.face_mesh import FaceMesh
    from ...vision.faces import FaceOptions


@dataclass
class CropSet:
    """Face crops of many items (clips or images), concatenated."""

    crops: np.ndarray  # (N, S, S, 3) uint8 RGB: the generous region around each face
    boxes: np.ndarray  # (N, 4) float32 face box (x, y, w, h) in crop pixels
    keypoints: np.ndarray  # (N, 6, 2) float32 MediaPipe keypoints in crop pixels
    landmarks: np.ndarray  # (N, 468, 2) float32 Face Mesh landmarks in crop pixels; NaN where the mesh found none
    item: np.ndarray  # (N,) int32 index of the item each crop belongs to
    items: list[dict]  # per item: path, label, identities, source, n_crops

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path.with_suffix(".npz"), crops=self.crops, boxes=self.boxes, keypoints=self.keypoints,
                 landmarks=self.landmarks, item=self.item)
        path.with_suffix(".json").write_text(json.dumps(self.items))

    @classmethod
    def load(cls, path: Path) -> "CropSet":
        z = np.load(path.with_suffix(".npz"))
        return cls(z["crops"], z["boxes"], z["keypoints"], z["landmarks"], z["item"],
                   json.loads(path.with_suffix(".json").read_text()))

    def face_box(self, i: int) -> tuple[int, int, int, int]:
        """Crop ``i``'s face box as integers, for :func:`~dfcore.vision.preprocessing.crop_face`."""
        return tuple(int(round(v)) for v in self.boxes[i])

    def mesh(self, i: int) -> np.ndarray | None:
        """Crop ``i``'s Face Mesh landmarks, or None when the mesh found no face."""
        pts = self.landmarks[i]
        return None if np.isnan(pts[0, 0]) else pts


def select_faces(sets: list[CropSet], keep) -> CropSet:
    """One CropSet of the faces of ``sets`` whose item dict passes ``keep`` (items renumbered, in order)."""
    parts, items = [], []
    for cs in sets:
        kept = [k for k, it in enumerate(cs.items) if keep(it)]
        new_index = {k: len(items) + n for n, k in enumerate(kept)}
        items += [cs.items[k] for k in kept]
        rows = np.flatnonzero(np.isin(cs.item, kept))
        parts.append((cs, rows, np.array([new_index[k] for k in cs.item[rows]], dtype=np.int32)))
    return CropSet(*(np.concatenate([getattr(cs, f)[rows] for cs, rows, _ in parts])
                     for f in ("crops", "boxes", "keypoints", "landmarks")),
                   np.concatenate([owner for _, _, owner in parts]), items)


def extract_crops(
    items: list[LabelledItem],
    frames_per_item: int,
    cache_size: int,
    margin: float,
    face_options: FaceOptions | None = None,
    log_every: int = 500,
) -> CropSet:
    """Sample, detect and track each item's faces as inference does; cache a generous region around each.

    Args:
        items: clips or images with labels.
        frames_per_item: frames sampled evenly over each clip (images give one).
        cache_size: side of the cached regions, in pixels.
        margin: context kept around the face box (as in :class:`PreprocessConfig`); larger
            than any model's, so the model's crop can be cut from the region afterwards.
        face_options: detection options (the inference defaults when None).
        log_every: print progress every this many items.

    Returns:
        The regions of all frames in which the subject's face was found, with Face Mesh landmarks.
    """
    from ...vision.face_mesh import N_LANDMARKS, FaceMesh

    cfg = PreprocessConfig(input_size=cache_size, margin=margin)
    crops, boxes, kps, marks, owner, meta = [], [], [], [], [], []
    no_mesh = np.full((N_LANDMARKS, 2), np.nan, np.float32)
    t0 = time.time()
    with FaceMesh() as mesh:
        for n, it in enumerate(items):
            n_found = _extract_item(it, n, frames_per_item, cfg, face_options, mesh, no_mesh,
                                    crops, boxes, kps, marks, owner)
            meta.append({"path": str(it.path), "label": it.label, "identities": list(it.identities),
                         "source": it.source, "n_crops": n_found})
            if log_every and (n + 1) % log_every == 0:
                print(f"  {n + 1}/{len(items)} items, {len(crops)} crops, {time.time() - t0:.0f}s", flush=True)
    return CropSet(
        crops=np.stack(crops) if crops else np.zeros((0, cache_size, cache_size, 3), np.uint8),
        boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        keypoints=np.asarray(kps, np.float32).reshape(-1, 6, 2),
        landmarks=np.asarray(marks, np.float32).reshape(-1, N_LANDMARKS, 2),
        item=np.asarray(owner, np.int32),
        items=meta,
    )


def _extract_item(it: LabelledItem, n: int, frames_per_item: int, cfg: PreprocessConfig,
                  face_options: FaceOptions | None, mesh: FaceMesh, no_mesh: np.ndarray,
                  crops: list, boxes: list, kps: list, marks: list, owner: list) -> int:
    """Append one item's regions to the lists; returns how many faces it gave."""
    from ...analyze import detect_track
    from ...media.video_io import sample_frames

    cache_size = cfg.input_size
    try:
        _, frames = sample_frames(it.path, frames_per_item)
        track = detect_track(frames, face_options)
    except DfcoreError as e:
        print(f"skipping {e.message}", flush=True)
        return 0
    n_found = 0
    for f, det in zip(frames, track.detections):
        if det is None:
            continue
        region = crop_face(f.image, det.box, cfg)
        crops.append(region)
        x0, y0, side, _ = square_crop_region(det.box, cfg.margin)
        s = cache_size / side
        x, y, w, h = det.box
        boxes.append(((x - x0) * s, (y - y0) * s, w * s, h * s))
        kps.append([((kx - x0) * s, (ky - y0) * s) for kx, ky in det.keypoints])
        pts = mesh.landmarks(region)
        marks.append(no_mesh if pts is None else pts)
        owner.append(n)
        n_found += 1
    return n_found
