"""``make bench-batch``: videos per minute of ``dfcore batch`` in each mode, on the same generated clips.

    python -m dfcore.evaluation.speed.batch [--clips 20] [--frames 20] [--modes sequential,pool1,pool2,ray2]

The clips are the project's synthetic face clips (:func:`dfcore.synth.samples.generate_samples`,
one set of three per seed, so every file differs), generated once into the work
folder. Each mode analyses all of them into a fresh output with
:func:`dfcore.serving.batch.run_batch`, one mode after the other in this process.
Two rates are reported: over the whole run (worker start-up included: what a
small batch sees) and once every worker has delivered its first video
(start-up excluded: what a long batch converges to, and the figure to size a
cluster from).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ...serving.batch import BatchOptions, BatchSummary, run_batch
from ...synth.samples import REAL_CLIP, SELFBLEND_CLIP, WARP_CLIP, SampleOptions, generate_samples

DEFAULT_WORK_DIR = Path("runs/bench_batch")  # git-ignored
# Short 720p face clips: the size of a typical upload, short so that 20 of them generate in minutes.
CLIP_OPTIONS = SampleOptions(duration_s=4.0, fps=25.0, size=(1280, 720))
# name -> (workers, on Ray): "sequential" analyses in the calling process, one video at a time.
MODES = {"sequential": (0, False), "pool1": (1, False), "pool2": (2, False), "ray2": (2, True)}
SECONDS_PER_DAY = 24 * 3600
TARGET_VIDEOS_PER_DAY = 1_000_000  # the sizing question the README answers


@dataclass
class ModeResult:
    mode: str  # a key of MODES
    how: str  # the summary's description of the workers
    videos: int  # videos analysed
    failed: int  # of which failed
    seconds: float  # wall time of the whole run
    warm_s: float | None  # until every worker had finished a video (start-up included)
    videos_per_minute: float | None  # over the whole run
    steady_videos_per_minute: float | None  # once every worker is up (after the first result per worker)


def make_batch_clips(n: int, work_dir: Path = DEFAULT_WORK_DIR, options: SampleOptions = CLIP_OPTIONS) -> list[Path]:
    """``n`` distinct synthetic face clips (real and manipulated), generated once and reused.

    Args:
        n: how many clips.
        work_dir: where to keep them (``clips/seedK/``).
        options: size and length of each clip; the seed is set per set of three.

    Returns:
        The clips' paths.
    """
    clips: list[Path] = []
    seed = 0
    while len(clips) < n:
        folder = Path(work_dir) / "clips" / f"seed{seed}"
        wanted = [folder / name for name in (REAL_CLIP, SELFBLEND_CLIP, WARP_CLIP)]
        if not all(p.is_file() for p in wanted):
            generate_samples(folder, replace(options, seed=seed))
        clips.extend(wanted)
        seed += 1
    return clips[:n]


def time_mode(mode: str, clips: list[Path], work_dir: Path, n_frames: int, model: str | None,
              weights: str | None) -> ModeResult:
    """Run one mode over the clips into a fresh output and return its rates."""
    workers, on_ray = MODES[mode]
    out = Path(work_dir) / f"{mode}.jsonl"
    out.unlink(missing_ok=True)  # a fresh run: nothing skipped
    opts = BatchOptions(n_frames=n_frames, model=model, weights=weights, workers=workers, ray=on_ray,
                        ray_address="local" if on_ray else None, progress=False)
    s: BatchSummary = run_batch(clips, out, opts)
    return ModeResult(mode, s.mode, s.analysed, s.failed, round(s.seconds, 2),
                      None if s.warm_s is None else round(s.warm_s, 2),
                      _round(s.videos_per_minute), _round(s.steady_videos_per_minute))


def format_table(results: list[ModeResult], n_frames: int) -> str:
    """The results as a text table, with the per-video cost behind each steady rate."""
    lines = [f"{'mode':<11} {'workers':<52} {'videos':>6} {'seconds':>8} {'warm s':>7} "
             f"{'videos/min':>10} {'steady/min':>10} {'s/video':>8}"]
    for r in results:
        cost = f"{60 / r.steady_videos_per_minute:.2f}" if r.steady_videos_per_minute else "-"
        lines.append(f"{r.mode:<11} {r.how:<52} {r.videos:>6} {r.seconds:>8.1f} {_cell(r.warm_s):>7} "
                     f"{_cell(r.videos_per_minute):>10} {_cell(r.steady_videos_per_minute):>10} {cost:>8}")
    lines.append(f"({n_frames} frames per video; {os.cpu_count()} cores; warm s: start-up and each worker's first "
                 "video; steady: the rate after that; s/video: the machine's seconds per video at that rate)")
    best = max((r.steady_videos_per_minute or 0.0 for r in results), default=0.0)
    if best:
        per_minute = TARGET_VIDEOS_PER_DAY / (SECONDS_PER_DAY / 60)
        lines.append(f"extrapolation: {TARGET_VIDEOS_PER_DAY:,} videos a day is {per_minute:.0f} a minute: "
                     f"{math.ceil(per_minute / best)} machines like this one at the best steady rate ({best:.1f}/min)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dfcore.evaluation.speed.batch", description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=20, help="generated clips to analyse (default 20)")
    parser.add_argument("--frames", type=int, default=20, help="frames per video (default 20)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--model", help="an installed model; default: the default model")
    parser.add_argument("--weights", help="a checkpoint file instead of an installed model")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="clips and outputs")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    clips = make_batch_clips(args.clips, args.work_dir)
    results = []
    for mode in modes:
        results.append(time_mode(mode, clips, args.work_dir, args.frames, args.model, args.weights))
        print(f"{mode}: {results[-1]}", file=sys.stderr, flush=True)
    print(format_table(results, args.frames))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _cell(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


if __name__ == "__main__":
    sys.exit(main())
