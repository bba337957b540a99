"""A portable bundle of training faces for one short GPU run (``make train-gpu``).

The GPU machine has no data folder, no MediaPipe and no PyAV: everything its run needs is packed here, on
the CPU, into one small folder (``gpu_bundle/``, git-ignored: it holds frames cut from research data):

- ``<set>.npz`` per training set: the face regions as JPEG bytes (``jpeg`` + ``offsets``), with face box,
  the six keypoints and the Face Mesh landmarks in region pixels (float16) and each face's item index;
- ``bundle.json``: the config, each set's items (label, source, identities, path relative to the data
  folder) and the sha256 of every other file;
- ``lite0_imagenet_fp16.pt``: the ImageNet EfficientNet-Lite0 weights in fp16 (the package's file, no classifier).

Sets: ``ffpp_train`` and ``th_train`` (every train clip, ``frames_per_clip`` faces each), ``dfdc_train`` (a
balanced, seeded subset of the DFDC train crops), and ``ffpp_train_h264`` / ``th_train_h264``: for a share of
those clips, their region sequence round-tripped through a real H.264 encoder at a low quality, as a re-upload
would leave it (``dfcore.synth.web_degrade.h264_roundtrip``).

Regions are cut tighter than the face cache's (margin ``region_margin`` instead of 0.9) to keep the bundle
small; the model's crop (margin 0.3) and the self-blend masks still fit inside. Landmarks are kept for real
faces only: only reals are self-blended (fake rows are NaN, which compresses to almost nothing).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from ..sources.face_cache import CropSet
from ...vision.preprocessing import PreprocessConfig, crop_face, square_crop_region

if TYPE_CHECKING:  # the recipe is imported where used: the bundle's readers need none of it
    from ..recipe import DataConfig

BUNDLE_JSON = "bundle.json"
BACKBONE_FILE = "lite0_imagenet_fp16.pt"
DATA_FOLDERS = ("ffpp_c23", "dfdc_faces", "talking_heads")  # the shared data's top folders
BUNDLE_VERSION = 1  # bump when the layout changes; run.py refuses other versions


@dataclass(frozen=True)
class BundleConfig:
    data_root: str = "../shared/data"  # holds ffpp_c23/, dfdc_faces/ and talking_heads/
    out_dir: str = "gpu_bundle"  # the bundle folder (git-ignored; carried to the GPU machine)
    frames_per_clip: int = 16  # faces per FF++ / talking-head clip, spread evenly as inference samples them
    dfdc_faces: int = 2500  # DFDC train crops packed, half real and half fake
    # Context kept around the face box: the model's crop (margin 0.3) is 1.3/1.5 of the region, so a
    # 184-px region gives it ~160 px, its input size, with no upsampling.
    region_margin: float = 0.5
    region_size: int = 184  # side of a packed region, in pixels (even: H.264 needs even sides)
    jpeg_quality: int = 90  # of the packed regions (every face, real or fake, goes through it alike)
    codec_share: float = 0.5  # share of FF++ / talking-head train clips also packed after an H.264 round trip
    codec_crf: tuple[int, int] = (30, 40)  # the round trip's constant rate factor, drawn per clip (low quality)
    codec_fps: float = 25.0  # the frame rate the region sequence is encoded at
    max_mib: float = 45.0  # the bundle must stay under this (the GPU machine's transfer limit leaves room)
    seed: int = 0  # seeds the DFDC subset, the codec clips and their quality


@dataclass
class PackedSet:
    """One set's faces as packed: regions (decoded or not) and their geometry in region pixels."""

    regions: list[np.ndarray]  # (S, S, 3) uint8 RGB each
    boxes: np.ndarray  # (N, 4) float32
    keypoints: np.ndarray  # (N, 6, 2) float32
    landmarks: np.ndarray  # (N, 468, 2) float32, NaN where absent
    item: np.ndarray  # (N,) int32
    items: list[dict]  # label, source, identities, path, n_crops (+ codec for round-tripped sets)


