"""A batch's output: a JSON-lines file that is appended to as results arrive, and resumed from.

Each line is one video (see :mod:`dfcore.serving.batch_worker`), written with one
``write`` and flushed to disk before the next, so a crash, a Ctrl+C or a lost
machine costs only the videos in flight. A run given an existing file first
cuts off a torn last line (a line the crash left half-written), then skips
every video it already holds a line for with the same path, file content
(sha256), model (its checkpoint's sha256) and frame count: analysed, or failed
(``retry_failed`` drops the failed lines and runs those videos again). The file
is locked while a run writes it, so two runs never interleave their lines.

A result line written before the three verdicts (schema 1: "REAL" or "FAKE" from
one threshold, no ``schema_version``) does not count as done: a user resuming
expects one kind of verdict in the file, so such lines of this run's model and
frame count are moved to ``NAME.schema1.jsonl`` beside the output (kept, not
deleted) and their videos analysed again.

What is remembered per video is an 8-byte digest, not its line: resuming a
million-video file takes tens of megabytes, not gigabytes.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
from pathlib import Path
from typing import BinaryIO

from .batch_inputs import path_key
from ..decision import VERDICTS
from ..errors import OutputError, OutputInUseError

# "threshold" is t_fake (FAKE at or above it), as in the JSON; t_no_sign: NO_SIGN below it.
SUMMARY_COLUMNS = ("path", "verdict", "fake_probability", "threshold", "t_no_sign", "n_frames_requested", "n_frames",
                   "n_frames_with_face", "seconds", "model", "model_sha256", "sha256", "error")
LEGACY_SCHEMA = 1  # lines without "schema_version": REAL / FAKE from one threshold


def is_legacy(line: dict) -> bool:
    """Whether a result line predates the three verdicts (schema 1, e.g. verdict "REAL"); error lines never do."""
    if line.get("error"):
        return False
    version = line.get("schema_version", LEGACY_SCHEMA)
    return not isinstance(version, int) or version <= LEGACY_SCHEMA or line.get("verdict") not in VERDICTS


def legacy_path(out: str | os.PathLike) -> Path:
    """Where a run moves the output's schema-1 lines it analyses again.

    ``results.jsonl`` -> ``results.schema1.jsonl``.
    """
    p = Path(out)
    return p.with_name(f"{p.stem}.schema{LEGACY_SCHEMA}{p.suffix or '.jsonl'}")


def result_key(path: str, sha256: str | None, model_sha256: str, n_frames: int) -> int:
    """A compact key for one video's result under one model and frame count."""
    return path_key("\0".join((path, sha256 or "", model_sha256, str(n_frames))))


