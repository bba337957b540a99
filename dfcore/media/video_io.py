"""Reading clips: probe a file, and sample N frames spread over the whole clip.

Decoding uses PyAV (FFmpeg) rather than ``cv2.VideoCapture`` because it exposes
real presentation timestamps: sampling is by *time*, so variable-frame-rate
files and files whose frame-count header lies are sampled correctly, and long
clips are read by seeking instead of decoding every frame; in between, only
the packets the samples need reach the decoder (see :mod:`dfcore.media.packet_decode`).
Only the sampled frames are ever held in memory. Still images (jpg/png) are
one-frame clips.
"""

from __future__ import annotations

import bisect
import math
import os
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import av
import cv2
import numpy as np

from ..deadline import Deadline
from ..deadline import check as check_deadline
from ..errors import InputNotFoundError, TooManyPixelsError, UnsupportedFormatError, VideoDecodeError
from .image_header import image_size
from .formats import IMAGE_EXTENSIONS, SUPPORTED_EXTENSIONS, VIDEO_EXTENSIONS  # re-exported: read here too
from .packet_decode import DECODE_ERRORS, TargetDecoder, TargetRule

# Frames are downscaled so their longer side is at most this before anything
# else sees them: faces stay far larger than the model's input, and a 4K or 8K
# clip costs no more memory than a 720p one.
DEFAULT_MAX_SIDE = 1280
# The most pixels one image or one video frame may decode to (50 MP: an 8K frame is 33 MP).
# The header's size is checked against it before decoding: a small file can declare a huge
# picture (a 0.86 MB PNG of one colour decodes to 144 MP, 864 MB in 16 bits).
MAX_PIXELS = 50_000_000
# JPEG can be decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's own scaling): OpenCV's flags for them.
_JPEG_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
# Seek only when the next sample is further ahead than this: a seek restarts
# decoding at the previous keyframe, so for close samples decoding on is cheaper.
SEEK_GAP_S = 2.0
# Timestamps are compared with this slack: a target that lands exactly on a frame's
# time (e.g. asking for as many frames as the clip has) must not miss it by rounding.
TIME_EPS_S = 1e-6
# Decoder threads: frame threading keeps one picture in flight per thread, so on a
# many-core server an 8K clip would hold ~50 MB per core; a few threads are as fast
# for sampling (mostly seeks) and bound the memory one analysis takes.
DECODE_THREADS = 4
# Sample times are drawn from a fixed grid of this many evenly spaced times over the
# clip, so the frames taken for any count up to it are a subset of the frames taken
# for it: a caller that keeps the frames it decoded (the dashboard, when the frames
# slider moves) decodes only the ones it lacks. Counts above it use their own grid.
SAMPLE_GRID = 100
CONVERT_AHEAD = 8  # decoded pictures at most waiting for their RGB conversion (see _Converter)


@dataclass(frozen=True)
class VideoInfo:
    path: str  # the file as given
    kind: str  # "video" or "image"
    width: int  # frame width in pixels, as stored (before any rotation or downscale)
    height: int  # frame height in pixels, as stored
    fps: float  # average frame rate; 0.0 for an image
    frame_count: int  # frames in the clip (from the header, else estimated from duration x fps)
    duration_s: float  # length of the clip in seconds; 0.0 for an image
    codec: str  # decoder name, e.g. "h264", or the image format
    damage: str | None = None  # set by sample_frames when decoding stopped early on damaged data: why


@dataclass
class SampledFrame:
    index: int  # frame number in the clip (from its timestamp and the average fps)
    time_s: float  # presentation time in seconds from the start of the clip
    image: np.ndarray  # (H, W, 3) uint8 RGB, rotated upright and downscaled to max_side
    position: int = 0  # the grid position it was sampled for (see grid_positions)


