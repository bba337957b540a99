"""Writing clips that every browser plays: H.264 (libx264) in MP4, yuv420p, faststart.

Browsers decode H.264 only in 4:2:0 chroma (yuv420p), which needs even frame
sides, and they start playing an MP4 before it has fully arrived only when its
index (the ``moov`` atom) comes first, which ``movflags=+faststart`` arranges.
Frames are encoded as they arrive from the iterable, so a long clip never sits
in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import VideoDecodeError


def write_h264(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float, crf: int = 23) -> Path:
    """Encode RGB frames into a browser-playable H.264 MP4.

    Args:
        frames: (H, W, 3) uint8 RGB frames, all the same size, in display
            order; consumed one at a time. An odd width or height loses its
            last column or row (yuv420p needs even sides).
        path: the .mp4 file to write (replaced if it exists; its folder must exist).
        fps: frame rate, > 0.
        crf: x264 constant rate factor, 0-51: lower is better quality and larger
            files; 23 is x264's default, 26-28 suits small preview clips.

    Returns:
        The path written.

    Raises:
        ValueError: ``fps`` or ``crf`` out of range, no frames, or a frame of
            the wrong shape, type or size (the partial file is deleted).
        av.error.FFmpegError: the encoder or muxer failed (the partial file is deleted).
    """
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be in 0..51, got {crf}")
    out = Path(path)
    try:
        _encode(iter(frames), out, fps, crf)
    except BaseException:
        # A half-written MP4 has no index and plays nowhere: leave nothing behind.
        out.unlink(missing_ok=True)
        raise
    return out


def _encode(frames: Iterable[np.ndarray], out: Path, fps: float, crf: int) -> None:
    # A rational rate keeps timestamps exact; 1001 covers NTSC rates such as 29.97.
    rate = Fraction(fps).limit_denominator(1001)
    # Format options go to the MP4 muxer; "+faststart" moves the index to the front.
    with av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = None
        size: tuple[int, int] | None = None  # (height, width) of the first frame, as given
        for i, frame in enumerate(frames):
            _check_frame(frame, i, size)
            if stream is None:
                size = frame.shape[:2]
                stream = container.add_stream("libx264", rate=rate)
                stream.height, stream.width = size[0] // 2 * 2, size[1] // 2 * 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf)}
            even = np.ascontiguousarray(frame[: stream.height, : stream.width])
            video_frame = av.VideoFrame.from_ndarray(even, format="rgb24")
            video_frame.pts = i  # in frames; the encoder's time base is 1 / rate
            container.mux(stream.encode(video_frame))
        if stream is None:
            raise ValueError(f"{out}: no frames to write")
        container.mux(stream.encode(None))  # flush the frames the encoder still holds


def _check_frame(frame: np.ndarray, index: int, size: tuple[int, int] | None) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise ValueError(f"frame {index}: expected an (H, W, 3) uint8 RGB array, got shape {shape} of {dtype}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"frame {index}: {frame.shape[1]}x{frame.shape[0]} is too small to encode")
    if size is not None and frame.shape[:2] != size:
        raise ValueError(
            f"frame {index}: size {frame.shape[1]}x{frame.shape[0]} differs from the first frame's {size[1]}x{size[0]}"
        )


def remux(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy a clip's video packets, unchanged, into a new file with a complete header.

    A browser's MediaRecorder writes WebM as a live stream: no duration and no
    index. Sampling frames evenly over a clip needs its duration, and the
    muxer writes both once it has seen every packet. No frame is decoded or
    re-encoded, so this is quick and lossless. Audio and other streams are dropped.

    Args:
        src: the clip to copy.
        dst: the file to write; its extension picks the container (use the source's).

    Returns:
        The path written.

    Raises:
        VideoDecodeError: ``src`` cannot be read as a video (the partial file is deleted).
    """
    out = Path(dst)
    try:
        with av.open(str(src), mode="r") as inp:
            if not inp.streams.video:
                raise VideoDecodeError(src, "has no video stream", "Record or upload a clip with video in it.")
            source = inp.streams.video[0]
            with av.open(str(out), mode="w") as container:
                stream = container.add_stream_from_template(source)
                for packet in inp.demux(source):
                    if packet.dts is None:  # the demuxer's end-of-stream marker carries no data
                        continue
                    packet.stream = stream
                    container.mux(packet)
    except (av.error.FFmpegError, ValueError) as e:
        out.unlink(missing_ok=True)
        raise VideoDecodeError(src, f"could not be read as a video ({type(e).__name__}: {e})",
                               "The recording may be incomplete; record it again.") from None
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return out


__all__ = ["write_h264", "remux"]
