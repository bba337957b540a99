"""Long, large clips: does an analysis cost what its frame count asks for, not what the clip holds?

``python -m dfcore bench`` runs this after the per-stage table: it generates a
60 s 3840x2160 (4K) clip and a 10 s one, encoded as phone cameras do (H.264,
a keyframe every second, B-frames), and analyses each at a few frame counts,
every analysis in a fresh ``python -m dfcore analyze`` process, so that its
peak resident memory (the process's own ``ru_maxrss``, model and libraries
included) is measured on its own.

The footage is the shipped samples' virtual camera over the public-domain
astronaut photo, with fresh sensor noise in every frame so that the bitstream
is as costly to decode as real footage (noise does not compress).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .samples import astronaut_photo

LONG_SIZE = (3840, 2160)  # 4K UHD
LONG_FPS = 30.0
LONG_GOP = 30  # a keyframe every second, as phone cameras write them
LONG_DURATIONS_S = (10.0, 60.0)  # the same footage, short and long
NOISE_SIGMA = 4  # grey levels of sensor noise; the bench prints the bitrate it gives
LONG_CRF = 18  # x264 quality (lower: more bits)


@dataclass(frozen=True)
class LongRun:
    clip: str  # e.g. "60 s 3840x2160"
    n_frames: int  # frames analysed
    analysis_s: float  # the analysis's own total (decode + faces + crop + model + Grad-CAM)
    stages_s: dict[str, float]  # the analysis's per-stage seconds
    process_s: float  # wall time of the whole process (Python start, imports, model load included)
    peak_rss_mb: float  # the process's peak resident memory, MB

    def to_dict(self) -> dict:
        return {"clip": self.clip, "n_frames": self.n_frames, "analysis_s": round(self.analysis_s, 3),
                "stages_s": {k: round(v, 3) for k, v in self.stages_s.items()},
                "process_s": round(self.process_s, 3), "peak_rss_mb": round(self.peak_rss_mb, 1)}


def make_long_clip(work_dir: Path, duration_s: float, size: tuple[int, int] = LONG_SIZE, fps: float = LONG_FPS,
                   gop: int = LONG_GOP) -> Path:
    """Generate (once; reused after) a synthetic face clip of the given length and size.

    Args:
        work_dir: folder for the clip (git-ignored runs/bench by default).
        duration_s: length in seconds.
        size: (width, height), even.
        fps: frame rate.
        gop: frames between keyframes.

    Returns:
        The clip's path. About 0.1-0.2 s per 4K frame to make on 2 cores.
    """
    w, h = size
    path = Path(work_dir) / f"long_{w}x{h}_{fps:g}fps_{duration_s:g}s_gop{gop}.mp4"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    n = max(1, int(round(duration_s * fps)))
    photo = astronaut_photo()
    rng = np.random.default_rng(0)
    # One noise field larger than the frame; each frame takes a different window of it, so
    # consecutive frames never share their noise (which the encoder would otherwise exploit).
    pad = 64
    noise = rng.integers(0, 2 * NOISE_SIGMA + 1, (h + pad, w + pad, 3), dtype=np.uint8)
    try:
        with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": str(LONG_CRF), "preset": "veryfast", "g": str(gop), "keyint_min": str(gop), "bf": "2"}
            for i in range(n):
                frame = _camera(photo, i / max(1, n - 1), size)
                dy, dx = (i * 37) % pad, (i * 53) % pad
                frame = cv2.subtract(cv2.add(frame, noise[dy : dy + h, dx : dx + w]), NOISE_SIGMA)
                video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
                video_frame.pts = i
                container.mux(stream.encode(video_frame))
            container.mux(stream.encode(None))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _camera(photo: np.ndarray, s: float, size: tuple[int, int]) -> np.ndarray:
    """A slow, eased drift and zoom over the face (progress s in 0..1)."""
    w, h = size
    ph, pw = photo.shape[:2]
    ease = 0.5 - 0.5 * math.cos(math.pi * s)
    zoom = (w / pw) * (1.2 + 0.2 * ease)
    cx, cy = pw * (0.45 + 0.07 * ease), ph * (0.33 + 0.05 * ease)
    matrix = np.array([[zoom, 0.0, w / 2 - zoom * cx], [0.0, zoom, h / 2 - zoom * cy]], np.float32)
    return cv2.warpAffine(photo, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def analyse_in_process(path: Path, n_frames: int, label: str, threads: int | None = None,
                       weights: str | None = None) -> LongRun:
    """One ``python -m dfcore analyze --explain --json`` run in a fresh process, timed and measured.

    Raises:
        RuntimeError: the analysis failed (its stderr is in the message).
    """
    cmd = [sys.executable, "-m", "dfcore", "analyze", str(path), "--frames", str(n_frames), "--explain", "--json"]
    if threads:
        cmd += ["--threads", str(threads)]
    if weights:
        cmd += ["--weights", weights]
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        # wait4, not wait: it returns this child's own resource usage, peak RSS included.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"analysis of {path} at {n_frames} frames failed: {stderr.strip()[-500:]}")
    result = json.loads(stdout)
    stages = {k: float(v) for k, v in result["timings_s"].items() if k != "total"}
    # ru_maxrss is in KiB on Linux.
    return LongRun(label, n_frames, float(result["timings_s"]["total"]), stages, elapsed, usage.ru_maxrss / 1024.0)