def check_input_path(path: str | os.PathLike) -> Path:
    """Fail early, with a message naming the file, on paths dfcore cannot read."""
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(p, "file not found", "Check the path.")
    if not p.is_file():
        raise InputNotFoundError(p, "is not a regular file", "Pass a video or image file.")
    check_file_type(p)
    if p.stat().st_size == 0:
        raise VideoDecodeError(p, "the file is empty (0 bytes)",
                               "It was probably not copied or exported completely: copy or export it again.")
    return p


def check_file_type(name: str | os.PathLike) -> None:
    """Refuse a file name whose extension dfcore does not read (before any byte of it is read).

    Raises:
        UnsupportedFormatError: the extension is not in :data:`SUPPORTED_EXTENSIONS`.
    """
    ext = Path(name).suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        kinds = ", ".join(sorted(e.lstrip(".") for e in SUPPORTED_EXTENSIONS))
        raise UnsupportedFormatError(name, f"unsupported file type '{ext or '(none)'}'", f"Supported: {kinds}.")


def is_image(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Describe a clip without decoding its frames.

    Args:
        path: a video (mp4, m4v, avi, mov, mkv, webm) or image (jpg, png).

    Returns:
        Its :class:`VideoInfo`.

    Raises:
        InputNotFoundError, UnsupportedFormatError, VideoDecodeError.
    """
    p = check_input_path(path)
    if is_image(p):
        _, width, height = _read_image(p, max_side=1)  # decoded only to check it decodes: as small as it goes
        return VideoInfo(str(path), "image", width, height, 0.0, 1, 0.0, p.suffix.lower().lstrip("."))
    with _open_container(p) as container:
        return _describe(p, container, container.streams.video[0])


def sample_grid(n_frames: int, frame_count: int) -> int:
    """How many evenly spaced times ``n_frames`` samples of a clip are drawn from.

    :data:`SAMPLE_GRID` for counts up to it, but never finer than the clip's
    frames (a grid step under one frame would make samples skip or repeat
    frames); a count above it, or a clip of unknown length, is its own grid.
    """
    if n_frames >= SAMPLE_GRID or frame_count <= 0:
        return n_frames
    return max(n_frames, min(SAMPLE_GRID, frame_count))


def grid_positions(n_frames: int, grid: int) -> list[int]:
    """The grid positions of ``n_frames`` samples: the middle of each of n equal parts of the grid."""
    return [((2 * k + 1) * grid) // (2 * n_frames) for k in range(n_frames)]


def sample_frames(
    path: str | os.PathLike, n_frames: int, max_side: int = DEFAULT_MAX_SIDE, deadline: Deadline | None = None,
    positions: Collection[int] | None = None, on_frame: Callable[[SampledFrame], None] | None = None,
    exact: bool = False,
) -> tuple[VideoInfo, list[SampledFrame]]:
    """Decode ``n_frames`` frames spread evenly over the whole clip.

    The clip's duration is divided into ``grid = sample_grid(n_frames, frame_count)``
    equal steps; sample k is taken at grid position
    ``p = grid_positions(n_frames, grid)[k]``: the first frame shown at or after
    time (p + 0.5) x duration / grid. With a grid of n this is the middle of
    each of n equal parts, so the samples cover the clip from start to end. A
    clip with fewer frames than asked gives all of its frames; a clip that
    stops decoding part-way gives what decoded before the damage.

    In an H.264 clip, where that first frame is a picture no other picture refers
    to and the next frame is one that others do, the sample is the next frame:
    the samples are a frame apart at most from the rule above, and decoding skips
    the unreferenced pictures altogether (see :mod:`dfcore.media.packet_decode`).
    ``exact=True`` keeps to the rule above.

    Args:
        path: a video or image file.
        n_frames: how many frames to sample (>= 1).
        max_side: frames are downscaled so their longer side is at most this.
        deadline: the analysis's time limit, checked after every decoded frame.
        positions: decode only the samples at these grid positions (a caller
            holding the others); None decodes all ``n_frames``.
        on_frame: called with each sample as soon as it is ready, in time order,
            from the decoder's worker thread, while decoding goes on (e.g. to start
            searching it for faces). It must return at once and never raise. A
            damaged clip may offer some frames that the result then does not hold.
        exact: take each sample's own first frame even where the reference picture
            after it would spare the decoder a picture (for comparisons).

    Returns:
        The clip's :class:`VideoInfo` and the sampled frames in time order.

    Raises:
        InputNotFoundError, UnsupportedFormatError, VideoDecodeError.
        AnalysisTimeoutError: the deadline passed while decoding.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    p = check_input_path(path)
    if is_image(p):
        img = _downscale(_read_image(p, max_side, deadline)[0], max_side)
        info = VideoInfo(str(path), "image", img.shape[1], img.shape[0], 0.0, 1, 0.0, p.suffix.lower().lstrip("."))
        return info, [SampledFrame(0, 0.0, img)]
    with _open_container(p) as container:
        stream = container.streams.video[0]
        info = _describe(p, container, stream)
        frames, damage = _sample_stream(p, container, stream, info, n_frames, max_side, deadline, positions,
                                        on_frame, exact)
        if damage:
            info = replace(info, damage=damage)
    if not frames:
        raise VideoDecodeError(p, "no frame could be decoded", "The file may be damaged; try re-exporting it.")
    return info, frames


