"""What an application keeps of a clip between analyses at different frame counts.

Samples are drawn from a fixed grid of times (see :func:`dfcore.media.video_io.grid_positions`),
so the frames for 20, 60 or 100 samples overlap. A :class:`ClipMemory` holds the
frames decoded so far and the faces found in them, by grid position; passed to
:func:`dfcore.analyze.prepare_clip`, it makes a new frame count decode and search
only the frames it has not seen. Moving the dashboard's frames slider back to a
count used before, or down to one whose frames are all kept, costs no decoding
and no face detection at all.

It holds at most one grid's worth of frames per grid (100 frames for every count
up to 100), so its memory is bounded like one 100-frame analysis.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..vision.faces import Detection
from .video_io import SampledFrame, VideoInfo, grid_positions, sample_grid

GridKey = tuple[int, int]  # (grid size, position on it)
# Prefetching the samples of 100 frames while analysing 20 is cheap when most of the
# decoding is shared, i.e. on short, small clips; measured on 2 cores, the first
# analysis at 20 frames took +0.09 s on a 10 s 720p clip, +0.6 s on 20 s of 1080p and
# +0.8 s on 10 s of 4K (60 s of 4K: +7.7 s). Beyond this many pixels x seconds of video
# (about 25 s of 1080p) the first verdict comes first, and a slider move decodes then.
PREFETCH_MAX_PIXEL_SECONDS = 50e6


def prefetch_pays(info: VideoInfo) -> bool:
    """Whether decoding extra samples along with the first analysis costs little (see PREFETCH_MAX_PIXEL_SECONDS)."""
    return info.kind == "video" and info.width * info.height * info.duration_s <= PREFETCH_MAX_PIXEL_SECONDS


@dataclass
class ClipMemory:
    """Frames and faces of ONE file (at one ``max_side``), kept between analyses.

    Create one per file (key it by the file's hash, never its path) and pass it
    to every :func:`~dfcore.analyze.prepare_clip` call for that file. Safe to
    share between threads: ``prepare_clip`` holds :attr:`lock` while it uses it.
    """

    info: VideoInfo | None = None  # the file's description, from its first decode
    frames: dict[GridKey, SampledFrame] = field(default_factory=dict)  # decoded samples
    absent: set[GridKey] = field(default_factory=set)  # positions the clip has no frame of its own for
    faces: dict[GridKey, list[Detection]] = field(default_factory=dict)  # faces found, for searched positions
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def missing(self, grid: int, positions: list[int]) -> list[int]:
        """The positions among ``positions`` that still need decoding."""
        return [p for p in positions if (grid, p) not in self.frames and (grid, p) not in self.absent]

    def remember(self, grid: int, asked: list[int], frames: list[SampledFrame]) -> None:
        """Keep newly decoded frames; asked-for positions that gave none are marked absent."""
        for f in frames:
            self.frames[(grid, f.position)] = f
        got = {f.position for f in frames}
        self.absent.update((grid, p) for p in asked if p not in got)

    def recall(self, grid: int, positions: list[int]) -> list[SampledFrame]:
        """The kept frames at ``positions``, in order, each frame once (short clips repeat frames)."""
        out: list[SampledFrame] = []
        for p in positions:
            f = self.frames.get((grid, p))
            if f is not None and (not out or f.index != out[-1].index):
                out.append(f)
        return out

    def covers(self, n_frames: int) -> bool:
        """True when an analysis at ``n_frames`` needs no decoding: every frame it takes is kept."""
        if self.info is None or self.info.damage:
            return False
        grid = sample_grid(n_frames, self.info.frame_count)
        return not self.missing(grid, grid_positions(n_frames, grid))

    @property
    def n_frames(self) -> int:
        """Frames held."""
        return len(self.frames)


__all__ = ["ClipMemory", "PREFETCH_MAX_PIXEL_SECONDS", "prefetch_pays"]
