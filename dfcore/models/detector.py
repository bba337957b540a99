"""A loaded detector: a checkpoint on a device, ready to score face crops.

Load it once (the dashboard keeps it in ``st.cache_resource``) and share it:
scoring runs under ``torch.inference_mode`` and never changes the model, so
concurrent analyses are safe; Grad-CAM works on its own copy (see explain.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import Checkpoint, load_checkpoint
from .feature_memory import CropOutputs, FeatureMemory
from ..decision import DecisionRule
from ..errors import NoWeightsInstalledError
from ..evaluation.metrics import sigmoid
from .model_registry import resolve_model
from .model import features_after, inference_backbone, stage_output
from .onnx_runtime import OnnxBackbone, resolve_runtime
from ..vision.preprocessing import to_tensor

# Crops per CNN call. On 2 CPU cores 16 is as fast as 50 in ONNX Runtime (0.39 s per 100 Lite0 crops, batch
# sizes 8-50 taken in turn) and faster in PyTorch (0.50 s against 0.65 s), and it holds a third of the
# activations: 50 took the peak memory of a 100-frame 4K analysis to 2.15 GB, 16 keeps it under 2 GB.
BATCH = 16


def default_weights_path() -> Path:
    """The default model's checkpoint (``$DFCORE_WEIGHTS`` when set).

    Raises:
        NoWeightsInstalledError: no model is installed.
    """
    return resolve_model(None).path


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Scores:
    clip_probability: float  # calibrated probability that the clip is fake
    frame_probabilities: np.ndarray  # (T,) calibrated per-frame fake probabilities
    clip_logit: float  # raw clip logit, before calibration
    # The output of backbone stage ``stage`` for each crop (T, C, h, w), on the CPU, when
    # asked for: Grad-CAM starts from it instead of running the CNN a second time.
    stage_maps: torch.Tensor | None = None
    stage: str | None = None  # which stage stage_maps is the output of


class Detector:
    """A checkpoint's model on a device.

    Args:
        checkpoint: a loaded :class:`~dfcore.models.checkpoint.Checkpoint`.
        device: "cpu", "cuda", ...; None picks CUDA when present.
        runtime: what runs the per-frame CNN: "onnx" (ONNX Runtime, CPU only) or "torch";
            None: ``$DFCORE_RUNTIME`` when set, else onnx on the CPU when ONNX Runtime is installed,
            else torch. The LSTM, the heads and Grad-CAM's backward pass always run in PyTorch.

    Raises:
        ValueError: an unknown runtime, or onnx on a GPU.
        OptionalDependencyError: onnx asked for and ONNX Runtime (or, for a first export, onnx) not installed.
        RuntimeError: the exported graph disagrees with PyTorch (never seen; use runtime="torch").
    """

    def __init__(self, checkpoint: Checkpoint, device: str | None = None, runtime: str | None = None) -> None:
        self.checkpoint = checkpoint
        self.device = pick_device(device)
        self.runtime = resolve_runtime(runtime, self.device)
        self.model = checkpoint.model.to(self.device).eval()
        # An inference-only model: no weight ever needs a gradient, and Grad-CAM's
        # backward pass (activations only) must not write .grad on a shared model.
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._fast_backbone = inference_backbone(self.model.backbone)  # scoring only; see model.py
        self._onnx = None
        if self.runtime == "onnx":
            self._onnx = OnnxBackbone(self.model.backbone, checkpoint.preprocess.input_size, checkpoint.sha256)
            # Built (exported on the first load of a checkpoint, then read from the cache) and checked now,
            # so that the first analysis is timed like the others; Grad-CAM's stage graphs are built when asked for.
            self._onnx.session(None)
        self.preprocess = checkpoint.preprocess
        self.threshold = checkpoint.threshold  # t_fake for videos (the rule has the rest)
        self.rule = DecisionRule.from_checkpoint_info(checkpoint.info, checkpoint.threshold)

    @property
    def name(self) -> str:
        return self.checkpoint.model_name

    @property
    def installed_name(self) -> str:
        """The name users choose this model by: its file's stem (``weights/lite0_lstm_th.pt`` -> ``lite0_lstm_th``).

        Two installed models can share an architecture (``lite0_lstm_th`` is ``lite0_lstm``'s network with other
        weights), so ``name`` alone does not say which one speaks. A checkpoint not read from a file has only that.
        """
        return Path(self.checkpoint.path).stem if self.checkpoint.path else self.name

    @property
    def sha256(self) -> str:
        return self.checkpoint.sha256

    def features(self, crops: np.ndarray) -> torch.Tensor:
        """CNN features of uint8 RGB face crops (T, S, S, 3) -> (T, F), computed in batches."""
        return self._features(crops, None)[0]

    def _features(self, crops: np.ndarray, keep_stage: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features, and the output of ``keep_stage`` on the CPU (None when not asked for)."""
        out, kept = [], []
        # no_grad rather than inference_mode: kept maps become Grad-CAM's inputs, and
        # inference tensors cannot be used in a graph that records gradients.
        with torch.no_grad():
            for i in range(0, len(crops), BATCH):
                x = to_tensor(crops[i : i + BATCH], self.preprocess)
                if self._onnx is not None:
                    out_i, kept_i = self._onnx_features(x.numpy(), keep_stage)
                    out.append(out_i)
                    if kept_i is not None:
                        kept.append(kept_i)
                    continue
                x = x.to(self.device)
                x = x.contiguous(memory_format=torch.channels_last)
                if keep_stage is None:
                    out.append(self._fast_backbone(x))
                else:
                    maps = stage_output(self._fast_backbone, x, keep_stage)
                    kept.append(maps.cpu())
                    out.append(features_after(self._fast_backbone, maps, keep_stage))
        feats = torch.cat(out) if out else torch.empty(0)
        return feats, (torch.cat(kept) if kept else None)

    def _remembered_features(self, crops: np.ndarray, keep_stage: str | None,
                             memory: FeatureMemory) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`_features`, running the CNN only on the crops ``memory`` lacks and keeping their outputs."""
        memory.check_owner(self.sha256, self.runtime)
        keys = memory.keys(crops, keep_stage)
        known = memory.get(keys)
        missing = [i for i, v in enumerate(known) if v is None]
        if missing:
            feats, maps = self._features(crops[missing], keep_stage)
            for j, i in enumerate(missing):
                # Copies: a view would keep its whole batch alive in the memory.
                known[i] = CropOutputs(feats[j].clone(), None if maps is None else maps[j].clone())
                memory.put(keys[i], known[i])
        if not known:  # no crops: the shapes of an empty batch, as without a memory
            return self._features(crops, keep_stage)
        feats = torch.stack([v.features for v in known])
        maps = torch.stack([v.stage_maps for v in known]) if keep_stage is not None else None
        return feats, maps

    def _onnx_features(self, x: np.ndarray, keep_stage: str | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One batch through ONNX Runtime: features, and ``keep_stage``'s maps when asked for.

        With a stage kept, ONNX Runtime runs up to that stage and the few later stages run in
        PyTorch: one graph asked for both the maps and the features would lose ONNX Runtime's fusions.
        """
        if keep_stage is None:
            return torch.from_numpy(self._onnx.features(x)), None
        maps = torch.from_numpy(self._onnx.stage_output(x, keep_stage))
        return features_after(self._fast_backbone, maps.contiguous(memory_format=torch.channels_last),
                              keep_stage), maps

    def score_features(self, feats: torch.Tensor) -> Scores:
        """Calibrated clip and per-frame probabilities from (T, F) features of one clip."""
        with torch.inference_mode():
            clip_logit, frame_logits = self.model.heads(feats.unsqueeze(0).to(self.device))
        clip = float(clip_logit[0])
        frames = frame_logits[0].float().cpu().numpy()
        ck = self.checkpoint
        return Scores(
            clip_probability=float(sigmoid(clip / ck.temperature + ck.bias)),
            frame_probabilities=sigmoid(frames, ck.frame_temperature),
            clip_logit=clip,
        )

    def image_probability(self, scores: Scores, is_crop: bool = False) -> float:
        """A still image's calibrated fake probability: its own calibration (a face crop's) when the rule has one."""
        platt = self.rule.calibration(is_crop)
        if platt is None:
            return scores.clip_probability
        temperature, bias = platt
        return float(sigmoid(scores.clip_logit / temperature + bias))

    def score(self, crops: np.ndarray, keep_stage: str | None = None, memory: FeatureMemory | None = None) -> Scores:
        """Score one clip's face crops.

        Args:
            crops: (T, S, S, 3) uint8 RGB face crops, in time order.
            keep_stage: a backbone stage ("layer1".."layer4") whose output to keep
                in the result, for :func:`dfcore.models.explain.gradcam_maps`; None keeps nothing.
            memory: CNN outputs of crops this detector scored before (for the same
                ``keep_stage``); only the crops it lacks go through the CNN, and it keeps
                theirs. The scores are the same with or without it.

        Returns:
            The calibrated :class:`Scores`.

        Raises:
            ValueError: ``memory`` holds another detector's outputs.
        """
        feats, maps = self._features(crops, keep_stage) if memory is None else \
            self._remembered_features(crops, keep_stage, memory)
        scores = self.score_features(feats)
        if keep_stage is not None:
            scores.stage_maps, scores.stage = maps, keep_stage
        return scores


