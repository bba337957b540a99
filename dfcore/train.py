"""Training the default detector on 2 CPU cores (``make train``).

Data (read ../shared/data/README.md): FaceForensics++ c23 clips give sequences
for the LSTM; DFDC face crops give the bulk of single faces for the CNN. Both
go through the inference face pipeline once (``face_cache``), split by identity
so validation shares no person or source video with training.

Generalisation comes from Self-Blended Images (Shiohara & Yamasaki, CVPR 2022):
real faces blended with a jittered copy of themselves (``blend``) are added as
pseudo-fakes, with one blend per sequence so they are temporally consistent;
every sequence is also degraded (``augment``: compression, blur, resizing,
colour). Sequence lengths vary over the dashboard's 10-100 frame range.

The run is seeded, logs progress, checkpoints every ``eval_every`` steps and
resumes from ``work_dir/last.pt``; it ends by calibrating the model (Platt
scaling, threshold at the validation EER) and writing the shipped checkpoint.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .augment import apply_augment, sample_augment
from .blend import apply_blend, sample_blend_params
from .checkpoint import save_checkpoint
from .datasets import LabelledItem, check_disjoint, read_dfdc_faces, read_ffpp, split_by_identity
from .face_cache import CropSet, extract_crops
from .metrics import equal_error_rate, fit_platt, fit_temperature, roc_auc, sigmoid
from .model import ResNeXtLSTM, create_model
from .preprocessing import PreprocessConfig, resize_crop, to_tensor


@dataclass(frozen=True)
class TrainConfig:
    data_root: str = "../shared/data"  # holds ffpp_c23/ and dfdc_faces/
    out: str = "weights/deepfake_lens_compact.pt"  # the shipped checkpoint
    work_dir: str = "runs/train"  # resumable state, logs and split lists (git-ignored)
    cache_dir: str = "cache"  # extracted face crops (git-ignored: derived from research data)
    model_name: str = "resnext_compact_lstm"  # a dfcore.model factory name
    steps: int = 2500  # optimiser steps (~0.7 s each on 2 idle cores; 50 min measured on a shared machine)
    lr: float = 1e-3  # peak AdamW learning rate (cosine decay after warm-up)
    warmup: int = 150  # linear warm-up steps
    weight_decay: float = 1e-4  # AdamW weight decay
    seq_per_step: int = 4  # FF++ sequences per step
    seq_len: tuple[int, int] = (8, 64)  # sequence length range (inference uses 10-100; the model mean-pools)
    images_per_step: int = 32  # single DFDC faces per step (length-1 sequences)
    sbi_fraction: float = 0.5  # share of fake examples that are self-blended pseudo-fakes of real faces
    # Degradation strength (dfcore.augment): a CNN trained from scratch in ~1 h stayed at chance
    # with the full ranges (compression and resizing erase the artefacts it has yet to find).
    augment_strength: float = 0.5
    frame_loss_weight: float = 1.0  # weight of the per-frame head's loss next to the clip loss
    frames_per_clip: int = 64  # frames cached per FF++ clip
    cache_size: int = 160  # side of cached crops; blending/augmenting happens at this size
    val_fraction_ffpp: float = 0.25  # FF++ items held out (whole identity groups)
    val_fraction_dfdc: float = 0.1  # DFDC items held out (whole original-video groups)
    eval_every: int = 250  # steps between validation + checkpoint
    seed: int = 0  # seeds the split, the model and every batch
    threads: int = 2  # torch CPU threads


LOG_EVERY = 25


def ffpp_root(cfg: TrainConfig) -> Path:
    return Path(cfg.data_root) / "ffpp_c23"


def dfdc_root(cfg: TrainConfig) -> Path:
    return Path(cfg.data_root) / "dfdc_faces"


def make_splits(cfg: TrainConfig) -> dict[str, list[LabelledItem]]:
    """Identity-disjoint train/validation splits of both datasets (deterministic for the seed)."""
    ff_train, ff_val = split_by_identity(read_ffpp(ffpp_root(cfg)), cfg.val_fraction_ffpp, cfg.seed)
    dd_train, dd_val = split_by_identity(read_dfdc_faces(dfdc_root(cfg)), cfg.val_fraction_dfdc, cfg.seed)
    check_disjoint(ff_train, ff_val)
    check_disjoint(dd_train, dd_val)
    return {"ffpp_train": ff_train, "ffpp_val": ff_val, "dfdc_train": dd_train, "dfdc_val": dd_val}


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


def load_or_extract(name: str, items: list[LabelledItem], n_frames: int, cfg: TrainConfig,
                    pre: PreprocessConfig) -> tuple[CropSet, float | None]:
    """The split's face crops, from the cache when it matches; and the seconds their extraction took.

    The extraction time is kept beside the cache (``.seconds``) so a run that reuses the
    cache still reports what making it cost; None when that was not recorded.
    """
    path = Path(cfg.cache_dir) / f"{name}_m{pre.margin}_s{cfg.cache_size}_f{n_frames}"
    seconds_file = path.with_suffix(".seconds")
    if path.with_suffix(".npz").exists() and path.with_suffix(".json").exists():
        cs = CropSet.load(path)
        if [m["path"] for m in cs.items] == [str(it.path) for it in items]:
            return cs, float(seconds_file.read_text()) if seconds_file.exists() else None
    print(f"extracting face crops: {name} ({len(items)} items)", flush=True)
    t = time.time()
    cs = extract_crops(items, n_frames, pre, cfg.cache_size)
    seconds = time.time() - t
    cs.save(path)
    seconds_file.write_text(f"{seconds:.1f}\n")
    return cs, seconds


class BatchMaker:
    """Draws one training step's sequences: real, fake and self-blended, degraded, as tensors."""

    def __init__(self, ffpp: CropSet, dfdc: CropSet, cfg: TrainConfig, pre: PreprocessConfig) -> None:
        self.ffpp, self.dfdc, self.cfg, self.pre = ffpp, dfdc, cfg, pre
        self.ff_clips = {lab: [np.flatnonzero(ffpp.item == i) for i, m in enumerate(ffpp.items)
                               if m["label"] == lab and m["n_crops"] > 0] for lab in (0, 1)}
        self.dd_idx = {lab: np.flatnonzero(np.array([dfdc.items[i]["label"] for i in dfdc.item]) == lab)
                       for lab in (0, 1)}

    def _frames(self, cs: CropSet, idx: np.ndarray, blend: bool, rng: np.random.Generator) -> list[np.ndarray]:
        aug = sample_augment(rng, self.cfg.augment_strength)
        bp = sample_blend_params(rng) if blend else None
        out = []
        for i in idx:
            img = cs.crops[i]
            if bp is not None:
                img, _ = apply_blend(img, tuple(int(v) for v in cs.boxes[i]), cs.keypoints[i].tolist(), bp)
            out.append(resize_crop(apply_augment(img, aug, rng), self.pre))
        return out

    def make(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns frames (N, 3, S, S), lengths (B,), clip labels (B,), frame labels (N,)."""
        rng = np.random.default_rng([self.cfg.seed, step])  # per-step seed: resuming reproduces the run
        seqs: list[list[np.ndarray]] = []
        labels: list[int] = []
        lo, hi = self.cfg.seq_len
        for k in range(self.cfg.seq_per_step):
            label = k % 2  # balanced real/fake within every step
            blend = label == 1 and rng.random() < self.cfg.sbi_fraction
            pool = self.ff_clips[0 if blend else label]
            clip = pool[rng.integers(len(pool))]
            t = int(rng.integers(lo, hi + 1))
            # Evenly spread with a random phase, in time order: as inference samples a clip.
            pos = np.floor((np.arange(t) + rng.random()) * len(clip) / t).astype(int).clip(0, len(clip) - 1)
            seqs.append(self._frames(self.ffpp, clip[pos], blend, rng))
            labels.append(label)
        for k in range(self.cfg.images_per_step):
            label = k % 2
            blend = label == 1 and rng.random() < self.cfg.sbi_fraction
            pool = self.dd_idx[0 if blend else label]
            seqs.append(self._frames(self.dfdc, pool[rng.integers(len(pool))][None], blend, rng))
            labels.append(label)
        frames = [f for s in seqs for f in s]
        lengths = torch.tensor([len(s) for s in seqs])
        clip_y = torch.tensor(labels, dtype=torch.float32)
        frame_y = torch.repeat_interleave(clip_y, lengths)
        return to_tensor(np.stack(frames), self.pre), lengths, clip_y, frame_y


def forward_packed(model: ResNeXtLSTM, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the CNN on only the real frames, then the heads on the padded (B, Tmax, F) sequences.

    Returns clip logits (B,) and the per-frame logits of the real frames (N,).
    """
    feats = model.features(frames)
    b, t_max = len(lengths), int(lengths.max())
    padded = feats.new_zeros(b, t_max, feats.shape[1])
    mask = torch.arange(t_max)[None, :] < lengths[:, None]
    padded[mask] = feats
    clip_logits, frame_logits = model.heads(padded, lengths)
    return clip_logits, frame_logits[mask]


@torch.inference_mode()
def validation_logits(model: ResNeXtLSTM, cs: CropSet, pre: PreprocessConfig, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clip logits and labels per item (``n_frames`` evenly spread), plus per-frame logits and labels."""
    model.eval()
    clip_l, clip_y, frame_l, frame_y = [], [], [], []
    for i, m in enumerate(cs.items):
        idx = np.flatnonzero(cs.item == i)
        if len(idx) == 0:
            continue
        pos = np.linspace(0, len(idx) - 1, min(n_frames, len(idx))).round().astype(int)
        x = to_tensor(np.stack([resize_crop(cs.crops[j], pre) for j in idx[pos]]), pre)
        c, f = model(x.unsqueeze(0))
        clip_l.append(float(c[0]))
        clip_y.append(m["label"])
        frame_l.extend(f[0].tolist())
        frame_y.extend([m["label"]] * len(pos))
    return np.array(clip_l), np.array(clip_y), np.array(frame_l), np.array(frame_y)


def validate(model: ResNeXtLSTM, ffpp_val: CropSet, dfdc_val: CropSet, pre: PreprocessConfig) -> dict:
    ff = validation_logits(model, ffpp_val, pre, 40)
    dd = validation_logits(model, dfdc_val, pre, 1)
    out = {"ffpp_auc_40": roc_auc(ff[1], ff[0]), "ffpp_frame_auc": roc_auc(ff[3], ff[2]),
           "dfdc_auc": roc_auc(dd[1], dd[0]), "dfdc_frame_auc": roc_auc(dd[3], dd[2])}
    out["score"] = float(np.nanmean([out["ffpp_auc_40"], out["dfdc_auc"]]))
    return out


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training and write the calibrated checkpoint to ``cfg.out``.

    Args:
        cfg: the run's settings.

    Returns:
        The path of the written checkpoint.

    Raises:
        DatasetError: the data folders do not have the expected layout.
    """
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    pre = PreprocessConfig()
    t_start = time.time()

    splits = make_splits(cfg)
    write_split_csvs(splits, work / "splits")
    print("split sizes:", {k: len(v) for k, v in splits.items()}, flush=True)
    ffpp_train, s1 = load_or_extract("ffpp_train", splits["ffpp_train"], cfg.frames_per_clip, cfg, pre)
    ffpp_val, s2 = load_or_extract("ffpp_val", splits["ffpp_val"], cfg.frames_per_clip, cfg, pre)
    dfdc_train, s3 = load_or_extract("dfdc_train", splits["dfdc_train"], 1, cfg, pre)
    dfdc_val, s4 = load_or_extract("dfdc_val", splits["dfdc_val"], 1, cfg, pre)
    # What extracting the crops cost (also when this run reused the cache); None: not recorded.
    extract_s = None if None in (s1, s2, s3, s4) else s1 + s2 + s3 + s4
    prep_s = time.time() - t_start
    print(f"crops: ffpp train {len(ffpp_train.crops)}, val {len(ffpp_val.crops)}; "
          f"dfdc train {len(dfdc_train.crops)}, val {len(dfdc_val.crops)} ({prep_s:.0f}s)", flush=True)

    model = create_model(cfg.model_name)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best, history, train_s = 0, -1.0, [], 0.0
    last = work / "last.pt"
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        if state["config"] == _jsonable(cfg):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            step, best, history, train_s = state["step"], state["best"], json.loads(state["history"]), state["train_s"]
            print(f"resumed at step {step}", flush=True)
        else:
            print("work_dir holds a run with other settings: starting afresh", flush=True)

    batches = BatchMaker(ffpp_train, dfdc_train, cfg, pre)
    t_seg, loss_sum, n_sum = time.time(), 0.0, 0
    while step < cfg.steps:
        model.train()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        frames, lengths, clip_y, frame_y = batches.make(step)
        clip_logits, frame_logits = forward_packed(model, frames, lengths)
        loss = F.binary_cross_entropy_with_logits(clip_logits, clip_y) + \
            cfg.frame_loss_weight * F.binary_cross_entropy_with_logits(frame_logits, frame_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        loss_sum, n_sum = loss_sum + loss.item(), n_sum + 1
        if step % LOG_EVERY == 0:
            el = time.time() - t_seg
            print(f"step {step}/{cfg.steps} loss {loss_sum / n_sum:.4f} lr {lr_at(step, cfg):.2e} "
                  f"{el / n_sum:.2f}s/step eta {(cfg.steps - step) * el / n_sum / 60:.0f}min", flush=True)
            train_s += el
            t_seg, loss_sum, n_sum = time.time(), 0.0, 0
        if step % cfg.eval_every == 0 or step == cfg.steps:
            metrics = validate(model, ffpp_val, dfdc_val, pre)
            history.append({"step": step, **metrics})
            print(f"validation @ {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
            if metrics["score"] > best:
                best = metrics["score"]
                torch.save({k: v.clone() for k, v in model.state_dict().items()}, work / "best_model.pt")
            torch.save({"config": _jsonable(cfg), "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "step": step, "best": best, "history": json.dumps(history), "train_s": train_s},
                       work / "last.pt.tmp")
            os.replace(work / "last.pt.tmp", last)

    model.load_state_dict(torch.load(work / "best_model.pt", map_location="cpu", weights_only=True))
    return export(model, cfg, pre, ffpp_val, dfdc_val, history, splits, train_s, extract_s)


def export(model: ResNeXtLSTM, cfg: TrainConfig, pre: PreprocessConfig, ffpp_val: CropSet, dfdc_val: CropSet,
           history: list[dict], splits: dict[str, list[LabelledItem]], train_s: float,
           extract_s: float | None) -> Path:
    """Calibrate on validation and write the shipped checkpoint."""
    model.eval()
    # Clips are what users analyse: the clip calibration and threshold are fitted on the FF++
    # validation clips (at every slider frame count); single DFDC faces would dominate them by number.
    clip_l, clip_y, frame_l, frame_y = [], [], [], []
    for n in (10, 20, 40, 60, 80, 100):
        c, cy, f, fy = validation_logits(model, ffpp_val, pre, n)
        clip_l.append(c), clip_y.append(cy), frame_l.append(f), frame_y.append(fy)
    _, _, f, fy = validation_logits(model, dfdc_val, pre, 1)
    frame_l.append(f), frame_y.append(fy)
    clip_l, clip_y = np.concatenate(clip_l), np.concatenate(clip_y)
    frame_l, frame_y = np.concatenate(frame_l), np.concatenate(frame_y)
    temperature, bias = fit_platt(clip_l, clip_y)
    frame_temperature = fit_temperature(frame_l, frame_y)
    _, threshold = equal_error_rate(clip_y, sigmoid(clip_l / temperature + bias))
    best = max(history, key=lambda h: h["score"])
    info = {
        "trained_on": {
            "datasets": ["FaceForensics++ c23 (Rossler et al., ICCV 2019)", "DFDC face crops (Dolhansky et al., 2020)"],
            "terms": "research use only; the data is not redistributed with this project",
            "split": "identity-disjoint: FF++ fakes grouped with both identities, DFDC fakes with their original",
            "sizes": {k: len(v) for k, v in splits.items()},
            "synthesised": "self-blended pseudo-fakes (dfcore.blend) of real training faces, "
                           f"{cfg.sbi_fraction:.0%} of fake examples",
        },
        "train_config": _jsonable(cfg),
        "command": "make train  (python -m dfcore train --data ../shared/data)",
        "crop_extraction_s": None if extract_s is None else round(extract_s, 1),
        "training_s": round(train_s, 1),
        "best_step": best["step"],
        "validation_history": history,
        "calibration": {"method": "clip: Platt scaling (temperature and bias) on the FF++ validation clips at "
                                  "10-100 frames; frames: temperature scaling on all validation frames. Fitted on "
                                  "the split the metrics are reported on, so calibration metrics are optimistic",
                        "temperature": temperature, "bias": bias, "frame_temperature": frame_temperature},
        "threshold_rule": "equal-error-rate threshold of the calibrated clip probability on the FF++ validation clips",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {cfg.threads} threads",
    }
    out = Path(cfg.out)
    digest = save_checkpoint(out, model, cfg.model_name, pre, threshold=float(threshold),
                             temperature=temperature, bias=bias, frame_temperature=frame_temperature, info=info)
    print(f"wrote {out} (sha256 {digest[:12]}…), threshold {threshold:.3f}, T {temperature:.3f}", flush=True)
    return out


def _jsonable(cfg: TrainConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


if __name__ == "__main__":  # pragma: no cover - use `python -m dfcore train`
    sys.exit("use: python -m dfcore train")