class ResultLog:
    """The output file of one batch run, opened for resuming and appending.

    Use it as a context manager: entering locks the file, repairs a torn tail and
    reads what earlier runs did; leaving closes and unlocks it.

    Args:
        path: the JSON-lines file (created, with its folder, when missing).
        model_sha256: this run's model (its checkpoint file's sha256).
        n_frames: this run's frames per video.
        retry_failed: drop this model and frame count's failed lines, so those videos run again.

    Raises (on entering):
        OutputInUseError: another run holds the file.
        OutputError: the file cannot be created or written (a folder, a read-only place).
    """

    def __init__(self, path: str | os.PathLike, model_sha256: str, n_frames: int, retry_failed: bool = False) -> None:
        self.path = Path(path)
        self.model_sha256 = model_sha256
        self.n_frames = n_frames
        self.retry_failed = retry_failed
        self.previous_ok = 0  # lines for this model and frame count with a result, from earlier runs
        self.previous_failed = 0  # ... with an error (kept, unless retry_failed)
        self.dropped_failed = 0  # failed lines removed for retry_failed
        self.legacy = 0  # schema-1 result lines of this model and frame count: moved to legacy_path(), run again
        self.unreadable = 0  # lines that are not JSON objects (skipped; their videos run again)
        self._done: set[int] = set()  # result_key of every line that counts as done
        self._paths: set[int] = set()  # path_key of the same lines: only these files need hashing
        self._file: BinaryIO | None = None

    def __enter__(self) -> ResultLog:
        try:
            if self.path.is_dir():  # open() would say only "Is a directory"
                raise IsADirectoryError(21, "it is a folder")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._open_locked()
        except OSError as e:
            raise OutputError(self.path, f"the output cannot be written ({e.strerror or e})",
                              "Give --out a file name in a folder you can write to.") from None
        try:
            _cut_torn_tail(self._file)
            failed = self._read()
            if (failed and self.retry_failed) or self.legacy:
                self._rewrite()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # also releases the lock
            self._file = None

    def has_path(self, path: str) -> bool:
        """Whether an earlier line (this model and frame count) is about this path: only then is hashing worth it."""
        return path_key(path) in self._paths

    def is_done(self, path: str, sha256: str | None) -> bool:
        """Whether an earlier line holds this file, with this content, model and frame count."""
        return result_key(path, sha256, self.model_sha256, self.n_frames) in self._done

    def write(self, line: dict) -> None:
        """Append one line and push it to disk before returning."""
        if self._file is None:
            raise ValueError("the result log is closed")
        self._file.write(json.dumps(line).encode("ascii") + b"\n")  # ASCII: a file name that is not UTF-8 survives, escaped
        self._file.flush()
        os.fsync(self._file.fileno())  # a lost machine must not lose lines already reported as written

    def _open_locked(self) -> BinaryIO:
        f = open(self.path, "a+b")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise OutputInUseError(self.path, "another batch run is writing this file",
                                   "Wait for it to finish, or give another --out.") from None
        return f

    def _read(self) -> int:
        """Remember this model and frame count's lines; returns how many of them are failures."""
        assert self._file is not None
        self._file.seek(0)
        for raw in self._file:
            line = _parse(raw)
            if line is None:
                self.unreadable += 1
                continue
            if not self._counts(line):
                continue
            if is_legacy(line):
                self.legacy += 1  # not done: analysed again with the three verdicts
                continue
            if line.get("error"):
                self.previous_failed += 1
                if self.retry_failed:
                    continue
            else:
                self.previous_ok += 1
            path = str(line.get("path"))
            self._done.add(result_key(path, line.get("sha256"), self.model_sha256, self.n_frames))
            self._paths.add(path_key(path))
        return self.previous_failed

    def _counts(self, line: dict) -> bool:
        """Whether a line is about this run's model and frame count."""
        model = line.get("model") or {}
        return model.get("sha256") == self.model_sha256 and line.get("n_frames_requested") == self.n_frames

    def _rewrite(self) -> None:
        """Rewrite the file without this run's schema-1 lines (appended to :func:`legacy_path` first, so none
        is lost) and, with retry_failed, without its failed lines (to a temporary file, then an atomic rename)."""
        assert self._file is not None
        tmp = self.path.with_name(self.path.name + ".tmp")
        self._file.seek(0)
        legacy: list[bytes] = []
        with open(tmp, "wb") as out:
            for raw in self._file:
                line = _parse(raw)
                if line is not None and self._counts(line):
                    if is_legacy(line):
                        legacy.append(raw)
                        continue
                    if self.retry_failed and line.get("error"):
                        self.dropped_failed += 1
                        continue
                out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        if legacy:
            _append_synced(legacy_path(self.path), legacy)
        os.replace(tmp, self.path)
        self._file.close()
        # The lock was on the replaced file: take it on the new one (a run started in
        # between these two lines could slip in; this is a one-off step, not every run's).
        self._file = self._open_locked()
        if self.retry_failed:
            self.previous_failed = 0


def write_summary_csv(jsonl: str | os.PathLike, out: str | os.PathLike) -> int:
    """Write a batch output's lines as a CSV table (one row per line, read one at a time).

    Args:
        jsonl: the batch's JSON-lines output.
        out: the CSV to write (columns :data:`SUMMARY_COLUMNS`).

    Returns:
        The number of rows written.
    """
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(jsonl, "rb") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(SUMMARY_COLUMNS)
        for raw in src:
            line = _parse(raw)
            if line is None:
                continue
            model = line.get("model") or {}
            cells = {
                **line, "model": model.get("name"), "model_sha256": model.get("sha256"),
                "seconds": (line.get("timings_s") or {}).get("total"),
                "t_no_sign": (line.get("decision") or {}).get("t_no_sign"),  # absent in schema-1 lines
            }
            writer.writerow(["" if cells.get(c) is None else cells[c] for c in SUMMARY_COLUMNS])
            rows += 1
    return rows


def _append_synced(path: Path, raws: list[bytes]) -> None:
    """Append whole lines to ``path`` and push them to disk."""
    with open(path, "ab") as f:
        for raw in raws:
            f.write(raw if raw.endswith(b"\n") else raw + b"\n")
        f.flush()
        os.fsync(f.fileno())


def _parse(raw: bytes) -> dict | None:
    try:
        line = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return line if isinstance(line, dict) else None


def _cut_torn_tail(f: BinaryIO) -> None:
    """Cut the file after its last newline: a line without one was torn by a crash mid-write."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return
    pos, chunk = size, 1 << 16
    while pos > 0:
        start = max(0, pos - chunk)
        f.seek(start)
        block = f.read(pos - start)
        nl = block.rfind(b"\n")
        if nl >= 0:
            end = start + nl + 1
            if end < size:
                f.truncate(end)
            return
        pos = start
    f.truncate(0)  # not one complete line