def _read_image(p: Path, max_side: int = DEFAULT_MAX_SIDE,
                deadline: Deadline | None = None) -> tuple[np.ndarray, int, int]:
    """The image as 8-bit RGB (a JPEG possibly decoded reduced, never below ``max_side``), and its stored size.

    Raises:
        TooManyPixelsError: its header declares more than :data:`MAX_PIXELS` (after any reduction).
        VideoDecodeError: not a PNG or JPEG, or it does not decode.
        AnalysisTimeoutError: the deadline passed before or during decoding.
    """
    # np.fromfile + imdecode instead of imread: works with any characters in the path.
    data = np.fromfile(str(p), dtype=np.uint8)
    size = image_size(data)
    if size is None:
        raise VideoDecodeError(p, "could not be decoded as an image (no PNG or JPEG header)",
                               "Is it really a JPEG or PNG?")
    width, height = size
    factor, flags = _decode_reduction(data, width, height, max_side)
    if (width // factor) * (height // factor) > MAX_PIXELS:
        raise TooManyPixelsError(p, f"the image is {width}x{height} pixels, over the limit of "
                                    f"{MAX_PIXELS / 1e6:g} megapixels", "Scale it down first.")
    check_deadline(deadline, "decoding")
    # IMREAD_COLOR: 8-bit BGR whatever was stored. A 16-bit PNG is cut to 8 bits row by row as it
    # is decoded (libpng keeps the high byte), never held as a 16-bit or float copy; alpha is dropped.
    # IGNORE_ORIENTATION: the pixels as stored, as for every image read before.
    img = cv2.imdecode(data, flags | cv2.IMREAD_IGNORE_ORIENTATION) if width and height else None
    del data
    if img is None:
        raise VideoDecodeError(p, "could not be decoded as an image", "Is it really a JPEG or PNG?")
    check_deadline(deadline, "decoding")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), width, height


def _decode_reduction(data: np.ndarray, width: int, height: int, max_side: int) -> tuple[int, int]:
    """How much smaller to decode (1, 2, 4 or 8) and OpenCV's flag for it.

    Only a JPEG decodes reduced for less memory (OpenCV decodes a PNG whole, then shrinks it).
    The factor is the largest that keeps the longer side at least ``max_side``, the size every
    frame is downscaled to anyway, so the pixels analysed are (nearly) the same.
    """
    if bytes(data[:2]) == b"\xff\xd8":
        for factor, flag in _JPEG_REDUCED:
            if max(width, height) // factor >= max_side:
                return factor, flag
    return 1, cv2.IMREAD_COLOR


