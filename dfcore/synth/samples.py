"""Synthetic sample clips, made from a public-domain photo, so the project ships no one's face without consent.

The photo is NASA's portrait of astronaut Eileen Collins, released into the
public domain and shipped inside the scikit-image wheel (``skimage.data.astronaut``),
so nothing is downloaded. A virtual camera drifts over it (slow pan, zoom and a
slight roll, plus sensor noise) to make a "real" clip -- real in that the face
is not manipulated -- and the same footage is manipulated with
:mod:`dfcore.synth.blend` to make two "fake" ones. Every name says "synthetic": these
are demonstrations of the pipeline, not evidence about real footage.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .blend import BlendOptions, apply_blend, sample_blend_params, warp_face_region
from ..errors import NoFaceFoundError
from ..vision.faces import Detection, FaceDetector
from ..media.video_writer import write_h264

REAL_CLIP = "synthetic_real_astronaut.mp4"
SELFBLEND_CLIP = "synthetic_fake_selfblend_astronaut.mp4"
WARP_CLIP = "synthetic_fake_warp_astronaut.mp4"
REAL_STILL = "synthetic_real_astronaut.jpg"


@dataclass(frozen=True)
class SampleOptions:
    duration_s: float = 4.0  # length of each clip, seconds
    fps: float = 25.0  # frame rate of each clip
    size: tuple[int, int] = (512, 384)  # (width, height) of the frames, pixels; even, for H.264
    seed: int = 0  # same seed, same clips (noise and the self-blend's parameters)
    crf: int = 23  # x264 quality (lower is better): the three clips total ~0.3 MB at 23, so detail is not traded away
    zoom: tuple[float, float] = (1.2, 1.35)  # camera zoom on the photo at the start and end of the clip
    roll_deg: float = 1.5  # max camera roll, degrees (one slow sway over the clip)
    noise: float = 1.5  # std of per-frame Gaussian sensor noise, 0-255 levels
    warp_strength: float = 1.0  # jaw movement of the warp clip (see dfcore.synth.blend.warp_face_region)
    # Full-strength blends only: a sample whose blend ratio came out at 0.25
    # would look real and defeat the purpose of a demonstration.
    blend: BlendOptions = BlendOptions(blend_ratios=(1.0,), brightness=8.0, rgb_shift=8.0)
    jpeg_quality: int = 90  # quality of the still image


def generate_samples(out_dir: str | os.PathLike, options: SampleOptions | None = None) -> list[Path]:
    """Write the synthetic sample clips and still into ``out_dir``.

    Files, all made from the same camera motion over the astronaut photo:
    ``synthetic_real_astronaut.mp4`` (face untouched),
    ``synthetic_fake_selfblend_astronaut.mp4`` (face self-blended with one
    fixed set of :class:`dfcore.synth.blend.BlendParams`, so the fake is temporally
    consistent), ``synthetic_fake_warp_astronaut.mp4`` (mouth and jaw warped
    as if talking) and ``synthetic_real_astronaut.jpg`` (the real clip's middle
    frame). Existing files of those names are replaced; nothing else is touched.

    Args:
        out_dir: the folder to write into; created if missing.
        options: clip length, size, seed and so on.

    Returns:
        The paths written, in the order above.

    Raises:
        ValueError: ``options.size`` has an odd side.
        NoFaceFoundError: the face detector missed the face in a clip's first
            frame (only with options that frame it out, e.g. a large zoom).
    """
    opts = options or SampleOptions()
    if opts.size[0] % 2 or opts.size[1] % 2:
        raise ValueError(f"size must be even for H.264, got {opts.size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    photo = astronaut_photo()
    # One draw for the whole clip: a face swap alters every frame the same way.
    params = sample_blend_params(np.random.default_rng([opts.seed, 1]), opts.blend)

    def self_blended(frame: np.ndarray, face: Detection, t: float) -> np.ndarray:
        return apply_blend(frame, face.box, face.keypoints, params)[0]

    def warped(frame: np.ndarray, face: Detection, t: float) -> np.ndarray:
        return warp_face_region(frame, face.box, face.keypoints, t, opts.warp_strength)

    paths = [write_h264(_camera_frames(photo, opts), out / REAL_CLIP, opts.fps, opts.crf)]
    with FaceDetector() as detector:
        for name, manipulate in ((SELFBLEND_CLIP, self_blended), (WARP_CLIP, warped)):
            frames = _manipulated_frames(_camera_frames(photo, opts), detector, manipulate, opts.fps, out / name)
            paths.append(write_h264(frames, out / name, opts.fps, opts.crf))
    paths.append(_write_jpeg(camera_frame(photo, _n_frames(opts) // 2, opts), out / REAL_STILL, opts.jpeg_quality))
    return paths


def astronaut_photo() -> np.ndarray:
    """scikit-image's public-domain astronaut photo (512x512 RGB), the source of every synthetic clip."""
    # Imported here: scikit-image is needed only to make samples, not to analyse clips.
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def _n_frames(opts: SampleOptions) -> int:
    return max(1, int(round(opts.duration_s * opts.fps)))


