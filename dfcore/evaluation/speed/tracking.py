"""``python -m dfcore.evaluation.speed.tracking CLIP ...``: does searching fewer frames for the face change the result?

Each clip is analysed twice at the same frame count with the installed default model: once with
the face searched in every sampled frame (``detect_stride=1``, the reference), once with the
shipped :class:`~dfcore.vision.faces.FaceOptions` (a search every few frames, boxes interpolated
between, re-searched where the box jumps or its content stops looking like the face). Printed per
clip: frames searched, the seconds to decoded frames and tracked face (decode and detect together: the
search's first pass runs beside the decoder, see :mod:`dfcore.vision.faces_ahead`), the largest box
difference as a fraction of the face's side, and the largest difference in the clip's and the frames'
calibrated scores.

Used for README's Speed section on the project's sample clips and the shared FF++ clips (which are
never copied into the project).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from ...analyze import PreparedClip, prepare_clip, score_clip
from ...models.detector import Detector, load_detector
from ...vision.faces import FaceOptions


@dataclass(frozen=True)
class TrackingRow:
    clip: str
    frames: int  # sampled frames
    searched_every: int  # frames searched with detect_stride=1 (all of them)
    searched_sparse: int  # frames searched with the shipped options (the others are interpolated)
    prepare_s_every: float  # seconds to decoded frames and tracked face, every frame searched
    prepare_s_sparse: float  # the same with the shipped options
    max_box_diff: float  # the largest corner difference between the two boxes of a frame / the face's side
    clip_score_diff: float  # |difference| of the calibrated clip score
    max_frame_score_diff: float  # the largest |difference| of a frame's calibrated score

    def line(self) -> str:
        return (f"{self.clip[-40:]:<40} {self.frames:>4} {self.searched_sparse:>4}/{self.searched_every:<4} "
                f"{self.prepare_s_every:>7.3f} {self.prepare_s_sparse:>7.3f} {self.max_box_diff:>7.3f} "
                f"{self.clip_score_diff:>7.4f} {self.max_frame_score_diff:>7.4f}")


HEADER = (f"{'clip':<40} {'n':>4} {'searched':>9} {'prep s':>7} {'sparse':>7} {'box':>7} {'clip Δ':>7} "
          f"{'frame Δ':>7}")


def compare_clip(path: Path, n_frames: int, detector: Detector, options: FaceOptions | None = None) -> TrackingRow:
    """Analyse ``path`` with every frame searched and with ``options``; the differences.

    Raises:
        DfcoreError: the clip cannot be read.
    """
    sparse_opts = options or FaceOptions()
    every_opts = replace(sparse_opts, detect_stride=1)
    every = prepare_clip(path, n_frames, face_options=every_opts)
    sparse = prepare_clip(path, n_frames, face_options=sparse_opts)
    r_every, r_sparse = score_clip(every, detector), score_clip(sparse, detector)
    box_diff = 0.0
    for a, b in zip(every.track.boxes, sparse.track.boxes):
        if (a is None) != (b is None):
            box_diff = float("inf")
        elif a is not None and b is not None:
            box_diff = max(box_diff, max(abs(u - v) for u, v in zip(a, b)) / max(1, min(a[2], a[3])))
    frame_diff = 0.0
    for fa, fb in zip(r_every.frames, r_sparse.frames):
        if fa.fake_probability is not None and fb.fake_probability is not None:
            frame_diff = max(frame_diff, abs(fa.fake_probability - fb.fake_probability))
    clip_diff = (abs(r_every.fake_probability - r_sparse.fake_probability)
                 if r_every.fake_probability is not None and r_sparse.fake_probability is not None else float("nan"))
    searched = sum(1 for d in sparse.track.detections if d is None or not d.interpolated)
    return TrackingRow(str(path), len(every.frames), len(every.frames), searched, _prepare_s(every),
                       _prepare_s(sparse), box_diff, clip_diff, frame_diff)


def _prepare_s(clip: PreparedClip) -> float:
    return clip.timings_s["decode"] + clip.timings_s["detect"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dfcore.evaluation.speed.tracking", description=__doc__.splitlines()[0])
    p.add_argument("clips", nargs="+", help="video files")
    p.add_argument("--frames", type=int, default=100, help="frames sampled per clip (default 100)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    p.add_argument("--json", metavar="OUT", help="also write the rows as JSON here")
    args = p.parse_args(argv)
    det = load_detector(threads=args.threads)
    rows = []
    print(HEADER)
    for clip in args.clips:
        row = compare_clip(Path(clip), args.frames, det)
        rows.append(row)
        print(row.line(), flush=True)
    searched = sum(r.searched_sparse for r in rows) / max(1, sum(r.searched_every for r in rows))
    print(f"frames searched: {searched:.0%} of every-frame search; decode and detect seconds "
          f"{sum(r.prepare_s_sparse for r in rows):.2f} vs {sum(r.prepare_s_every for r in rows):.2f}; "
          f"largest clip score change {max(r.clip_score_diff for r in rows):.4f}, "
          f"frame score change {max(r.max_frame_score_diff for r in rows):.4f}, "
          f"box change {max(r.max_box_diff for r in rows):.3f} of the face's side")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
