"""Training-time image degradations: what videos in the wild do to a face.

One :class:`AugmentParams` is drawn per sequence and applied to each of its
frames, so a clip stays internally consistent (a real video is compressed,
blurred or recoloured as a whole), while different clips differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..vision.resolution import lose_resolution


@dataclass(frozen=True)
class AugmentParams:
    flip: bool  # mirror left-right
    jpeg_quality: int | None  # re-encode as JPEG at this quality; None: no re-encode
    blur_sigma: float  # Gaussian blur sigma in pixels; 0: none
    down_scale: float  # shrink to this fraction and back (resolution loss); 1: none
    brightness: float  # added to pixel values (0-255 scale)
    contrast: float  # multiplies deviations from the mean
    saturation: float  # multiplies HSV saturation
    noise_sigma: float  # Gaussian noise sigma (0-255 scale); 0: none


def sample_augment(rng: np.random.Generator, strength: float = 1.0) -> AugmentParams:
    """Draw degradations; ``strength`` 0 gives the identity, 1 the full ranges."""
    on = lambda p: rng.random() < p * strength  # noqa: E731
    return AugmentParams(
        flip=bool(rng.random() < 0.5),
        jpeg_quality=int(rng.integers(35, 96)) if on(0.6) else None,
        blur_sigma=float(rng.uniform(0.3, 1.5)) if on(0.25) else 0.0,
        down_scale=float(rng.uniform(0.4, 0.9)) if on(0.3) else 1.0,
        brightness=float(rng.uniform(-25, 25)) if on(0.5) else 0.0,
        contrast=float(rng.uniform(0.75, 1.3)) if on(0.5) else 1.0,
        saturation=float(rng.uniform(0.6, 1.4)) if on(0.4) else 1.0,
        noise_sigma=float(rng.uniform(1, 6)) if on(0.15) else 0.0,
    )


def apply_augment(img: np.ndarray, p: AugmentParams, rng: np.random.Generator) -> np.ndarray:
    """Apply the degradations to one (H, W, 3) uint8 RGB image."""
    out = img[:, ::-1] if p.flip else img
    out = out.astype(np.float32)
    if p.brightness or p.contrast != 1.0:
        mean = out.mean()
        out = (out - mean) * p.contrast + mean + p.brightness
    out = np.clip(out, 0, 255).astype(np.uint8)
    if p.saturation != 1.0:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 1] = np.clip(hsv[..., 1] * p.saturation, 0, 255)
        out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    if p.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), p.blur_sigma)
    out = lose_resolution(out, p.down_scale)
    if p.noise_sigma > 0:
        out = np.clip(out + rng.normal(0, p.noise_sigma, out.shape), 0, 255).astype(np.uint8)
    if p.jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, p.jpeg_quality])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)  # channel order is irrelevant: encoded as-is, decoded as-is
    return np.ascontiguousarray(out)
