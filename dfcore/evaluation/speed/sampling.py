"""``python -m dfcore.evaluation.speed.sampling CLIP ...``: does moving samples to reference pictures change the result?

An H.264 sample whose first frame is a picture nothing else refers to takes the reference
picture shown right after it instead (see :mod:`dfcore.media.packet_decode`): the decoder then
skips the unreferenced pictures altogether. Each clip is sampled both ways at each frame count
(``exact=True``, every sample on its own first frame, is the reference), each set of frames
tracked and scored with the installed default model. Printed per clip: how many samples moved,
the decoding seconds (the median of a few runs of sampling alone), and the change in the clip's
calibrated score and verdict. (``tests/test_decode_plan.py`` counts the pictures decoded.)

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

from ...analyze import PreparedClip, detect_track, score_clip
from ...errors import DfcoreError
from ...media.video_io import SampledFrame, probe_video, sample_frames
from ...models.detector import Detector, load_detector

TIMING_RUNS = 3  # sampling runs per way; the median is reported


@dataclass(frozen=True)
class SamplingRow:
    clip: str
    frames: int  # samples asked for
    moved: int  # samples that took the reference picture after their own frame
    decode_s_exact: float  # median seconds of sampling alone, every sample on its own frame
    decode_s_moved: float  # the same with samples moved to references (the shipped way)
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
        return (f"{self.clip[-40:]:<40} {self.frames:>4} {self.moved:>5} "
                f"{self.decode_s_exact:>7.3f} {self.decode_s_moved:>7.3f} "
                f"{self.score_diff:>7.4f} {self.verdict_exact:>9}{'' if self.verdict_exact == self.verdict_moved else ' -> ' + self.verdict_moved}")


HEADER = (f"{'clip':<40} {'n':>4} {'moved':>5} {'dec s':>7} {'moved':>7} "
          f"{'score Δ':>7} {'verdict':>9}")


def _sample(path: Path, n_frames: int, exact: bool) -> tuple[list[SampledFrame], float]:
    """The samples and the median seconds of sampling them."""
    seconds, frames = [], []
    for _ in range(TIMING_RUNS):
        t = time.perf_counter()
        _, frames = sample_frames(path, n_frames, exact=exact)
        seconds.append(time.perf_counter() - t)
    return frames, statistics.median(seconds)


def _score(path: Path, n_frames: int, frames: list[SampledFrame], detector: Detector) -> tuple[float | None, str]:
    info = probe_video(path)
    clip = PreparedClip(str(path), n_frames, info, frames, detect_track(frames), {"decode": 0.0, "detect": 0.0})
    result = score_clip(clip, detector)
    return result.fake_probability, result.verdict


def compare_clip(path: Path, n_frames: int, detector: Detector) -> SamplingRow:
    """Sample ``path`` both ways at ``n_frames`` and score both; the differences.

    Raises:
        DfcoreError: the clip cannot be read.
    """
    exact, s_exact = _sample(path, n_frames, exact=True)
    moved, s_moved = _sample(path, n_frames, exact=False)
    shifted = sum(a.time_s != b.time_s for a, b in zip(exact, moved))
    score_exact, verdict_exact = _score(path, n_frames, exact, detector)
    score_moved, verdict_moved = _score(path, n_frames, moved, detector)
    return SamplingRow(str(path), n_frames, shifted, s_exact, s_moved,
                       score_exact, score_moved, verdict_exact, verdict_moved)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dfcore.evaluation.speed.sampling", description=__doc__.splitlines()[0])
    p.add_argument("clips", nargs="+", help="video files")
    p.add_argument("--frames", default="20,100", help="frame counts, comma-separated (default 20,100)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--json", metavar="OUT", help="also write the rows as JSON here")
    args = p.parse_args(argv)
    counts = [int(c) for c in args.frames.split(",")]
    det = load_detector(threads=args.threads)
    rows: list[SamplingRow] = []
    print(HEADER)
    for clip in args.clips:
        for n in counts:
            try:
                row = compare_clip(Path(clip), n, det)
            except DfcoreError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            rows.append(row)
            print(row.line(), flush=True)
    for n in counts:
        at = [r for r in rows if r.frames == n]
        diffs = [r.score_diff for r in at]
        print(f"{n} frames, {len(at)} clips: samples moved {sum(r.moved for r in at)} of {sum(r.frames for r in at)}; "
              f"decoding {sum(r.decode_s_moved for r in at):.2f} s vs {sum(r.decode_s_exact for r in at):.2f} s; "
              f"clip score change median {statistics.median(diffs):.4f}, largest {max(diffs):.4f}; "
              f"verdicts changed {sum(r.verdict_exact != r.verdict_moved for r in at)}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
