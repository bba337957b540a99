"""Saving and loading detector checkpoints.

A checkpoint is a plain dict of tensors and primitive values, loaded with
``torch.load(weights_only=True)`` so no code is ever unpickled. It carries
everything needed to rebuild exactly the model that was trained: the model
config, the preprocessing config, the label order, the decision threshold and
calibration temperature, and a description of the training data and metrics.

Every weights folder has a ``SHA256SUMS`` manifest; a file whose hash is not
listed there is refused, so a tampered or swapped file never runs.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..training.sources.items import LABELS  # the one label order: index 1 ("fake") is what every logit is about
from ..errors import WeightsError
from .model import ModelConfig, ResNeXtLSTM
from ..vision.preprocessing import PreprocessConfig

FORMAT_VERSION = 1  # bump when the checkpoint's layout changes; older files are refused
MANIFEST_NAME = "SHA256SUMS"


@dataclass
class Checkpoint:
    model: ResNeXtLSTM  # in eval mode
    model_name: str  # e.g. "resnext_compact_lstm"
    preprocess: PreprocessConfig  # the crop and tensor rule the model was trained with
    threshold: float  # calibrated fake probability at or above which a clip is FAKE
    temperature: float  # clip logits are divided by this before the sigmoid (calibration)
    bias: float  # ... and this is added (Platt scaling): p = sigmoid(logit / temperature + bias)
    frame_temperature: float  # the same for per-frame logits
    sha256: str  # of the file it was loaded from ("" when not loaded from a file)
    path: str = ""  # the file it was loaded from
    info: dict = field(default_factory=dict)  # training data, command, time, metrics: for the model card


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(
    path: str | os.PathLike,
    model: ResNeXtLSTM,
    model_name: str,
    preprocess: PreprocessConfig,
    *,
    threshold: float = 0.5,
    temperature: float = 1.0,
    bias: float = 0.0,
    frame_temperature: float = 1.0,
    info: dict | None = None,
    float16_weights: bool = False,
) -> str:
    """Write a checkpoint and record its sha256 in the folder's manifest.

    Args:
        path: the ``.pt`` file to write.
        model: the model; its config is stored with its weights.
        model_name: the factory name it was created with.
        preprocess: the preprocessing it was trained with.
        threshold: decision threshold on the calibrated clip probability.
        temperature: calibration temperature for clip logits.
        bias: calibration bias for clip logits, added after dividing by the temperature.
        frame_temperature: calibration temperature for per-frame logits.
        info: JSON-like description (training data, metrics, ...).
        float16_weights: store the learnt weights as float16 (half the file; a GPU run's checkpoints must fit
            its 16 MiB transfer limit). Buffers (BatchNorm statistics) stay as they are. Loading needs nothing
            special: ``load_state_dict`` copies them into the float32 model.

    Returns:
        The file's sha256.
    """
    from .. import __version__

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": FORMAT_VERSION,
        "dfcore_version": __version__,
        "model_name": model_name,
        "model_config": model.config.to_dict(),
        "preprocess_config": preprocess.to_dict(),
        "labels": list(LABELS),
        "threshold": float(threshold),
        "temperature": float(temperature),
        "bias": float(bias),
        "frame_temperature": float(frame_temperature),
        "info": info or {},
        "state_dict": _state_dict(model, float16_weights),
    }
    tmp = p.with_name(p.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, p)  # never leave a half-written checkpoint under the real name
    digest = sha256_file(p)
    _update_manifest(p.parent / MANIFEST_NAME, p.name, digest)
    return digest


def _state_dict(model: ResNeXtLSTM, float16_weights: bool) -> dict[str, torch.Tensor]:
    weights = {name for name, _ in model.named_parameters()}
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu().contiguous()
        out[k] = v.half() if float16_weights and k in weights and v.is_floating_point() else v
    return out


def load_checkpoint(path: str | os.PathLike, verify: bool = True) -> Checkpoint:
    """Load a checkpoint, rebuilding exactly the model it was saved from.

    Args:
        path: a ``.pt`` file written by :func:`save_checkpoint`.
        verify: check the file's sha256 against the ``SHA256SUMS`` beside it.

    Returns:
        The :class:`Checkpoint`, its model in eval mode on the CPU.

    Raises:
        WeightsError: missing file, hash not in the manifest, not a dfcore
            checkpoint, or a format / label order / architecture this code does not match.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(p, "weights file not found")
    digest = sha256_file(p)
    if verify:
        _verify_manifest(p, digest)
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types here (pickle, zip, runtime); all mean "not a checkpoint"
        raise WeightsError(p, f"is not a loadable weights-only checkpoint ({type(e).__name__})",
                           "Only checkpoints written by dfcore are accepted.") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise WeightsError(p, "is not a dfcore checkpoint")
    if payload["format_version"] != FORMAT_VERSION:
        raise WeightsError(p, f"has checkpoint format {payload['format_version']}, this dfcore reads {FORMAT_VERSION}",
                           "Retrain or use a matching dfcore version.")
    if tuple(payload.get("labels", ())) != LABELS:
        raise WeightsError(p, f"has label order {payload.get('labels')}, expected {list(LABELS)}")
    try:
        cfg = ModelConfig.from_dict(payload["model_config"])
        preprocess = PreprocessConfig.from_dict(payload["preprocess_config"])
        model = ResNeXtLSTM(cfg)
        model.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise WeightsError(p, f"does not match this code's model ({str(e).splitlines()[0][:200]})") from None
    model.eval()
    return Checkpoint(
        model=model,
        model_name=str(payload["model_name"]),
        preprocess=preprocess,
        threshold=float(payload["threshold"]),
        temperature=float(payload["temperature"]),
        bias=float(payload.get("bias", 0.0)),
        frame_temperature=float(payload.get("frame_temperature", 1.0)),
        sha256=digest,
        path=str(p),
        info=dict(payload.get("info", {})),
    )


def read_manifest(manifest: Path) -> dict[str, str]:
    """``sha256sum``-format manifest -> {file name: sha256}."""
    if not manifest.is_file():
        return {}
    out = {}
    for line in manifest.read_text().splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def _update_manifest(manifest: Path, name: str, digest: str) -> None:
    entries = read_manifest(manifest)
    entries[name] = digest
    manifest.write_text("".join(f"{h}  {n}\n" for n, h in sorted(entries.items())))


def _verify_manifest(p: Path, digest: str) -> None:
    manifest = p.parent / MANIFEST_NAME
    expected = read_manifest(manifest).get(p.name)
    if expected is None:
        raise WeightsError(p, f"is not listed in {manifest}", "Only weights with a sha256 manifest entry are loaded.")
    if expected != digest:
        raise WeightsError(p, "sha256 does not match the manifest: the file was changed or replaced",
                           "Restore the original file (git checkout weights/) or retrain.")
