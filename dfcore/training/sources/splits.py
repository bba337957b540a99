"""The training data as a run sees it: identity-disjoint splits, their CSVs, their cached face regions, and
which fakes a run leaves out.

Only train is learnt from; calibration sets the probabilities and the thresholds, and the cards' metrics come
from test (:func:`make_splits`). Every consumer that rebuilds a checkpoint's splits (calibration, the cards, the
leave-out and probe tools) goes through :func:`trained_data_config`, so it gets the splits that checkpoint was
trained with, whatever today's defaults say.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..recipe import DataConfig
from .dfdc import read_dfdc_faces
from .face_cache import CropSet, extract_crops
from .ffpp import read_ffpp
from .identity_split import check_disjoint, split_by_identity
from .items import LabelledItem
from .talking_heads import read_talking_heads


def make_splits(cfg: DataConfig) -> dict[str, list[LabelledItem]]:
    """Identity-disjoint train / calibration / test splits of both datasets (deterministic for the seed).

    FF++ test is the same 25% as the first shipped model's validation split, so cards stay comparable.
    """
    root = Path(cfg.data_root)
    ff_rest, ff_test = split_by_identity(read_ffpp(root / "ffpp_c23"), cfg.test_fraction_ffpp, cfg.seed)
    ff_train, ff_calib = split_by_identity(ff_rest, cfg.calib_fraction_ffpp, cfg.seed, cfg.calib_stratify_ffpp)
    dd_train, dd_held = split_by_identity(read_dfdc_faces(root / "dfdc_faces"), cfg.holdout_fraction_dfdc, cfg.seed)
    dd_calib, dd_test = split_by_identity(dd_held, 0.5, cfg.seed)
    splits = {"ffpp_train": ff_train, "ffpp_calib": ff_calib, "ffpp_test": ff_test,
              "dfdc_train": dd_train, "dfdc_calib": dd_calib, "dfdc_test": dd_test}
    groups = ["ffpp", "dfdc"]
    if (root / "talking_heads" / "metadata.csv").is_file():  # data folders from before it have none
        th_rest, th_test = split_by_identity(read_talking_heads(root / "talking_heads"), cfg.test_fraction_th,
                                             cfg.seed, "source")
        th_train, th_calib = split_by_identity(th_rest, cfg.calib_fraction_th, cfg.seed, "source")
        splits.update(th_train=th_train, th_calib=th_calib, th_test=th_test)
        groups.append("th")
    for a in groups:
        for x, y in (("train", "calib"), ("train", "test"), ("calib", "test")):
            check_disjoint(splits[f"{a}_{x}"], splits[f"{a}_{y}"])
    return splits


def trained_data_config(info: dict, data_root: str) -> DataConfig:
    """The split settings a checkpoint was trained with (its ``info["data_config"]``), for ``data_root``.

    Rebuilding its splits with today's defaults could put its training clips in calibration or test.
    Settings it does not record keep what they meant when it was trained (see below); with no record
    at all, the defaults.
    """
    saved = info.get("data_config", {})
    split_keys = ("seed", "test_fraction_ffpp", "calib_fraction_ffpp", "calib_stratify_ffpp", "holdout_fraction_dfdc",
                  "test_fraction_th", "calib_fraction_th")
    keep = {k: saved[k] for k in split_keys if k in saved}
    if saved and "calib_stratify_ffpp" not in saved:  # trained before the setting existed: stratified by label
        keep["calib_stratify_ffpp"] = "label"
    return DataConfig(data_root=data_root, **keep)


def write_split_csvs(splits: dict[str, list[LabelledItem]], out_dir: Path) -> dict[str, Path]:
    """One ``path,label`` CSV per split: what ``python -m dfcore evaluate --csv`` reads."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, items in splits.items():
        p = out_dir / f"{name}.csv"
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label", "identity", "source"])
            for it in items:
                w.writerow([str(Path(it.path).resolve()), "fake" if it.label else "real", "+".join(it.identities), it.source])
        paths[name] = p
    return paths


def load_or_extract(name: str, items: list[LabelledItem], n_frames: int, cfg: DataConfig) -> tuple[CropSet, float | None]:
    """The split's face regions, from the cache when it matches; and the seconds their extraction took.

    The extraction time is kept beside the cache (``.seconds``) so a run that reuses the
    cache still reports what making it cost; None when that was not recorded.
    """
    # No dots in the name: Path.with_suffix would take "0.9_s240..." for the suffix.
    path = Path(cfg.cache_dir) / f"{name}_m{round(cfg.cache_margin * 100)}_s{cfg.cache_size}_f{n_frames}_mesh"
    seconds_file = path.with_suffix(".seconds")
    if path.with_suffix(".npz").exists() and path.with_suffix(".json").exists():
        cs = CropSet.load(path)
        if [m["path"] for m in cs.items] == [str(it.path) for it in items]:
            return cs, float(seconds_file.read_text()) if seconds_file.exists() else None
    print(f"extracting faces: {name} ({len(items)} items)", flush=True)
    t = time.time()
    cs = extract_crops(items, n_frames, cfg.cache_size, cfg.cache_margin)
    seconds = time.time() - t
    cs.save(path)
    seconds_file.write_text(f"{seconds:.1f}\n")
    return cs, seconds


@dataclass
class TrainingData:
    splits: dict[str, list[LabelledItem]]
    crops: dict[str, CropSet]  # split name -> its face regions
    extraction_s: float | None  # what extracting every region cost (None: not recorded)


def prepare_data(cfg: DataConfig, work_dir: Path, only: tuple[str, ...] | None = None) -> TrainingData:
    """Split, write the split CSVs, and extract (or load) the face regions of each split.

    Args:
        cfg: the data settings.
        work_dir: the split CSVs go to ``work_dir/splits``.
        only: extract just these splits (None: all).
    """
    splits = make_splits(cfg)
    write_split_csvs(splits, work_dir / "splits")
    print("split sizes:", {k: len(v) for k, v in splits.items()}, flush=True)
    crops, seconds = {}, []
    for name, items in splits.items():
        if only is not None and name not in only:
            continue
        cs, s = load_or_extract(name, items, 1 if name.startswith("dfdc") else cfg.frames_per_clip, cfg)
        crops[name], seconds = cs, seconds + [s]
        print(f"  {name}: {len(cs.crops)} faces, {np.isnan(cs.landmarks[:, 0, 0]).sum()} without a mesh", flush=True)
    return TrainingData(splits, crops, None if None in seconds else float(sum(seconds)))


def left_out_source(method: str) -> str:
    """The source name of a left-out kind of fake: an FF++ method's ("FaceSwap" -> "ffpp/FaceSwap"), or itself."""
    return method if "/" in method else f"ffpp/{method}"


def is_left_out(item: dict, exclude_methods: tuple[str, ...]) -> bool:
    """Whether a cached item (its dict) is a fake of a kind the run leaves out."""
    return item["label"] == 1 and item["source"] in {left_out_source(m) for m in exclude_methods}
