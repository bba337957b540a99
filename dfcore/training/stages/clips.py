"""The clip stage: the LSTM and the clip head on sequences of the frozen CNN's features.

Sequences are 10-100 long, as the dashboard's slider, from clips whose frames share one degradation and one blend,
half real and half fake; the clip score is a correction to the mean frame score (``ModelConfig.clip_from_frames``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...models.model import ResNeXtLSTM
from ...synth.blend import sample_blend_params
from ...vision.preprocessing import PreprocessConfig
from ..augment import sample_augment
from ..recipe import RunConfig
from ..sources.face_cache import CropSet
from ..sources.splits import is_left_out
from .model_input import as_input, camera, codec_pass, model_face, run_preprocess, train_blend
from .schedule import Progress, lr_at
from .teacher import Teacher, student_crops


SLIDER_FRAMES = (10, 20, 40, 60, 80, 100)  # the frame counts the dashboard offers and the card measures


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
            cam_rng: np.random.Generator | None, codec_rng: np.random.Generator | None) -> None:
        aug = sample_augment(rng, run.augment_strength)
        bp = sample_blend_params(rng, train_blend(run)) if blend else None
        cam = camera(cam_rng, run)  # one camera per sequence, as one filmed it
        codec = codec_pass(codec_rng, run)  # and one codec pass, as one uploaded it
        crops = np.stack([model_face(cs, int(i), crop_pre, rng, 0.0, bp, aug, cam, codec) for i in idx])
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
        codec_rng = np.random.default_rng([run.seed, 8, v]) if run.codec_prob > 0 else None
        for cs, are_clips in sets:
            if are_clips:
                for k, meta in enumerate(cs.items):
                    idx = np.flatnonzero(cs.item == k)
                    if len(idx) == 0 or is_left_out(meta, run.exclude_methods):
                        continue
                    add(cs, idx, meta["label"], False, rng, cam_rng, codec_rng)
                    if meta["label"] == 0:
                        add(cs, idx, 1, True, rng, cam_rng, codec_rng)
                continue
            for i in rng.choice(len(cs.crops), size=min(run.dfdc_clip_faces, len(cs.crops)), replace=False):
                label = cs.items[cs.item[i]]["label"]
                add(cs, np.array([i]), label, False, rng, cam_rng, codec_rng)
                if label == 0 and rng.random() < 0.5:
                    add(cs, np.array([i]), 1, True, rng, cam_rng, codec_rng)
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
