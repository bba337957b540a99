"""Hostile media for the attack tests: pictures whose header promises far more pixels than the file's size.

Written row by row through zlib, so making a 144-megapixel PNG never holds it in memory.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def write_flat_png(path: Path, width: int, height: int, value: int = 40000, bit_depth: int = 16) -> Path:
    """A one-colour RGB PNG of the given size (tiny on disk, huge decoded)."""
    sample = value.to_bytes(2, "big") if bit_depth == 16 else bytes([value & 0xFF])
    row = b"\x00" + sample * (3 * width)  # filter type 0, then the pixels
    comp = zlib.compressobj(9)
    idat = bytearray()
    for _ in range(height):
        idat += comp.compress(row)
    idat += comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(idat)) + chunk(b"IEND", b""))
    return path


def write_flat_h264(path: Path, width: int, height: int) -> Path:
    """A one-frame, one-colour H.264 clip of the given size (under 1 MB even at 16000x16000)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "40"}
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([128]) * plane.buffer_size)
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return path
