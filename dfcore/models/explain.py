"""Grad-CAM heat maps: which regions of which frames drove the clip's verdict.

The gradient of the one clip score reaches every frame's activations at the
chosen ResNeXt stage, and each frame gets its own map. The scoring pass has
already computed those activations (``Detector.score(..., keep_stage=layer)``),
so Grad-CAM starts from them: a small "tail" module takes the stage's output
(T, C, h, w) as its input, passes it through an identity layer that
pytorch-grad-cam hooks, then through the later stages, the pooling and the
heads, and returns the clip's logit once per frame (pytorch-grad-cam expects
one output per input). The maps are the same as hooking the stage inside the
full model, without a second pass through the CNN; for the default stage
(layer4) the backward pass touches only the LSTM and the heads.

The hooks live on the tail, built for each call and released by
``with GradCAM(...)``; the shared detector's model gets none, and its weights
never require gradients, so sessions sharing one cached detector never see
each other's hooks or gradients.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn as nn
from pytorch_grad_cam import GradCAM

from .detector import Detector
from .model import ResNeXtLSTM
from ..vision.preprocessing import Box, square_crop_region

LAYERS = ("layer4", "layer3", "layer2")  # ResNeXt stages, deepest (coarsest, most semantic) first
# torch.backends.cudnn.enabled is process-wide, not per thread: two Grad-CAM calls on
# CUDA saving and restoring it out of order could leave cuDNN off for every session.
_CUDNN_FLAG_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExplainOptions:
    layer: str = "layer4"  # which ResNeXt stage Grad-CAM reads; one of LAYERS
    # The maps always explain the fake score (what raised it most): a map of what "pushed towards real"
    # would be read as evidence of authenticity, which no detector of this kind can give.


class _ClipScoreFromStage(nn.Module):
    """(T, C, h, w) output of one backbone stage for one clip -> the clip's logit per frame: (T, 1)."""

    def __init__(self, model: ResNeXtLSTM, stage: str) -> None:
        super().__init__()
        self.model = model
        self.stage = stage
        self.hooked = nn.Identity()  # Grad-CAM's target layer: it sees the stage's output

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        acts = self.hooked(maps)
        feats = self.model.features_after(acts, self.stage)
        clip_logit, _ = self.model.heads(feats.unsqueeze(0))
        return clip_logit.view(1, 1).expand(maps.shape[0], 1)


class _CropSizedGradCAM(GradCAM):
    """GradCAM whose maps are resized to the face crop, not to its input (a small activation map)."""

    def __init__(self, crop_size: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.crop_size = crop_size

    def get_target_width_height(self, input_tensor: torch.Tensor) -> tuple[int, int]:
        return self.crop_size, self.crop_size


class _Signed:
    """Grad-CAM target: the logit itself (towards fake) or its negation (towards real)."""

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return self.sign * output[..., 0]


def gradcam_maps(detector: Detector, crops: np.ndarray, towards_fake: bool, layer: str = "layer4",
                 stage_maps: torch.Tensor | None = None) -> np.ndarray:
    """Grad-CAM maps for one clip's face crops.

    Args:
        detector: the loaded detector (not modified).
        crops: (T, S, S, 3) uint8 RGB face crops of one clip, in time order.
        towards_fake: explain the fake score (True) or the real score (False).
        layer: the ResNeXt stage to read, one of :data:`LAYERS`.
        stage_maps: the output of ``layer`` for these crops, as kept by
            ``detector.score(crops, keep_stage=layer)``; None computes it here.

    Returns:
        (T, S, S) float32 maps in [0, 1], aligned with the crops.

    Raises:
        ValueError: unknown layer, no crops, or stage maps that do not match the crops.
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown Grad-CAM layer {layer!r}; choose one of {LAYERS}")
    if len(crops) == 0:
        raise ValueError("no face crops to explain")
    if stage_maps is None:
        stage_maps = detector.score(crops, keep_stage=layer).stage_maps
    if stage_maps is None or stage_maps.ndim != 4 or stage_maps.shape[0] != len(crops):
        shape = None if stage_maps is None else tuple(stage_maps.shape)
        raise ValueError(f"stage maps of shape {shape} do not belong to {len(crops)} crops")
    # A fresh leaf that records gradients: the hooked identity's output then does too.
    x = stage_maps.detach().to(detector.device).clone().requires_grad_(True)
    targets = [_Signed(1.0 if towards_fake else -1.0)] * len(crops)
    tail = _ClipScoreFromStage(detector.model, layer)
    with _without_cudnn(x.device), torch.enable_grad():
        with _CropSizedGradCAM(detector.preprocess.input_size, model=tail, target_layers=[tail.hooked]) as cam:
            maps = cam(input_tensor=x, targets=targets)
    return np.nan_to_num(maps.astype(np.float32), nan=0.0)


@contextmanager
def _without_cudnn(device: torch.device) -> Iterator[None]:
    """cuDNN off for this block on CUDA (its LSTM refuses backward in eval mode; Grad-CAM needs it).

    On the CPU nothing is touched; on CUDA one block at a time, so the global flag is restored in order.
    """
    if device.type != "cuda":
        yield
        return
    with _CUDNN_FLAG_LOCK, torch.backends.cudnn.flags(enabled=False):
        yield


def overlay(image_rgb: np.ndarray, heat: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] heat map (same H, W as the image) onto an RGB image with the JET colour map."""
    colour = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32)
    out = (1.0 - opacity) * image_rgb.astype(np.float32) + opacity * colour
    return np.clip(out, 0, 255).astype(np.uint8)


def map_to_frame(heat: np.ndarray, box: Box, margin: float, frame_shape: tuple[int, ...]) -> np.ndarray:
    """Place a crop-aligned heat map back onto the full frame (zeros outside the crop).

    Args:
        heat: (S, S) map aligned with the crop cut by ``crop_face(frame, box, ...)``.
        box: the face box the crop was cut around.
        margin: the crop margin used (the preprocessing config's).
        frame_shape: the frame's shape (H, W[, C]).

    Returns:
        (H, W) float32 map.
    """
    h, w = frame_shape[:2]
    x0, y0, side, _ = square_crop_region(box, margin)
    full = np.zeros((h, w), np.float32)
    resized = cv2.resize(heat.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if fx1 > fx0 and fy1 > fy0:
        full[fy0:fy1, fx0:fx1] = resized[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return full