def tighten(cs: CropSet, margin: float, size: int, keep_landmarks: np.ndarray) -> PackedSet:
    """Cut every cached region down to ``margin`` around its face box, at ``size`` pixels.

    Args:
        cs: cached regions (any margin larger than ``margin``).
        margin: the context kept (PreprocessConfig.margin).
        size: the output side.
        keep_landmarks: (N,) bool: faces whose Face Mesh landmarks are kept (the rest become NaN).

    Returns:
        The tighter regions, with box, keypoints and landmarks moved into their pixels.
    """
    pre = PreprocessConfig(input_size=size, margin=margin)
    regions, boxes, kps, marks = [], [], [], []
    for i in range(len(cs.crops)):
        box = cs.face_box(i)
        regions.append(crop_face(cs.crops[i], box, pre))
        x0, y0, side, _ = square_crop_region(box, margin)
        s = size / side
        shift = np.array([x0, y0], np.float32)
        x, y, w, h = cs.boxes[i]
        boxes.append(((x - x0) * s, (y - y0) * s, w * s, h * s))
        kps.append((cs.keypoints[i] - shift) * s)
        marks.append((cs.landmarks[i] - shift) * s if keep_landmarks[i] else np.full_like(cs.landmarks[i], np.nan))
    n = len(regions)
    return PackedSet(regions, np.asarray(boxes, np.float32).reshape(n, 4),
                     np.asarray(kps, np.float32).reshape(n, 6, 2),
                     np.asarray(marks, np.float32).reshape(n, -1, 2), cs.item.astype(np.int32),
                     [portable_item(m) for m in cs.items])


def portable_item(meta: dict) -> dict:
    """An item's metadata without machine paths: its path from the data folder it came from on."""
    parts = Path(meta["path"]).parts
    roots = [k for k, p in enumerate(parts) if p in DATA_FOLDERS]
    return {"label": int(meta["label"]), "source": meta["source"], "identities": list(meta["identities"]),
            "path": "/".join(parts[roots[-1]:]) if roots else parts[-1], "n_crops": int(meta["n_crops"])}


def codec_variant(ps: PackedSet, share: float, crf_range: tuple[int, int], fps: float,
                  rng: np.random.Generator) -> PackedSet:
    """A share of ``ps``'s clips, each clip's region sequence round-tripped through H.264 as one video.

    Geometry is unchanged (the codec moves no pixel); each item records the CRF it went through.
    """
    from ...synth.web_degrade import h264_roundtrip  # PyAV: packing only, never on the GPU machine

    chosen = np.sort(rng.choice(len(ps.items), size=int(round(share * len(ps.items))), replace=False))
    regions, rows, items, owner = [], [], [], []
    for new_k, k in enumerate(chosen):
        idx = np.flatnonzero(ps.item == k)
        if len(idx) == 0:
            continue
        crf = int(rng.integers(crf_range[0], crf_range[1] + 1))
        decoded = h264_roundtrip([ps.regions[i] for i in idx], crf, fps)
        if len(decoded) != len(idx):
            raise RuntimeError(f"H.264 round trip of {ps.items[k]['path']} gave {len(decoded)} of {len(idx)} frames")
        regions += decoded
        rows += list(idx)
        owner += [len(items)] * len(idx)
        items.append({**ps.items[k], "codec": f"h264 crf {crf}"})
    rows = np.asarray(rows, int)
    return PackedSet(regions, ps.boxes[rows], ps.keypoints[rows], ps.landmarks[rows], np.asarray(owner, np.int32),
                     items)


