"""Footage degraded the way the web and webcams degrade it: a real clip must not look fake for that, nor a fake
clip look real.

A social-media re-upload is downscaled and re-encoded at a low bitrate; a webcam adds sensor noise and, in a dim
room, a dark, gain-boosted picture. These are made with a real video codec (H.264 through PyAV), not a JPEG of one
frame: a codec's blocking, smoothing and motion artefacts are what the detector meets in the wild.

Used to build the calibration and validation pools (clips re-encoded as whole videos), the compression check
(:mod:`dfcore.evaluation.compression`) and the GPU training bundle (face-region sequences round-tripped through
the codec).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from ..media.video_writer import write_h264
from ..vision.resolution import lose_resolution


@dataclass(frozen=True)
class WebDegradation:
    name: str  # names the degraded copy's file
    scale: float  # frames are shrunk to this fraction and back (resolution lost on the way)
    crf: int  # H.264 constant rate factor of the re-encode: 23 is good quality, 35+ a low-bitrate re-upload
    gain: float  # multiplies brightness: below 1 is a dim room (the camera's gain then lifts the noise)
    noise_sigma: float  # Gaussian sensor noise, 0-255 levels (after the gain)


# The two kinds of real footage the shipped model misread as fake (issue 28): re-uploads and webcams.
WEB_DEGRADATIONS = (
    WebDegradation("reupload", scale=0.5, crf=36, gain=1.0, noise_sigma=0.0),
    WebDegradation("webcam_dim", scale=0.75, crf=30, gain=0.55, noise_sigma=5.0),
)


def degrade_frame(image: np.ndarray, d: WebDegradation, rng: np.random.Generator) -> np.ndarray:
    """One (H, W, 3) uint8 RGB frame with ``d``'s scaling, light and noise (the codec comes after, on the clip)."""
    out = lose_resolution(image, d.scale)
    if d.gain != 1.0 or d.noise_sigma > 0:
        f = out.astype(np.float32) * d.gain
        if d.noise_sigma > 0:
            f += rng.normal(0.0, d.noise_sigma, f.shape).astype(np.float32)
        out = np.clip(f, 0, 255).astype(np.uint8)
    return out


def h264_roundtrip(frames: Sequence[np.ndarray], crf: int, fps: float = 25.0) -> list[np.ndarray]:
    """The frames after an H.264 encode at ``crf`` and a decode: what a re-upload does to them.

    Args:
        frames: (H, W, 3) uint8 RGB frames of one size, in order (odd sides lose a row or column).
        crf: the constant rate factor (higher: fewer bits, more artefacts).
        fps: the frame rate to encode at (the rate control spends bits per second).

    Returns:
        The decoded frames, as many as were given.
    """
    with tempfile.TemporaryDirectory(prefix="dfcore-h264-") as tmp:
        path = write_h264(frames, Path(tmp) / "clip.mp4", fps, crf=crf)
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def write_degraded_clip(src: str | os.PathLike, dst: str | os.PathLike, d: WebDegradation, seed: int,
                        max_side: int = 640, max_seconds: float = 5.0) -> Path:
    """Write a degraded copy of a real clip: its first ``max_seconds``, at most ``max_side`` px, degraded, re-encoded.

    Args:
        src: the real clip.
        dst: the .mp4 to write (its folder is made).
        d: the degradation.
        seed: seeds the noise.
        max_side: the longer side the clip is first brought down to (web copies are rarely larger).
        max_seconds: how much of the clip to keep (enough for a verdict's evenly spread samples).

    Returns:
        ``dst``.
    """
    rng = np.random.default_rng(seed)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # An interrupted write never leaves a file under the real name; two writers of one copy never share a part file.
    part = dst.with_name(f"{dst.stem}.{os.getpid()}.part.mp4")
    with av.open(str(src)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = (degrade_frame(_fit(f, max_side), d, rng) for f in _first_frames(container, fps * max_seconds))
        write_h264(frames, part, fps, crf=d.crf)
    os.replace(part, dst)
    return dst


def _first_frames(container: av.container.InputContainer, n: float) -> Iterator[np.ndarray]:
    for i, frame in enumerate(container.decode(video=0)):
        if i >= n:
            return
        yield frame.to_ndarray(format="rgb24")


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return image
    return cv2.resize(image, (round(w * s) // 2 * 2, round(h * s) // 2 * 2), interpolation=cv2.INTER_AREA)
