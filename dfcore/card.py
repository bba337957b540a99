"""The model card: measured, never typed in.

``python -m dfcore card`` (``make evaluate``) rebuilds the identity-disjoint
validation split the checkpoint was trained with, runs ``evaluate`` on it with
the full inference pipeline, and writes ``weights/model_card.json`` (read by the
dashboard) and ``weights/MODEL_CARD.md`` (rendered from that JSON).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import replace
from pathlib import Path

import torch

from . import __version__
from .detector import Detector, load_detector
from .evaluate import DEFAULT_FRAME_COUNTS, evaluate, format_table
from .train import TrainConfig, make_splits, write_split_csvs

LIMITATIONS = [
    "Trained on a small amount of data (FaceForensics++ c23 subset: 106 clips; DFDC: one face crop per video) on "
    "2 CPU cores: expect errors on other datasets, other manipulation methods, heavy compression and low light.",
    "The verdict is about the one tracked face (the largest, most persistent one); other faces are not analysed.",
    "Clips without a detectable face give NO_FACE, not REAL.",
    "Audio, lip-sync and fully synthetic (GAN/diffusion) videos without a face swap are out of scope.",
    "Probabilities are calibrated on the validation split only; on other data they are indicative, not exact.",
    "A detector is evidence, not proof: use it together with provenance checks and human judgement.",
]

DATA_TERMS = (
    "FaceForensics++ (Rössler et al., ICCV 2019) and the DFDC dataset (Dolhansky et al., 2020, "
    "arXiv:2006.07397) are released for research use only. Neither the data nor clips or frames cut from it "
    "are part of this project; only weights trained on it are. Use these weights for research."
)


def build_card(weights: str | os.PathLike | None, data_root: str, out_dir: str | os.PathLike,
               frame_counts: tuple[int, ...] = DEFAULT_FRAME_COUNTS, work_dir: str = "runs/card") -> dict:
    """Evaluate the checkpoint on its validation split and write the card files.

    Args:
        weights: the checkpoint (None: the installed one).
        data_root: folder holding ffpp_c23/ and dfdc_faces/.
        out_dir: where model_card.json and MODEL_CARD.md are written.
        frame_counts: frame counts for the FF++ clips.
        work_dir: where the split CSVs and full evaluation reports go.

    Returns:
        The card as a dict.
    """
    det = load_detector(weights)
    cfg = _train_config(det, data_root)
    splits = make_splits(cfg)
    csvs = write_split_csvs(splits, Path(work_dir) / "splits")
    progress = _printer()
    print(f"evaluating {len(splits['ffpp_val'])} FF++ validation clips at {list(frame_counts)} frames", flush=True)
    ffpp = evaluate(splits["ffpp_val"], frame_counts, det, progress)
    print(format_table(ffpp), flush=True)
    print(f"evaluating {len(splits['dfdc_val'])} DFDC validation face crops", flush=True)
    dfdc = evaluate(splits["dfdc_val"], (1,), det, progress)
    print(format_table(dfdc), flush=True)
    for name, rep in (("ffpp_val", ffpp), ("dfdc_val", dfdc)):
        (Path(work_dir) / f"{name}_report.json").write_text(json.dumps(rep, indent=2))
    card = _card(det, cfg, ffpp, dfdc, {k: str(v) for k, v in csvs.items()})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (out / "MODEL_CARD.md").write_text(render_markdown(card))
    return card


def _train_config(det: Detector, data_root: str) -> TrainConfig:
    """The split settings the checkpoint was trained with, so validation is the same held-out data."""
    saved = det.checkpoint.info.get("train_config", {})
    cfg = TrainConfig(data_root=data_root)
    keep = {k: saved[k] for k in ("seed", "val_fraction_ffpp", "val_fraction_dfdc") if k in saved}
    return replace(cfg, **keep)


def _printer():
    def show(done: int, total: int, path: str) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"  {done}/{total}", flush=True)
    return show


def _metrics(by_frames: dict) -> dict:
    return {k: {m: v for m, v in row.items() if m != "reliability"} for k, row in by_frames.items()}


def _card(det: Detector, cfg: TrainConfig, ffpp: dict, dfdc: dict, csvs: dict) -> dict:
    ck = det.checkpoint
    info = ck.info
    n_params = sum(p.numel() for p in ck.model.parameters())
    return {
        "name": "Deepfake Lens compact ResNeXt-LSTM",
        "file": Path(ck.path).name,
        "sha256": ck.sha256,
        "dfcore_version": __version__,
        "architecture": {
            "model_name": ck.model_name,
            "summary": "ResNeXt (grouped-conv bottleneck) CNN per face crop -> per-frame head; "
                       "bidirectional LSTM (batch_first) over the sequence -> masked mean -> clip head",
            "parameters": n_params,
            "input_size": ck.preprocess.input_size,
            "model_config": ck.model.config.to_dict(),
            "preprocessing": ck.preprocess.to_dict(),
            "face_detector": "MediaPipe face detection 0.10.21 (full-range, then short-range), subject tracking",
        },
        "decision": {
            "threshold": ck.threshold,
            "threshold_rule": info.get("threshold_rule"),
            "temperature": ck.temperature,
            "bias": ck.bias,
            "frame_temperature": ck.frame_temperature,
            "calibration": info.get("calibration", {}).get("method"),
        },
        "training": {
            "data": info.get("trained_on"),
            "command": info.get("command"),
            "training_s": info.get("training_s"),
            "crop_extraction_s": info.get("crop_extraction_s"),
            "best_step": info.get("best_step"),
            "machine": info.get("machine"),
            "config": info.get("train_config"),
            "validation_history": info.get("validation_history"),
        },
        "data_terms": DATA_TERMS,
        "evaluation": {
            "command": "make evaluate  (python -m dfcore card --data ../shared/data)",
            "split": "the training run's identity-disjoint validation split (seed and fractions from the checkpoint)",
            "split_csvs": csvs,
            "date": dt.date.today().isoformat(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
                       f"{torch.get_num_threads()} threads",
        },
        "metrics": {
            "ffpp_c23_val": {"unit": "video", "by_frames": _metrics(ffpp["by_frames"])},
            "dfdc_faces_val": {"unit": "face crop (one frame)", "by_frames": _metrics(dfdc["by_frames"])},
        },
        "calibration": {
            "ffpp_c23_val_40_frames": ffpp["by_frames"].get("40", {}).get("reliability", []),
            "dfdc_faces_val": dfdc["by_frames"].get("1", {}).get("reliability", []),
        },
        "limitations": LIMITATIONS,
    }


def _fmt(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _extraction(seconds: float | None) -> str:
    if seconds is None:
        return "a face-crop extraction whose time this run did not record: it reused cache/"
    return f"{seconds:.0f} s face-crop extraction"


def render_markdown(card: dict) -> str:
    """MODEL_CARD.md from the card JSON (so the two can never disagree)."""
    arch, dec, tr, ev = card["architecture"], card["decision"], card["training"], card["evaluation"]
    lines = [
        f"# Model card: {card['name']}",
        "",
        f"*Generated by `{ev['command']}` on {ev['date']} — do not edit by hand.*",
        "",
        f"- File: `weights/{card['file']}` (sha256 `{card['sha256']}`), dfcore {card['dfcore_version']}",
        f"- Architecture: {arch['summary']}; {arch['parameters']:,} parameters; "
        f"{arch['input_size']}×{arch['input_size']} px face crops (margin {arch['preprocessing']['margin']})",
        f"- Faces: {arch['face_detector']}",
        f"- Decision: FAKE when the calibrated clip probability ≥ **{dec['threshold']:.3f}** "
        f"({dec['threshold_rule']}); calibration: {dec['calibration']} "
        f"(clip: T = {dec['temperature']:.3f}, bias {dec.get('bias', 0.0):+.3f}; frame: T = {dec['frame_temperature']:.3f})",
        "",
        "## Training data and terms",
        "",
    ]
    data = tr.get("data") or {}
    for d in data.get("datasets", []):
        lines.append(f"- {d}")
    lines += [
        f"- Split: {data.get('split')}; sizes {data.get('sizes')}",
        f"- Synthesised: {data.get('synthesised')}",
        "",
        card["data_terms"],
        "",
        f"Trained with `{tr.get('command')}` in {_fmt(tr.get('training_s'))} s of optimisation "
        f"(+ {_extraction(tr.get('crop_extraction_s'))}) on {tr.get('machine')}; "
        f"best validation step {tr.get('best_step')}.",
        "",
        "## Metrics (validation split, measured by the command above)",
        "",
        "FaceForensics++ c23, video level:",
        "",
        "| frames | AUC | accuracy | EER | log-loss | ECE | frame AUC | s/video | scored | no face |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, m in card["metrics"]["ffpp_c23_val"]["by_frames"].items():
        lines.append(f"| {k} | {_fmt(m['auc'])} | {_fmt(m['accuracy'])} | {_fmt(m['eer'])} | {_fmt(m['log_loss'])} | "
                     f"{_fmt(m['ece'])} | {_fmt(m['frame_auc'])} | {_fmt(m['seconds_per_video'])} | "
                     f"{m['n_scored']} | {m['n_no_face']} |")
    lines += ["", "DFDC face crops (one frame each):", "",
              "| AUC (clip head) | frame AUC (frame head) | accuracy | EER | log-loss | ECE | scored | no face |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in card["metrics"]["dfdc_faces_val"]["by_frames"].values():
        lines.append(f"| {_fmt(m['auc'])} | {_fmt(m['frame_auc'])} | {_fmt(m['accuracy'])} | {_fmt(m['eer'])} | "
                     f"{_fmt(m['log_loss'])} | {_fmt(m['ece'])} | {m['n_scored']} | {m['n_no_face']} |")
    lines += ["", "Reliability (FF++ validation, 40 frames):", "",
              "| bin | count | mean predicted | fraction fake |", "|---|---:|---:|---:|"]
    for b in card["calibration"]["ffpp_c23_val_40_frames"]:
        if b.get("count"):
            lines.append(f"| {b['lower']:.1f}–{b['upper']:.1f} | {b['count']} | {_fmt(b['mean_predicted'])} | "
                         f"{_fmt(b['fraction_fake'])} |")
    lines += ["", "## Limitations", ""] + [f"- {x}" for x in card["limitations"]] + [""]
    return "\n".join(lines)
