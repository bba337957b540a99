"""An uploaded file, streamed to disk with a size limit: never held in memory, refused as soon as it is too big.

A ``multipart/form-data`` body is parsed as it arrives (python-multipart's push
parser): the file part goes straight into a file in the caller's folder, the
other parts (short option strings) into a dict. The bytes are counted while
they arrive, so a body over the limit is refused after at most one chunk past
it, never after being buffered whole; a ``Content-Length`` over the limit is
refused before a byte of the body is read. The file's type is checked by its
name as soon as the part's headers arrive, before any of its bytes, and each
option field as soon as it has arrived (a client that sends them before the
file learns of a bad option before sending the file).

An upload must also keep moving: after a grace period it must average at least
a minimum rate (``UploadLimits.min_bytes_per_s``), or it is stopped with
:class:`~dfcore.errors.UploadTimeoutError`. A client that trickles bytes (or
sends none) cannot hold a socket and a temporary file for ever.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import UploadError, UploadTimeoutError, UploadTooLargeError
from ..media.video_io import check_file_type

MAX_UPLOAD_MB = 200  # the dashboard's limit too (server.maxUploadSize in .streamlit/config.toml)
MB = 1024 * 1024  # Streamlit's upload limit counts megabytes of 2**20 bytes
FIELD_MAX_BYTES = 1024  # an option field (frames, model, explain) is a short string
# Room in the body for the multipart boundaries, part headers and option fields, on top of the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
PART_HEADER_MAX_BYTES = 4096  # a part's header (its name and file name): far above any real file name
NAME_MAX_CHARS = 255  # a client's file name as messages echo it (a file system's own limit)
# Seconds an upload may take before the minimum rate applies, and that rate (bytes per second, on
# average since the upload began): 10 s and 32 KiB/s let a phone on a poor link send 200 MB in under
# two hours, and stop a client sending 1 KB/s after about 10 s.
UPLOAD_GRACE_S = 10.0
MIN_UPLOAD_BYTES_PER_S = 32 * 1024
# The media type of each file type dfcore reads. A file part whose name has no extension is typed by
# its part's Content-Type when that is one of these (a client that names the file "blob" but says video/mp4).
MEDIA_TYPES = {".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".avi": "video/x-msvideo",
               ".mkv": "video/x-matroska", ".webm": "video/webm", ".jpg": "image/jpeg", ".png": "image/png"}
_EXTENSION_OF = {media_type: ext for ext, media_type in MEDIA_TYPES.items()}
# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: never echoed back.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class UploadLimits:
    max_file_bytes: int = MAX_UPLOAD_MB * MB  # the uploaded file's size limit
    file_field: str = "file"  # the form part that carries the file
    fields: frozenset[str] = frozenset()  # the other form parts accepted; any other is refused
    grace_s: float = UPLOAD_GRACE_S  # seconds before the minimum rate applies
    min_bytes_per_s: float = MIN_UPLOAD_BYTES_PER_S  # the average rate an upload must keep after that; 0: none

    @property
    def max_body_bytes(self) -> int:
        """The whole request body's limit: the file plus the multipart framing and option fields."""
        return self.max_file_bytes + FORM_OVERHEAD_BYTES


@dataclass
class Upload:
    path: Path  # where the file was written, inside the caller's folder, under a safe name
    name: str  # the client's file name without folders: what messages call it
    size: int  # the file's size in bytes
    fields: dict[str, str] = field(default_factory=dict)  # the option fields sent, as text


def safe_name(name: str) -> str:
    """A file name with no directories and only harmless characters; the extension is kept."""
    base = client_name(name)
    stem, ext = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "upload"
    return stem[:80] + re.sub(r"[^a-z0-9.]", "", ext)


def client_name(name: str) -> str:
    """The last component of a client's file name (Windows or POSIX separators), without control characters,
    at most :data:`NAME_MAX_CHARS` long: safe to echo in a message or a log line."""
    base = Path(_CONTROL.sub("", name).replace("\\", "/")).name
    if len(base) <= NAME_MAX_CHARS:
        return base
    ext = Path(base).suffix[:16]  # the type is read from it: keep it
    return base[:NAME_MAX_CHARS - len(ext) - 1] + "\u2026" + ext


