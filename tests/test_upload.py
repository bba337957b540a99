"""dfcore.serving.upload: a multipart body streamed to disk, counted as it arrives, refused as soon as it is too big."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from dfcore.errors import UnsupportedFormatError, UploadError, UploadTooLargeError
from dfcore.serving.upload import FORM_OVERHEAD_BYTES, UploadLimits, receive_upload, safe_name

BOUNDARY = "----dfcoreTestBoundary"
HEADERS = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
LIMITS = UploadLimits(max_file_bytes=1000, fields=frozenset({"frames", "model"}))


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def _body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


class _Counted:
    """The body in chunks of ``size`` bytes, counting how many bytes were taken."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size, self.taken = data, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), self.size):
            chunk = self.data[i : i + self.size]
            self.taken += len(chunk)
            yield chunk


def _receive(body: bytes | Iterable, folder: Path, chunk: int = 64, headers: dict | None = None,
             limits: UploadLimits = LIMITS):
    stream = body if isinstance(body, _Counted) else _Counted(body, chunk)
    return asyncio.run(receive_upload(headers or HEADERS, stream, folder, limits))


@pytest.mark.parametrize("chunk", [1, 7, 64, 100_000])  # headers and data split anywhere between chunks
def test_file_and_fields(tmp_path: Path, chunk: int) -> None:
    data = bytes(range(256)) * 3
    body = _body(_part("frames", b"40"), _part("file", data, "my clip.MP4"), _part("model", b" compact"))
    up = _receive(body, tmp_path, chunk)
    assert up.path == tmp_path / "my_clip.mp4" and up.path.read_bytes() == data
    assert up.name == "my clip.MP4" and up.size == len(data)
    assert up.fields == {"frames": "40", "model": " compact"}  # as sent: the caller judges it


def test_client_folders_are_dropped(tmp_path: Path) -> None:
    up = _receive(_body(_part("file", b"x", "..\\..\\win\\a.jpg")), tmp_path)
    assert up.name == "a.jpg" and up.path.parent == tmp_path
    up = _receive(_body(_part("file", b"x", "../../etc/b.png")), tmp_path / "." )
    assert up.name == "b.png" and up.path == tmp_path / "b.png"


def test_limit_is_exact(tmp_path: Path) -> None:
    assert _receive(_body(_part("file", b"a" * 1000, "a.mp4")), tmp_path).size == 1000
    with pytest.raises(UploadTooLargeError, match="larger than the limit") as e:
        _receive(_body(_part("file", b"a" * 1001, "b.mp4")), tmp_path)
    assert e.value.path == "b.mp4"


def test_too_large_stops_reading(tmp_path: Path) -> None:
    body = _Counted(_body(_part("file", b"a" * 100_000, "a.mp4")), 100)
    with pytest.raises(UploadTooLargeError):
        _receive(body, tmp_path)
    assert body.taken <= 1000 + 200  # the headers, the limit and at most one chunk past it
    assert (tmp_path / "a.mp4").stat().st_size <= 1000  # never more than the limit on disk either


def test_whole_body_is_bounded_too(tmp_path: Path) -> None:
    """Bytes outside any part (an epilogue after the closing boundary, which parsers ignore) count as well."""
    body = _Counted(_body(_part("file", b"a", "a.mp4")) + b"x" * (FORM_OVERHEAD_BYTES + 2000), 4096)
    with pytest.raises(UploadTooLargeError):
        _receive(body, tmp_path)
    assert body.taken <= LIMITS.max_body_bytes + 4096


def test_content_length_checked_first(tmp_path: Path) -> None:
    body = _Counted(_body(_part("file", b"a", "a.mp4")), 64)
    headers = {**HEADERS, "content-length": str(LIMITS.max_body_bytes + 1)}
    with pytest.raises(UploadTooLargeError):
        _receive(body, tmp_path, headers=headers)
    assert body.taken == 0
    with pytest.raises(UploadError, match="Content-Length"):
        _receive(body, tmp_path, headers={**HEADERS, "content-length": "lots"})


def test_unsupported_type_refused_before_its_bytes(tmp_path: Path) -> None:
    body = _Counted(_body(_part("file", b"a" * 900, "anim.gif")), 100)
    with pytest.raises(UnsupportedFormatError, match="unsupported file type '.gif'"):
        _receive(body, tmp_path)
    assert body.taken <= 200
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("body, headers, match", [
    (_body(_part("frames", b"10")), None, "no 'file' part"),
    (_body(_part("file", b"abc")), None, "has no file name"),
    (_body(_part("file", b"abc", "")), None, "has no file name"),
    (_body(_part("file", b"a", "a.mp4"), _part("file", b"b", "b.mp4")), None, "more than one file"),
    (_body(_part("file", b"a", "a.mp4"), _part("frames", b"1"), _part("frames", b"2")), None, "sent twice"),
    (_body(_part("file", b"a", "a.mp4"), _part("colour", b"red")), None, "unexpected form part 'colour'"),
    (_body(_part("file", b"a", "a.mp4"), _part("model", b"m" * 2000)), None, "longer than 1024 bytes"),
    (b"frames=10", {"content-type": "application/x-www-form-urlencoded"}, "not multipart/form-data"),
    (b"abc", {"content-type": "multipart/form-data"}, "not multipart/form-data"),  # no boundary
    (b"garbage before any boundary", None, "not valid multipart"),
    (_part("file", b"a", "a.mp4"), None, "ended before its closing boundary"),  # cut short
    (_part("file", b"a", "a.mp4")[:-10], None, "ended before its closing boundary"),  # cut inside the file
])
def test_malformed(tmp_path: Path, body: bytes, headers: dict | None, match: str) -> None:
    with pytest.raises(UploadError, match=match):
        _receive(body, tmp_path, headers=headers)


@pytest.mark.parametrize("name, expected", [("../../x.mp4", "x.mp4"), ("a b\u00e9.MOV", "a_b.mov"), ("..", "upload")])
def test_safe_name(name: str, expected: str) -> None:
    assert safe_name(name) == expected
