"""Training-time camera degradations: what a webcam or a phone in a dim room does to a face.

The recipe's degradations (``dfcore.training.augment``) are what the web does after capture (JPEG, resizing,
colour); these come before it, at capture: a dark picture lifted by the sensor's gain (and its noise), motion
blur of a moving head, and a low-resolution sensor scaled up. Real footage that looks like this must not look
fake, so reals and fakes get them alike. One :class:`WebcamParams` is drawn per sequence, as the camera is one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..vision.resolution import lose_resolution


@dataclass(frozen=True)
class WebcamParams:
    gain: float  # exposure: multiplies the linear light (below 1: a dim room); 1: none
    noise_sigma: float  # sensor noise in 0-255 levels, added before the gain lifts the picture back; 0: none
    chroma_noise: float  # share of that noise drawn per channel (colour speckle) rather than shared (luma)
    motion_px: float  # length of a linear motion blur, in pixels of the crop; 0: none
    motion_angle_deg: float  # its direction
    sensor_scale: float  # the picture is captured at this fraction of its size and scaled up; 1: none


def sample_webcam(rng: np.random.Generator, prob: float) -> WebcamParams:
    """Draw camera degradations; each kind is applied with chance ``prob`` (0 gives the identity)."""
    on = lambda: rng.random() < prob  # noqa: E731
    dim = on()
    return WebcamParams(
        gain=float(rng.uniform(0.3, 0.7)) if dim else 1.0,
        noise_sigma=float(rng.uniform(2.0, 6.0)) if dim or on() else 0.0,
        chroma_noise=float(rng.uniform(0.0, 0.6)),
        motion_px=float(rng.uniform(2.0, 7.0)) if on() else 0.0,
        motion_angle_deg=float(rng.uniform(0.0, 180.0)),
        sensor_scale=float(rng.uniform(0.35, 0.7)) if on() else 1.0,
    )


def apply_webcam(img: np.ndarray, p: WebcamParams, rng: np.random.Generator) -> np.ndarray:
    """Apply the camera degradations to one (H, W, 3) uint8 RGB image; returns a new uint8 image."""
    out = img
    out = lose_resolution(out, p.sensor_scale)
    if p.motion_px > 0:
        out = cv2.filter2D(out, -1, _motion_kernel(p.motion_px, p.motion_angle_deg))
    if p.gain != 1.0 or p.noise_sigma > 0:
        # Dim capture: less light reaches the sensor (x gain), its noise is added, and the camera's gain
        # multiplies both back up, so the noise grows as the light falls; the picture stays a little dark.
        f = out.astype(np.float32) * p.gain
        if p.noise_sigma > 0:
            h, w = f.shape[:2]
            luma = rng.normal(0.0, 1.0, (h, w, 1)).astype(np.float32)
            chroma = rng.normal(0.0, 1.0, (h, w, 3)).astype(np.float32)
            f += p.noise_sigma * p.gain * ((1 - p.chroma_noise) * luma + p.chroma_noise * chroma)
        lift = (1.0 / p.gain) ** 0.7 if p.gain != 1.0 else 1.0
        out = np.clip(f * lift, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)


def _motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    size = int(np.ceil(length)) | 1  # odd, so the kernel is centred
    k = np.zeros((size, size), np.float32)
    c = size // 2
    dx, dy = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    for t in np.linspace(-length / 2, length / 2, 4 * size):
        k[int(round(c + t * dy)), int(round(c + t * dx))] = 1.0
    return k / k.sum()
