"""A video codec's damage in training: a face region through a real H.264 encode and decode, in memory.

A re-upload or FF++'s own c40 release codes every frame through H.264 at a low bitrate: 4x4 and 8x8 integer
transforms, a deblocking filter that smooths what the quantiser left, and motion-compensated prediction from the
frame before. A JPEG of one frame has none of the last two (issue 29, item 2), so here the region is coded as
the second frame of a two-frame clip: first a copy moved by a few pixels (the frame before, the face a little
elsewhere), then the region itself, predicted from it as a P-frame. Reals and fakes alike, after the self-blend
and before the model's crop is cut: a face swap is blended into the frame before anyone uploads it, and the
codec codes the whole frame, not the crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

# Constant rate factors drawn: 28 is a fair web copy, 40 FF++'s c40, 42 beyond it (the cached regions already
# went through the datasets' own encodes, so the drawn rate is a second, harsher pass).
CRF_RANGE = (28, 42)
MAX_SHIFT_PX = 3  # how far the face moved since the frame before, per axis


@dataclass(frozen=True)
class CodecParams:
    crf: int  # x264 constant rate factor of the pass
    shift: tuple[int, int]  # (rows, columns) the frame before is moved by: what the motion search must find


def sample_codec(rng: np.random.Generator, prob: float) -> CodecParams | None:
    """Draw a codec pass with chance ``prob`` (None: the face keeps its own compression)."""
    if not rng.random() < prob:
        return None
    shift = rng.integers(-MAX_SHIFT_PX, MAX_SHIFT_PX + 1, size=2)
    return CodecParams(int(rng.integers(CRF_RANGE[0], CRF_RANGE[1] + 1)), (int(shift[0]), int(shift[1])))


def apply_codec(img: np.ndarray, p: CodecParams) -> np.ndarray:
    """One (H, W, 3) uint8 RGB image after an H.264 pass at ``p.crf``, coded as a P-frame.

    Args:
        img: the image; an odd side keeps its last row or column uncoded (4:2:0 needs even sides).
        p: the pass.

    Returns:
        An image of the same size and type.
    """
    import av  # here, not at the top: the GPU recipe imports the stages on a machine without PyAV

    h, w = img.shape[0] - img.shape[0] % 2, img.shape[1] - img.shape[1] % 2
    even = np.ascontiguousarray(img[:h, :w])
    before = np.ascontiguousarray(np.roll(even, p.shift, axis=(0, 1)))
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base, enc.framerate = Fraction(1, 25), Fraction(25)
    # No B-frames: the region is the second picture and must be predicted from the first. One thread: training
    # already keeps both cores busy, and a pass is milliseconds.
    enc.options = {"crf": str(p.crf), "preset": "veryfast", "bframes": "0", "threads": "1"}
    packets = []
    for pts, picture in enumerate((before, even)):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = pts
        packets += enc.encode(frame)
    packets += enc.encode(None)
    dec = av.CodecContext.create("h264", "r")
    decoded = [f for packet in packets for f in dec.decode(packet)] + list(dec.decode(None))
    out = img.copy()
    out[:h, :w] = decoded[-1].to_ndarray(format="rgb24")
    return out