def _check_pixels(p: Path, width: int, height: int, what: str) -> None:
    """Refuse a video frame over :data:`MAX_PIXELS` before it is decoded (or converted)."""
    if width * height > MAX_PIXELS:
        raise TooManyPixelsError(p, f"{what} is {width}x{height} pixels, over the limit of "
                                    f"{MAX_PIXELS / 1e6:g} megapixels per frame", "Scale the video down first.")


class _open_container:
    """Open a file with PyAV, turning FFmpeg's errors into VideoDecodeError."""

    def __init__(self, p: Path) -> None:
        self.p = p
        self.container: av.container.InputContainer | None = None

    def __enter__(self) -> av.container.InputContainer:
        try:
            self.container = av.open(str(self.p), mode="r")
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
            raise VideoDecodeError(
                self.p, f"could not be opened as a video ({_ffmpeg_reason(e)})",
                "The file may be truncated, damaged, or not a video.",
            ) from None
        if not self.container.streams.video:
            has_audio = bool(self.container.streams.audio)
            self.container.close()
            raise VideoDecodeError(
                self.p, "has no video stream" + (" (it holds audio only)" if has_audio else ""),
                "Pass a file with video in it.",
            )
        return self.container

    def __exit__(self, *exc: object) -> None:
        if self.container is not None:
            self.container.close()


def _ffmpeg_reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or type(e).__name__


