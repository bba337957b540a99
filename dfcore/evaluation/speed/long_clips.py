"""Long, large clips: does an analysis cost what its frame count asks for, not what the clip holds?

``python -m dfcore bench`` runs this after the per-stage table: it generates a
60 s 3840x2160 (4K) clip and a 10 s one, encoded as phone cameras do (H.264,
a keyframe every second, B-frames), and analyses each at a few frame counts,
every analysis in a fresh process, so that its peak resident memory (model
and libraries included) is measured on its own.

The footage is the shipped samples' virtual camera (:func:`dfcore.synth.samples.camera_frame`)
over the public-domain astronaut photo, with fresh sensor noise in every frame so that the bitstream
is as costly to decode as real footage (noise does not compress).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ...synth.samples import SampleOptions, astronaut_photo, camera_frame

LONG_SIZE = (3840, 2160)  # 4K UHD
LONG_FPS = 30.0
LONG_GOP = 30  # a keyframe every second, as phone cameras write them
LONG_DURATIONS_S = (10.0, 60.0)  # the same footage, short and long
NOISE_SIGMA = 4  # grey levels of sensor noise; the bench prints the bitrate it gives
LONG_CRF = 18  # x264 quality (lower: more bits)


@dataclass(frozen=True)
class LongRun:
    clip: str  # what the table shows, e.g. "60 s 4K, 15 Mbit/s"
    duration_s: float  # the clip's length, seconds
    n_frames: int  # frames analysed
    analysis_s: float  # the analysis's own total (decode + faces + crop + model + Grad-CAM)
    stages_s: dict[str, float]  # the analysis's per-stage seconds
    process_s: float  # wall time of the whole process (Python start, imports, model load included)
    peak_rss_mb: float  # the process's peak resident memory, MB

    def to_dict(self) -> dict:
        return {"clip": self.clip, "duration_s": self.duration_s, "n_frames": self.n_frames, "analysis_s": round(self.analysis_s, 3),
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
        The clip's path. About 0.2 s per 4K frame to make on 2 cores.
    """
    w, h = size
    path = Path(work_dir) / f"long_{w}x{h}_{fps:g}fps_{duration_s:g}s_gop{gop}.mp4"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    n = max(1, int(round(duration_s * fps)))
    photo = astronaut_photo()
    # The shipped samples' virtual camera; its Gaussian noise costs ~0.3 s a 4K frame, so noise is added below.
    camera = SampleOptions(duration_s=duration_s, fps=fps, size=size, noise=0.0)
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
                frame = camera_frame(photo, i, camera)
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


def analyse_in_process(path: Path, n_frames: int, label: str, duration_s: float, threads: int | None = None,
                       weights: str | None = None) -> LongRun:
    """One analysis (Grad-CAM included) in a fresh ``python -m dfcore.evaluation.speed.long_clips`` process, timed and measured.

    The child reports its own peak resident memory (``VmHWM``): a forked
    child's ``ru_maxrss`` would still count the parent's memory from before
    its ``exec`` (the bench holds the seed model by then).

    Raises:
        RuntimeError: the analysis failed (its stderr is in the message).
    """
    cmd = [sys.executable, "-m", "dfcore.evaluation.speed.long_clips", str(path), str(n_frames)]
    if threads:
        cmd += ["--threads", str(threads)]
    if weights:
        cmd += ["--weights", weights]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"analysis of {path} at {n_frames} frames failed: {proc.stderr.strip()[-500:]}")
    report = json.loads(proc.stdout)
    stages = {k: float(v) for k, v in report["timings_s"].items() if k != "total"}
    return LongRun(label, duration_s, n_frames, float(report["timings_s"]["total"]), stages, elapsed,
                   report["peak_rss_mb"])


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB, since its ``exec`` (Linux ``VmHWM``; else ``ru_maxrss``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    """The child of :func:`analyse_in_process`: load the detector, analyse once, print timings and peak memory."""
    import argparse

    from ...analyze import analyze_video
    from ...models.detector import load_detector

    parser = argparse.ArgumentParser(prog="python -m dfcore.evaluation.speed.long_clips")
    parser.add_argument("video")
    parser.add_argument("frames", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--weights")
    args = parser.parse_args(argv)
    detector = load_detector(args.weights, threads=args.threads)
    result = analyze_video(args.video, args.frames, detector=detector, explain=True)
    print(json.dumps({"timings_s": result.timings_s, "peak_rss_mb": peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
