"""The frame stage: the CNN and the per-frame head on single faces, where nearly all of training's time goes.

Each batch holds reals, a self-blend of each of the first reals (Self-Blended Images, Shiohara & Yamasaki, CVPR
2022: the same face blended with a jittered copy of itself, so the only difference the model can learn is the
blending) and real fakes. Progress is monitored on the calibration split, never on test; with
``RunConfig.select_best`` the best monitoring point's weights are the ones kept.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...evaluation.metrics import roc_auc
from ...models.model import STAGES, ResNeXtLSTM
from ...synth.blend import sample_blend_params
from ...vision.preprocessing import PreprocessConfig, crop_face
from ..augment import apply_augment, sample_augment
from ..recipe import RunConfig
from ..sources.face_cache import CropSet
from ..sources.splits import is_left_out
from .model_input import as_input, camera, codec_pass, frame_logits, model_face, run_preprocess, train_blend
from .schedule import Progress, lr_at
from .teacher import Teacher, student_crops


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
        codec_rng = np.random.default_rng([r.seed, 7, step]) if r.codec_prob > 0 else None
        n_real = r.batch // 2
        n_sbi = int(round((r.batch - n_real) * r.sbi_fraction))
        faces, labels = [], []
        reals = [self.pools.draw(rng, 0) for _ in range(n_real)]
        for cs, i in reals:
            faces.append(model_face(cs, i, self.pre, rng, r.augment_strength, webcam=camera(cam_rng, r),
                                    codec=codec_pass(codec_rng, r)))
            labels.append(0)
        for cs, i in reals[:n_sbi]:  # paired: the same face, blended with itself
            blend = sample_blend_params(rng, train_blend(r))
            faces.append(model_face(cs, i, self.pre, rng, r.augment_strength, blend, webcam=camera(cam_rng, r),
                                    codec=codec_pass(codec_rng, r)))
            labels.append(1)
        for _ in range(r.batch - n_real - n_sbi):
            cs, i = self.pools.draw(rng, 1)
            faces.append(model_face(cs, i, self.pre, rng, r.augment_strength, webcam=camera(cam_rng, r),
                                    codec=codec_pass(codec_rng, r)))
            labels.append(1)
        return np.stack(faces), torch.tensor(labels, dtype=torch.float32)


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