def _camera_frames(photo: np.ndarray, opts: SampleOptions) -> Iterator[np.ndarray]:
    """The "real" footage, one frame at a time."""
    for i in range(_n_frames(opts)):
        yield camera_frame(photo, i, opts)


def camera_frame(photo: np.ndarray, index: int, opts: SampleOptions) -> np.ndarray:
    """Frame ``index`` of a virtual camera drifting over the photo, with sensor noise.

    The motion is eased (zero speed at both ends) and slow -- a handheld
    camera held still, not a pan shot -- so the face stays fully in view. The
    noise is seeded by (seed, frame), so any frame can be remade on its own.
    """
    w, h = opts.size
    n = _n_frames(opts)
    s = index / max(1, n - 1)  # progress through the clip, 0..1
    ease = 0.5 - 0.5 * math.cos(math.pi * s)
    ph, pw = photo.shape[:2]
    # The view centre drifts down and right across the face and shoulders, in photo pixels.
    cx = pw * (0.45 + 0.07 * ease)
    cy = ph * (0.33 + 0.05 * ease)
    # Zoom so that 1.0 fits the photo's width to the frame's.
    zoom = (w / pw) * (opts.zoom[0] + (opts.zoom[1] - opts.zoom[0]) * ease)
    roll = math.radians(opts.roll_deg * math.sin(2 * math.pi * s))
    c, si = zoom * math.cos(roll), zoom * math.sin(roll)
    # frame = zoom * R(roll) * (photo - centre) + frame centre
    matrix = np.array([[c, si, w / 2 - c * cx - si * cy], [-si, c, h / 2 + si * cx - c * cy]], np.float32)
    frame = cv2.warpAffine(photo, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    if opts.noise > 0:
        rng = np.random.default_rng([opts.seed, 0, index])
        noisy = frame.astype(np.float32) + rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(opts.noise)
        frame = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    return frame


def _manipulated_frames(
    frames: Iterator[np.ndarray],
    detector: FaceDetector,
    manipulate: Callable[[np.ndarray, Detection, float], np.ndarray],
    fps: float,
    path: Path,
) -> Iterator[np.ndarray]:
    """Find the face in each frame and manipulate it there, as a face-swap tool would.

    A frame where the detector misses the face reuses the previous frame's
    detection: the camera moves slowly, so it is still close.
    """
    face: Detection | None = None
    for i, frame in enumerate(frames):
        found = detector.detect(frame)
        face = found[0] if found else face
        if face is None:
            raise NoFaceFoundError(path, f"no face found in frame {i} of the synthetic footage",
                                   "Use a smaller zoom in SampleOptions.")
        yield manipulate(frame, face, i / fps)


def _write_jpeg(image_rgb: np.ndarray, path: Path, quality: int) -> Path:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"{path}: JPEG encoding failed")
    # imencode + write_bytes instead of imwrite: works with any characters in the path.
    path.write_bytes(data.tobytes())
    return path


__all__ = ["REAL_CLIP", "SELFBLEND_CLIP", "WARP_CLIP", "REAL_STILL", "SampleOptions", "astronaut_photo", "camera_frame",
           "generate_samples"]