def load_detector(weights: str | os.PathLike | None = None, device: str | None = None,
                  threads: int | None = None, model: str | None = None, runtime: str | None = None) -> Detector:
    """Load a detector from a checksummed checkpoint.

    Args:
        weights: a ``.pt`` checkpoint with a ``SHA256SUMS`` entry beside it; it
            takes precedence over ``model``.
        device: "cpu" or "cuda"; None picks CUDA when present.
        threads: CPU threads for torch (process-wide); None leaves torch's default.
        model: an installed model's name (``python -m dfcore models``); None: the
            default model (or ``$DFCORE_WEIGHTS``).
        runtime: "onnx" or "torch" for the per-frame CNN; None: onnx when installed (see :class:`Detector`).

    Returns:
        A ready :class:`Detector`.

    Raises:
        NoWeightsInstalledError: no weights given and none installed.
        UnknownModelError: no installed model has that name.
        WeightsError: the file is tampered with, foreign, or does not match this code.
        ValueError, OptionalDependencyError: a runtime that cannot run here (see :class:`Detector`).
    """
    if threads:
        torch.set_num_threads(int(threads))
    if weights:
        return Detector(load_checkpoint(Path(weights)), device=device, runtime=runtime)
    entry = resolve_model(model)
    if not entry.path.is_file():
        raise NoWeightsInstalledError(
            entry.path, "no trained weights are installed",
            "Train them with `make train`, or pass a checkpoint with --weights. "
            "dfcore never presents an untrained model as a detector.",
        )
    return Detector(load_checkpoint(entry.path), device=device, runtime=runtime)
