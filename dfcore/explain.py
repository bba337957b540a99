"""Grad-CAM heat maps: which regions of which frames drove the clip's verdict.

pytorch-grad-cam reads a 5-D input as a 3-D volume, so the sequence model is
wrapped to take the T frames as a batch (T, 3, S, S) and return the clip's
logit once per frame: the gradient of that one clip score then reaches every
frame's activations, and each frame gets its own map.

Hooks are attached to a private copy of the model for each call and released
by ``with GradCAM(...)``, so two sessions sharing one cached detector never
see each other's hooks or gradients.
"""

from __future__ import annotations

import copy
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
from .preprocessing import Box, square_crop_region, to_tensor

LAYERS = ("layer4", "layer3", "layer2")  # ResNeXt stages, deepest (coarsest, most semantic) first
# torch.backends.cudnn.enabled is process-wide, not per thread: two Grad-CAM calls on
# CUDA saving and restoring it out of order could leave cuDNN off for every session.
_CUDNN_FLAG_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExplainOptions:
    layer: str = "layer4"  # which ResNeXt stage Grad-CAM reads; one of LAYERS
    # "verdict" explains what pushed the clip to its verdict (towards fake for a
    # FAKE clip, towards real for a REAL one); "fake" always explains the fake score.
    target: str = "verdict"


class _ClipScorePerFrame(nn.Module):
    """(T, 3, S, S) frames of one clip -> the clip's logit, repeated once per frame: (T, 1)."""

    def __init__(self, model: ResNeXtLSTM) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        clip_logit, _ = self.model(frames.unsqueeze(0))
        return clip_logit.view(1, 1).expand(frames.shape[0], 1)


class _Signed:
    """Grad-CAM target: the logit itself (towards fake) or its negation (towards real)."""

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return self.sign * output[..., 0]


def gradcam_maps(detector: Detector, crops: np.ndarray, towards_fake: bool, layer: str = "layer4") -> np.ndarray:
    """Grad-CAM maps for one clip's face crops.

    Args:
        detector: the loaded detector (not modified).
        crops: (T, S, S, 3) uint8 RGB face crops of one clip, in time order.
        towards_fake: explain the fake score (True) or the real score (False).
        layer: the ResNeXt stage to read, one of :data:`LAYERS`.

    Returns:
        (T, S, S) float32 maps in [0, 1], aligned with the crops.

    Raises:
        ValueError: unknown layer or no crops.
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown Grad-CAM layer {layer!r}; choose one of {LAYERS}")
    if len(crops) == 0:
        raise ValueError("no face crops to explain")
    model = copy.deepcopy(detector.model).eval()  # private copy: hooks and grads stay ours
    for p in model.parameters():
        p.requires_grad_(False)  # gradients are needed for activations only, not weights
    # The input asks for gradients so the activations Grad-CAM hooks do too.
    x = to_tensor(crops, detector.preprocess).to(detector.device).requires_grad_(True)
    targets = [_Signed(1.0 if towards_fake else -1.0)] * len(crops)
    with _without_cudnn(x.device), torch.enable_grad():
        with GradCAM(model=_ClipScorePerFrame(model), target_layers=[getattr(model.backbone, layer)]) as cam:
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