def check_content_length(headers: Mapping[str, str], limits: UploadLimits) -> None:
    """Refuse a body whose declared length is over the limit, before reading any of it.

    Raises:
        UploadTooLargeError: Content-Length is larger than :attr:`UploadLimits.max_body_bytes`.
        UploadError: Content-Length is not a number.
    """
    declared = headers.get("content-length")
    if declared is None:
        return  # chunked: the bytes are counted as they arrive
    try:
        n = int(declared)
    except ValueError:
        raise UploadError(None, f"the Content-Length header is not a number ({declared[:20]!r})") from None
    if n > limits.max_body_bytes:
        raise _too_large(None, limits)


async def receive_upload(headers: Mapping[str, str], body: AsyncIterable[bytes], folder: Path,
                         limits: UploadLimits, check_field: Callable[[str, str], None] | None = None,
                         clock: Callable[[], float] = time.monotonic) -> Upload:
    """Stream a ``multipart/form-data`` body into ``folder``: one file and a few option fields.

    Args:
        headers: the request headers (lower-case names), for Content-Type and Content-Length.
        body: the request body, chunk by chunk as it arrives.
        folder: a private folder the caller deletes afterwards (also on errors).
        limits: the size limit, the minimum rate and the form parts accepted.
        check_field: called with each option field's name and value as soon as it has arrived;
            it raises (a :class:`~dfcore.errors.DfcoreError`) to refuse the upload there.
        clock: seconds, for the minimum rate (a test's own clock).

    Returns:
        The :class:`Upload`: the file on disk, its client name and size, and the option fields.

    Raises:
        UploadTooLargeError: the file or the whole body is over the limit (the rest is not read).
        UploadTimeoutError: the body arrived slower than the minimum rate (see :class:`UploadLimits`).
        UnsupportedFormatError: the file's name has an extension dfcore does not read.
        UploadError: not multipart, malformed, no file part, two files, an unknown or oversized field
            or part header.
        DfcoreError: whatever ``check_field`` raised.
    """
    check_content_length(headers, limits)
    ctype, params = parse_options_header(headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadError(None, "the request is not multipart/form-data",
                          f"Send the file as a multipart form part named '{limits.file_field}'.")
    sink = _FormSink(folder, limits, check_field)
    # The parser's own header limit (about 4 KB) would call an overlong file name "not valid
    # multipart"; with room above ours, _FormSink says what is wrong.
    parser = MultipartParser(boundary, sink.callbacks(), max_header_size=FORM_OVERHEAD_BYTES)
    received = 0
    try:
        async for chunk in _keep_pace(body, limits, clock, sink):
            received += len(chunk)
            if received > limits.max_body_bytes:
                raise _too_large(sink.name, limits)
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        raise UploadError(sink.name, "the request body is not valid multipart/form-data") from None
    finally:
        sink.close()
    return sink.result()


async def _keep_pace(body: AsyncIterable[bytes], limits: UploadLimits, clock: Callable[[], float],
                     sink: _FormSink) -> AsyncIterable[bytes]:
    """The body's chunks, stopped with UploadTimeoutError once the upload falls below the minimum rate.

    By the time ``t`` after the start, ``min_bytes_per_s x (t - grace_s)`` bytes must have arrived; the
    wait for the next chunk is cut at the moment the bytes so far stop being enough.
    """
    started, received = clock(), 0
    chunks = aiter(body)
    while True:
        if limits.min_bytes_per_s > 0:
            wait = started + limits.grace_s + received / limits.min_bytes_per_s - clock()
            if wait <= 0:
                raise _too_slow(sink.name, limits, received, clock() - started)
        else:
            wait = float("inf")
        chunk: bytes | None = None
        with anyio.move_on_after(wait):  # the yield stays outside: a cancel scope must not span it
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                return
        if chunk is None:
            raise _too_slow(sink.name, limits, received, clock() - started)
        received += len(chunk)
        yield chunk


def _too_slow(name: str | None, limits: UploadLimits, received: int, seconds: float) -> UploadTimeoutError:
    return UploadTimeoutError(name, f"the upload was too slow ({received} bytes in {seconds:.0f} s; after "
                                    f"{limits.grace_s:g} s the server needs at least "
                                    f"{limits.min_bytes_per_s / 1024:g} KiB/s)",
                              "Send it again over a faster connection.")


class _FormSink:
    """python-multipart's callbacks: the file part to disk with a byte count, option parts to a dict."""

    def __init__(self, folder: Path, limits: UploadLimits,
                 check_field: Callable[[str, str], None] | None = None) -> None:
        self.folder, self.limits, self.check_field = folder, limits, check_field
        self.name: str | None = None  # the file's client name, once its part has begun
        self.path: Path | None = None
        self.size = 0
        self.fields: dict[str, str] = {}
        self._file: BinaryIO | None = None
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._field: str | None = None  # the option part being read
        self._value = bytearray()
        self._ended = False  # the closing boundary arrived: the body is whole

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._add_header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data, "on_part_end": self._part_end, "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]  # a header may arrive split over two chunks
        self._check_header_size()

    def _add_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._check_header_size()

    def _check_header_size(self) -> None:
        if len(self._header_name) + len(self._header_value) > PART_HEADER_MAX_BYTES:
            raise UploadError(None, f"a form part's header is longer than {PART_HEADER_MAX_BYTES} bytes "
                                    "(a file name that long?)", "Give the file a shorter name.")

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, disposition = parse_options_header(self._headers.get(b"content-disposition", b""))
        part = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        if part == self.limits.file_field:
            self._begin_file(filename.decode("utf-8", "replace") if filename is not None else "")
        elif part in self.limits.fields and filename is None:
            if part in self.fields:
                raise UploadError(self.name, f"the form field '{part}' was sent twice")
            self._field, self._value = part, bytearray()
        else:
            accepted = ", ".join(sorted({self.limits.file_field, *self.limits.fields}))
            raise UploadError(self.name, f"unexpected form part '{part[:40]}'", f"Accepted: {accepted}.")

    def _begin_file(self, filename: str) -> None:
        if self._file is not None or self.path is not None:
            raise UploadError(self.name, "the request holds more than one file", "Send one file per request.")
        if not client_name(filename):
            raise UploadError(None, f"the '{self.limits.file_field}' part has no file name",
                              "Send it as a file (with a name such as clip.mp4), not as a text field.")
        self.name = client_name(filename)
        if not Path(self.name).suffix:
            declared, _ = parse_options_header(self._headers.get(b"content-type", b""))
            self.name += _EXTENSION_OF.get(declared.decode("latin-1").lower(), "")
        check_file_type(self.name)  # refuse an unreadable type before reading a byte of it
        self.path = self.folder / safe_name(self.name)
        self._file = open(self.path, "xb")  # noqa: SIM115 - closed in _part_end or close()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self.size += end - start
            if self.size > self.limits.max_file_bytes:
                raise _too_large(self.name, self.limits)
            self._file.write(data[start:end])
        elif self._field is not None:
            self._value += data[start:end]
            if len(self._value) > FIELD_MAX_BYTES:
                raise UploadError(self.name, f"the form field '{self._field}' is longer than {FIELD_MAX_BYTES} bytes")

    def _part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._field is not None:
            # As sent, not stripped: the server is as strict as its OpenAPI schema.
            self.fields[self._field] = value = self._value.decode("utf-8", "replace")
            if self.check_field is not None:
                self.check_field(self._field, value)  # before the rest of the body is read
            self._field = None

    def _end(self) -> None:
        self._ended = True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def result(self) -> Upload:
        if not self._ended:  # a file cut short must not be analysed as if it were whole
            raise UploadError(self.name, "the request body ended before its closing boundary",
                              "The upload was cut short; send it again.")
        if self.path is None or self.name is None:
            raise UploadError(None, f"the request has no '{self.limits.file_field}' part",
                              f"Send the video or image as a multipart file part named '{self.limits.file_field}'.")
        return Upload(self.path, self.name, self.size, self.fields)


def _too_large(name: str | None, limits: UploadLimits) -> UploadTooLargeError:
    return UploadTooLargeError(name, f"the upload is larger than the limit of {limits.max_file_bytes / MB:g} MB",
                               "Send a shorter clip, or cut it first.")