def write_set(ps: PackedSet, path: Path, quality: int) -> int:
    """Write one set as ``.npz`` (JPEG regions + float16 geometry); returns the file's size in bytes."""
    blobs = []
    for r in ps.regions:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(r, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for a region of {path.name}")
        blobs.append(buf.reshape(-1))
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    np.savez_compressed(path, jpeg=np.concatenate(blobs) if blobs else np.zeros(0, np.uint8), offsets=offsets,
                        boxes=ps.boxes.astype(np.float16), keypoints=ps.keypoints.astype(np.float16),
                        landmarks=ps.landmarks.astype(np.float16), item=ps.item.astype(np.int32))
    return path.stat().st_size


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_backbone(path: Path) -> None:
    """The packaged ImageNet Lite0 weights in fp16, as the package ships them (its own tensor names, classifier
    dropped): ``load_lite0_imagenet`` pairs them with timm's by order and shape, so a GPU machine with another
    timm version, whose names may differ, still loads them."""
    from ...models.backbones import lite0_imagenet_file

    source = torch.load(lite0_imagenet_file(), map_location="cpu", weights_only=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in source.items() if not k.startswith("_fc.")},
               path)


def dfdc_subset(items: list, n: int, seed: int) -> list:
    """``n`` DFDC train items, half real and half fake, drawn with ``seed`` and kept in their order."""
    rng = np.random.default_rng([seed, 77])
    keep = []
    for label in (0, 1):
        idx = [k for k, it in enumerate(items) if it.label == label]
        keep += list(rng.choice(idx, size=min(n // 2, len(idx)), replace=False))
    return [items[k] for k in sorted(keep)]


def split_config(cfg: BundleConfig) -> DataConfig:
    """The split settings the packed train sets come from (recorded, so calibration can rebuild the splits)."""
    from ..recipe import DataConfig

    return DataConfig(data_root=cfg.data_root)


def extract_sets(cfg: BundleConfig) -> dict[str, CropSet]:
    """The face regions of the packed sets (through the face cache: ``cache/``, reused when it matches)."""
    from ..sources.splits import load_or_extract, make_splits

    data = split_config(cfg)
    splits = make_splits(data)
    if "th_train" not in splits:
        raise FileNotFoundError(f"{cfg.data_root}/talking_heads/metadata.csv: the bundle needs the talking heads")
    out = {}
    for name, items, n_frames in (("ffpp_train", splits["ffpp_train"], cfg.frames_per_clip),
                                  ("th_train", splits["th_train"], cfg.frames_per_clip),
                                  (f"dfdc_train_sub{cfg.dfdc_faces}_s{cfg.seed}",
                                   dfdc_subset(splits["dfdc_train"], cfg.dfdc_faces, cfg.seed), 1)):
        out[name.split("_sub")[0]], _ = load_or_extract(name, items, n_frames, data)
        print(f"  {name}: {len(out[name.split('_sub')[0]].crops)} faces", flush=True)
    return out


def pack(cfg: BundleConfig, sets: dict[str, CropSet] | None = None) -> Path:
    """Build the bundle folder.

    Args:
        cfg: what to pack.
        sets: the cached regions by set name (``ffpp_train``, ``th_train``, ``dfdc_train``); None extracts them
            from ``cfg.data_root``.

    Returns:
        The folder.

    Raises:
        ValueError: the bundle is larger than ``cfg.max_mib``.
    """
    t0 = time.time()
    sets = sets if sets is not None else extract_sets(cfg)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.npz"):
        old.unlink()
    rng = np.random.default_rng([cfg.seed, 78])
    packed: dict[str, PackedSet] = {}
    for name, cs in sets.items():
        reals = np.array([cs.items[k]["label"] == 0 for k in cs.item], dtype=bool)
        packed[name] = tighten(cs, cfg.region_margin, cfg.region_size, reals)
    for name in ("ffpp_train", "th_train"):
        if name in packed and cfg.codec_share > 0:
            packed[f"{name}_h264"] = codec_variant(packed[name], cfg.codec_share, cfg.codec_crf, cfg.codec_fps, rng)
    files, summary = {}, {}
    for name, ps in packed.items():
        size = write_set(ps, out / f"{name}.npz", cfg.jpeg_quality)
        labels = [ps.items[k]["label"] for k in ps.item]
        summary[name] = {"faces": len(ps.regions), "items": len(ps.items), "real_faces": labels.count(0),
                         "fake_faces": labels.count(1), "bytes": size, "items_meta": ps.items}
        files[f"{name}.npz"] = file_sha256(out / f"{name}.npz")
        print(f"  {name}: {len(ps.regions)} faces, {len(ps.items)} items, {size / 2**20:.1f} MiB", flush=True)
    write_backbone(out / BACKBONE_FILE)
    files[BACKBONE_FILE] = file_sha256(out / BACKBONE_FILE)
    meta = {"version": BUNDLE_VERSION, "config": {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in asdict(cfg).items() if k != "data_root"},
            "packed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "pack_s": round(time.time() - t0, 1),
            "data_config": {k: v for k, v in asdict(split_config(cfg)).items() if k != "data_root"},
            "sets": summary, "files": files}
    (out / BUNDLE_JSON).write_text(json.dumps(meta))
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"bundle {out}: {total / 2**20:.1f} MiB in {len(list(out.iterdir()))} files", flush=True)
    if total > cfg.max_mib * 2**20:
        raise ValueError(f"{out}: {total / 2**20:.1f} MiB is over the {cfg.max_mib} MiB limit")
    return out


@dataclass
class Bundle:
    """A packed bundle, read back: decoded face regions per set, the backbone weights, its metadata."""

    sets: dict[str, CropSet]  # set name -> its faces (regions decoded to RGB, geometry as float32)
    backbone: Path  # the ImageNet Lite0 weights (fp16), for dfcore.models.backbones.load_lite0_imagenet
    meta: dict  # bundle.json
    sha256: str  # of bundle.json, which lists every other file's sha256: names this exact bundle


def load_bundle(folder: str | Path) -> Bundle:
    """Read and verify a bundle written by :func:`pack`.

    Raises:
        FileNotFoundError: the folder has no ``bundle.json`` or lacks a file it lists.
        ValueError: another bundle version, or a file whose sha256 differs from the one recorded.
    """
    folder = Path(folder)
    meta_path = folder / BUNDLE_JSON
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: not a GPU bundle (make train-gpu packs one)")
    raw = meta_path.read_bytes()
    meta = json.loads(raw)
    if meta.get("version") != BUNDLE_VERSION:
        raise ValueError(f"{meta_path}: bundle version {meta.get('version')}, this code reads {BUNDLE_VERSION}")
    for name, digest in meta["files"].items():
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: listed in {meta_path} but missing")
        if file_sha256(folder / name) != digest:
            raise ValueError(f"{folder / name}: sha256 differs from {meta_path}'s (changed or truncated in transfer)")
    sets = {}
    for name, info in meta["sets"].items():
        z = np.load(folder / f"{name}.npz")
        jpeg, offsets = z["jpeg"], z["offsets"]
        regions = [cv2.cvtColor(cv2.imdecode(jpeg[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                   for i in range(len(offsets) - 1)]
        size = meta["config"]["region_size"]
        sets[name] = CropSet(
            crops=np.stack(regions) if regions else np.zeros((0, size, size, 3), np.uint8),
            boxes=z["boxes"].astype(np.float32), keypoints=z["keypoints"].astype(np.float32),
            landmarks=z["landmarks"].astype(np.float32), item=z["item"].astype(np.int32), items=info["items_meta"])
    return Bundle(sets, folder / BACKBONE_FILE, meta, hashlib.sha256(raw).hexdigest())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Pack the GPU training bundle (faces + ImageNet backbone).")
    ap.add_argument("--data", default=BundleConfig.data_root, help="the shared data folder")
    ap.add_argument("--out", default=BundleConfig.out_dir, help="the bundle folder")
    args = ap.parse_args(argv)
    pack(BundleConfig(data_root=args.data, out_dir=args.out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