def _describe(p: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> VideoInfo:
    ctx = stream.codec_context
    if ctx is None:  # the header names no codec FFmpeg can decode (e.g. cut off mid-index)
        raise VideoDecodeError(p, "the video stream's codec is unknown or missing", "The file may be damaged.")
    if not ctx.width or not ctx.height:
        raise VideoDecodeError(p, "the video stream has no picture size", "The file may be damaged.")
    _check_pixels(p, int(ctx.width), int(ctx.height), "the video's picture")
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    duration = _duration_s(container, stream)
    frame_count = int(stream.frames or 0) or (int(round(duration * fps)) if fps else 0)
    return VideoInfo(
        path=str(p), kind="video", width=int(ctx.width), height=int(ctx.height), fps=fps,
        frame_count=frame_count, duration_s=duration, codec=ctx.name or "unknown",
    )


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _sample_stream(
    p: Path,
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    info: VideoInfo,
    n_frames: int,
    max_side: int,
    deadline: Deadline | None = None,
    positions: Collection[int] | None = None,
    on_frame: Callable[[SampledFrame], None] | None = None,
    exact: bool = False,
) -> tuple[list[SampledFrame], str | None]:
    """The sampled frames, and why decoding stopped early (None when it did not)."""
    grid = sample_grid(n_frames, info.frame_count)
    wanted = grid_positions(n_frames, grid)
    if positions is not None:
        wanted = sorted(set(wanted) & set(positions))
        if not wanted:
            return [], None
    stream.thread_type = "AUTO"  # frame-parallel decoding: a large win on H.264/HEVC
    stream.codec_context.thread_count = min(DECODE_THREADS, os.cpu_count() or 1)
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    duration = info.duration_s
    if duration <= 0:
        # No duration in the header: fall back to decoding on from the start,
        # sampling at the nominal frame rate (still never more than n frames kept).
        duration = (info.frame_count / info.fps) if info.fps and info.frame_count else math.inf
    plan = _SamplePlan(_targets(start, duration, grid, wanted, info.fps), wanted, start, info.fps, max_side,
                       deadline, p, on_frame, _grid_step(duration, grid, info.fps), not exact)
    run = _decode_targets(container, stream, plan)
    frame_period = 1.0 / info.fps if info.fps > 0 else 0.0
    damage = None
    if run.error:
        damage = f"decoding stopped at {max(0.0, run.last_time - start):.2f} s ({run.error})"
    elif (len(run.frames) < n_frames and math.isfinite(duration)
          and run.last_time - start + frame_period < 0.5 * duration):
        # The stream ended long before its header's duration: truncated, or a lying header.
        damage = f"the stream ended at {max(0.0, run.last_time - start):.2f} s of a stated {duration:.2f} s"
    if damage and len(run.frames) < n_frames and math.isfinite(run.last_time):
        # Frames decoded up to last_time: sample again over that part, so the samples spread
        # over the picture content there is instead of stopping (or bunching) at the damage.
        decoded_s = run.last_time - start + frame_period
        targets = _targets(start, decoded_s, grid, wanted, info.fps)
        run = _resample(container, stream, run, replace(plan, targets=targets,
                                                        step_s=_grid_step(decoded_s, grid, info.fps)))
    if not run.frames:
        reason = run.error or damage or "no frame"
        raise VideoDecodeError(p, f"could not be decoded ({reason})", "The file may be damaged or not a video.")
    return run.frames, damage


@dataclass(frozen=True)
class _SamplePlan:
    targets: list[float]  # sample times on the stream's clock, increasing
    positions: list[int]  # the grid position of each target
    start: float  # the stream's start time, seconds
    fps: float  # average frame rate (0.0 when unknown)
    max_side: int  # frames are downscaled to this longer side
    deadline: Deadline | None  # checked per decoded picture
    path: Path = Path()  # the file, for the messages
    on_frame: Callable[[SampledFrame], None] | None = None  # told of each sample once it is ready (sample_frames)
    step_s: float = math.inf  # seconds between two grid times
    snap: bool = False  # a sample may take the reference picture after its own frame (see sample_frames)

    def sample(self, frame: av.VideoFrame, t: float) -> SampledFrame:
        """The frame taken at time ``t``, tagged with its grid position: the last target it satisfies."""
        out = _to_sample(frame, t, self.start, self.fps, self.max_side)
        k = bisect.bisect_right(self.targets, t + _half_frame(self.fps) + TIME_EPS_S) - 1
        out.position = self.positions[max(0, k)]
        return out


def _resample(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    first: _DecodeRun,
    plan: _SamplePlan,
) -> _DecodeRun:
    """A second pass over the part of the clip that decoded; the first pass when it gives no more."""
    try:
        _seek(container, stream, plan.start)
    except (av.error.FFmpegError, ValueError, OverflowError):
        return first  # cannot go back: keep what the first pass took
    again = _decode_targets(container, stream, plan)
    return again if len(again.frames) > len(first.frames) else first


def _grid_step(duration: float, grid: int, fps: float) -> float:
    """Seconds between two grid times, as :func:`_targets` spaces them."""
    return duration / grid if math.isfinite(duration) else 1.0 / max(fps, 1.0)


def _targets(start: float, duration: float, grid: int, positions: list[int], fps: float) -> list[float]:
    """Sample times of grid positions: the middle of each grid step (or frame by frame with no duration)."""
    if math.isfinite(duration):
        return [start + (j + 0.5) * duration / grid for j in positions]
    return [start + j / max(fps, 1.0) for j in positions]


@dataclass
class _DecodeRun:
    frames: list[SampledFrame]  # the frames taken, in time order
    last_time: float  # time of the last frame decoded (-inf when none was)
    error: str | None  # why decoding failed part-way; None when it did not
    decoded: int = 0  # pictures sent to the decoder: what taking these frames cost


def _decode_targets(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    plan: _SamplePlan,
) -> _DecodeRun:
    """Take the first frame at or after each target time (or the reference picture after it), seeking over long gaps.

    Only the packets those frames need are decoded (see :mod:`dfcore.media.packet_decode`).
    """
    # A sample may move one frame later, to a reference picture, never further.
    snap_s = 1.0 / plan.fps if plan.snap and plan.fps > 0 else 0.0
    rule = TargetRule(tuple(plan.targets), plan.start, _half_frame(plan.fps), TIME_EPS_S, SEEK_GAP_S,
                      snap_s=snap_s, step_s=plan.step_s)
    with _Converter(plan) as convert:
        decoder = TargetDecoder(
            container, stream, rule,
            take=convert.submit,
            time_of=lambda frame: _frame_time(frame, stream),
            seek=lambda t: _seek(container, stream, t),
            deadline=plan.deadline,
        )
        error = None
        try:
            decoder.run()
        except DECODE_ERRORS as e:
            # FFmpeg's errors on damaged data; the others from absurd timestamps in a damaged header.
            error = _ffmpeg_reason(e)
        frames: list[SampledFrame] = []
        for future in decoder.frames:
            try:
                frames.append(future.result())
            except DECODE_ERRORS as e:  # a picture that would not convert: damage, as if it had not decoded
                error = error or _ffmpeg_reason(e)
                break
    return _DecodeRun(frames, decoder.last_time, error, decoder.decoded)


class _Converter:
    """Converts taken pictures to RGB sample frames on a worker thread while decoding goes on.

    Converting a 720p picture to RGB costs about as much as decoding it, and
    FFmpeg's scaler runs outside the GIL: overlapped, it costs little wall time.
    At most :data:`CONVERT_AHEAD` pictures wait, which bounds the memory they hold.
    """

    def __init__(self, plan: _SamplePlan) -> None:
        self.plan = plan
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._slots = threading.BoundedSemaphore(CONVERT_AHEAD)

    def submit(self, frame: av.VideoFrame, t: float) -> Future[SampledFrame]:
        # The header's size was checked; a stream can still change size part-way (a new SPS).
        _check_pixels(self.plan.path, frame.width, frame.height, "a decoded frame")
        self._slots.acquire()
        future = self._pool.submit(self.plan.sample, frame, t)
        future.add_done_callback(lambda _: self._slots.release())
        if self.plan.on_frame is not None:
            future.add_done_callback(self._offer)
        return future

    def _offer(self, future: Future[SampledFrame]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.plan.on_frame(future.result())

    def __enter__(self) -> _Converter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _seek(container: av.container.InputContainer, stream: av.video.stream.VideoStream, t: float) -> None:
    container.seek(int(t / stream.time_base), stream=stream, backward=True, any_frame=False)


def _frame_time(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> float | None:
    if frame.pts is not None and stream.time_base:
        return float(frame.pts * stream.time_base)
    return frame.time


def _half_frame(fps: float) -> float:
    return 0.5 / fps if fps > 0 else 0.0


def _to_sample(frame: av.VideoFrame, t: float, start: float, fps: float, max_side: int) -> SampledFrame:
    w, h = frame.width, frame.height
    scale = min(1.0, max_side / max(w, h))
    if scale < 1.0:
        # Let FFmpeg's scaler shrink while converting: cheaper than converting 4K to RGB first.
        img = frame.to_ndarray(format="rgb24", width=max(1, round(w * scale)), height=max(1, round(h * scale)),
                               interpolation="AREA")
    else:
        img = frame.to_ndarray(format="rgb24")
    # Phone videos store the picture sideways plus a display matrix; turn it upright.
    img = _rotate_upright(img, frame.rotation or 0)
    index = int(round((t - start) * fps)) if fps > 0 else 0
    return SampledFrame(index=max(0, index), time_s=max(0.0, t - start), image=np.ascontiguousarray(img))


def _rotate_upright(img: np.ndarray, rotation: int) -> np.ndarray:
    # FFmpeg's display-matrix angle is counter-clockwise; np.rot90 with k > 0 is too.
    k = (int(round(rotation / 90.0)) % 4)
    return np.rot90(img, k=k) if k else img


def _downscale(img: np.ndarray, max_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return img
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


__all__ = [
    "VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS", "SUPPORTED_EXTENSIONS", "DEFAULT_MAX_SIDE", "MAX_PIXELS",
    "VideoInfo", "SampledFrame", "check_input_path", "check_file_type", "is_image", "probe_video", "sample_frames",
]
