"""An image's pixel size from its header, read before anything is decoded.

A PNG of one colour compresses 144 million 16-bit pixels into under 1 MB: the
file's size says nothing about what decoding it costs. Its header does, so the
reader checks the declared size against a pixel budget first and never starts a
decode that would not fit. Only the formats dfcore reads (PNG, JPEG) are parsed.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (SOF0-SOF15) carry the picture size; C4 (DHT), C8 (JPG) and CC (DAC) are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers with no length field after them: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})


def image_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """The (width, height) a PNG or JPEG header declares.

    Args:
        data: the file's bytes (only its header is looked at).

    Returns:
        (width, height), or None when the bytes are neither a PNG nor a JPEG with a readable header.
    """
    head = bytes(data[:8])
    if head == PNG_SIGNATURE:
        return _png_size(data)
    if head[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _png_size(data: bytes | memoryview) -> tuple[int, int] | None:
    # The first chunk must be IHDR: length (4), type (4), then width and height (4 + 4, big-endian).
    if len(data) < 24 or bytes(data[12:16]) != b"IHDR":
        return None
    width, height = struct.unpack(">II", bytes(data[16:24]))
    return int(width), int(height)


def _jpeg_size(data: bytes | memoryview) -> tuple[int, int] | None:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None  # not at a marker: damaged header
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        (length,) = struct.unpack(">H", bytes(data[i + 2:i + 4]))
        if marker in _JPEG_SOF:
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", bytes(data[i + 5:i + 9]))
            return int(width), int(height)
        if marker == 0xDA or length < 2:  # start of scan before any frame header, or a broken length
            return None
        i += 2 + length
    return None
