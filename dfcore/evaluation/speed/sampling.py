"""``python -m dfcore.evaluation.speed.sampling CLIP ...``: does moving samples to reference pictures change the result?

An H.264 sample whose first frame is a picture nothing else refers to takes the reference
picture shown right after it instead (see :mod:`dfcore.media.packet_decode`): the decoder then
skips the unreferenced pictures altogether. Each clip is analysed both ways at each frame count
(``exact_samples=True``, every sample on its own first frame, is the reference) with the installed
default model, Grad-CAM included, the two ways taken in turn a few times so that their ratio holds
on a machine whose load changes. Printed per clip: how many samples moved, the median seconds
and CPU seconds of the whole analysis each way, and the change in the clip's calibrated score
and verdict. (``tests/test_decode_plan.py`` counts the pictures decoded.)

Used for README's Speed section on the project's bench clip and the shared FF++ and talking-head
clips (which are never copied into the project).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ...analyze import AnalysisResult, prepare_clip, score_clip
from ...errors import DfcoreError
from ...models.detector import Detector, load_detector

TIMING_RUNS = 3  # analyses per way, taken in turn after a warm-up; the medians are reported


@dataclass(frozen=True)
class SamplingRow:
    clip: str
    frames: int  # samples asked for
    moved: int  # samples that took the reference picture after their own frame
    seconds_exact: float  # median seconds of the whole analysis, every sample on its own frame
    seconds_moved: float  # the same with samples moved to references (the shipped way)
    cpu_exact: float  # median CPU seconds of all the process's threads during it
    cpu_moved: float
    score_exact: float | None  # calibrated clip score (None: no face)
    score_moved: float | None
    verdict_exact: str
    verdict_moved: str

    @property
    def score_diff(self) -> float:
        if self.score_exact is None or self.score_moved is None:
            return 0.0 if self.score_exact == self.score_moved else float("inf")
        return abs(self.score_moved - self.score_exact)

    def line(self) -> str:
        changed = "" if self.verdict_exact == self.verdict_moved else " -> " + self.verdict_moved
        return (f"{self.clip[-40:]:<40} {self.frames:>4} {self.moved:>5} {self.seconds_exact:>7.3f} "
                f"{self.seconds_moved:>7.3f} {self.cpu_exact:>7.3f} {self.cpu_moved:>7.3f} "
                f"{self.score_diff:>7.4f} {self.verdict_exact:>9}{changed}")


HEADER = (f"{'clip':<40} {'n':>4} {'moved':>5} {'exact s':>7} {'moved':>7} {'cpu s':>7} {'moved':>7} "
          f"{'score Δ':>7} {'verdict':>9}")


def _analyse(path: Path, n_frames: int, detector: Detector, exact: bool) -> tuple[AnalysisResult, float, float]:
    """One analysis (Grad-CAM included); its result, seconds and CPU seconds."""
    t, cpu = time.perf_counter(), time.process_time()
    clip = prepare_clip(path, n_frames, exact_samples=exact)
    result = score_clip(clip, detector, explain=True)
    return result, time.perf_counter() - t, time.process_time() - cpu


def compare_clip(path: Path, n_frames: int, detector: Detector, runs: int = TIMING_RUNS) -> SamplingRow:
    """Analyse ``path`` both ways at ``n_frames``, in turn; the differences.

    Raises:
        DfcoreError: the clip cannot be read.
    """
    _analyse(path, n_frames, detector, exact=False)  # warm-up: sessions, caches
    timed: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    results: dict[bool, AnalysisResult] = {}
    for _ in range(runs):
        for exact in (True, False):
            results[exact], seconds, cpu = _analyse(path, n_frames, detector, exact)
            timed[exact].append((seconds, cpu))
    exact, moved = results[True], results[False]
    shifted = sum(a.time_s != b.time_s for a, b in zip(exact.frames, moved.frames))
    med = {k: (statistics.median(s for s, _ in v), statistics.median(c for _, c in v)) for k, v in timed.items()}
    return SamplingRow(str(path), n_frames, shifted, med[True][0], med[False][0], med[True][1], med[False][1],
                       exact.fake_probability, moved.fake_probability, exact.verdict, moved.verdict)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dfcore.evaluation.speed.sampling", description=__doc__.splitlines()[0])
    p.add_argument("clips", nargs="+", help="video files")
    p.add_argument("--frames", default="20,100", help="frame counts, comma-separated (default 20,100)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--runs", type=int, default=TIMING_RUNS, help=f"timed analyses per way (default {TIMING_RUNS})")
    p.add_argument("--json", metavar="OUT", help="also write the rows as JSON here")
    args = p.parse_args(argv)
    counts = [int(c) for c in args.frames.split(",")]
    det = load_detector(threads=args.threads)
    rows: list[SamplingRow] = []
    print(HEADER)
    for clip in args.clips:
        for n in counts:
            try:
                row = compare_clip(Path(clip), n, det, args.runs)
            except DfcoreError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            rows.append(row)
            print(row.line(), flush=True)
    for n in counts:
        at = [r for r in rows if r.frames == n]
        diffs = [r.score_diff for r in at]
        print(f"{n} frames, {len(at)} clips: samples moved {sum(r.moved for r in at)} of {sum(r.frames for r in at)}; "
              f"analysis {sum(r.seconds_moved for r in at):.2f} s vs {sum(r.seconds_exact for r in at):.2f} s, "
              f"CPU {sum(r.cpu_moved for r in at):.2f} s vs {sum(r.cpu_exact for r in at):.2f} s; "
              f"clip score change median {statistics.median(diffs):.4f}, largest {max(diffs):.4f}; "
              f"verdicts changed {sum(r.verdict_exact != r.verdict_moved for r in at)}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
