"""Which files a batch analyses: files, folders, globs and CSV lists, expanded lazily.

An input is one of:

- a file: analysed whatever its type (an unsupported one gets an error line);
- a folder: every file under it, at any depth, whose type dfcore reads
  (:data:`dfcore.media.video_io.SUPPORTED_EXTENSIONS`), hidden files and folders left out;
- a glob (``clips/**/*.mp4``, quoted so the shell leaves it alone): its matches,
  folders among them walked as above;
- a ``.csv`` file with a ``path`` column (other columns, such as ``label``, are
  ignored; relative paths are read from the CSV's folder). A listed file that
  does not exist gets an error line rather than stopping the batch.

The files come out one at a time, absolute, each folder's in sorted order, so a
million-file input never sits in memory. (:func:`dfcore.training.sources.user_files.read_csv`
reads labelled lists whole and refuses any missing file: right for an
evaluation, not for a batch.)
"""

from __future__ import annotations

import csv
import glob
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import DatasetError, InputNotFoundError
from ..media.video_io import SUPPORTED_EXTENSIONS

GLOB_CHARS = frozenset("*?[")
LIST_SUFFIX = ".csv"  # an input with this suffix is a list of files, not a file to analyse
PATH_COLUMN = "path"


def check_inputs(inputs: Sequence[str | os.PathLike]) -> None:
    """Refuse, before any work starts, an input that names nothing.

    Raises:
        InputNotFoundError: a path that does not exist, or a glob that matches nothing.
        DatasetError: a CSV list without a ``path`` column, or one that is not UTF-8.
    """
    for raw in inputs:
        p = Path(raw)
        if p.is_file() and p.suffix.lower() == LIST_SUFFIX:
            _csv_path_column(p)
        elif not p.exists():
            if not _is_glob(str(raw)):
                raise InputNotFoundError(p, "not found", "Give files, folders, quoted globs or a .csv list.")
            if next(glob.iglob(str(raw), recursive=True), None) is None:
                raise InputNotFoundError(p, "this glob matches no file", "Check the pattern (quote it for the shell).")


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> Iterator[Path]:
    """Every file the inputs name, once, absolute, lazily, in the order given.

    Args:
        inputs: files, folders, globs and ``.csv`` lists (see the module's doc).

    Yields:
        Absolute, normalised paths (symbolic links kept as given, not resolved).

    Raises:
        DatasetError: a CSV list cannot be read (see :func:`check_inputs` to fail before starting).
    """
    seen: set[int] = set()  # path_key of the files given so far: a folder and a glob may name the same file
    for path in _expand(inputs):
        key = path_key(str(path))
        if key not in seen:
            seen.add(key)
            yield path


def count_inputs(inputs: Sequence[str | os.PathLike]) -> int:
    """How many files :func:`expand_inputs` yields (a second pass over the folders: for a progress total)."""
    return sum(1 for _ in expand_inputs(inputs))


def path_key(path: str) -> int:
    """A compact key for a path: 8 bytes of blake2b, so a million remembered paths take tens of MB."""
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")


def _expand(inputs: Sequence[str | os.PathLike]) -> Iterator[Path]:
    for raw in inputs:
        p = Path(raw)
        if p.is_file():
            yield from (_csv_files(p) if p.suffix.lower() == LIST_SUFFIX else [_absolute(p)])
        elif p.is_dir():
            yield from _walk(p)
        elif _is_glob(str(raw)):
            for match in glob.iglob(str(raw), recursive=True):
                m = Path(match)
                if m.is_dir():
                    yield from _walk(m)
                elif m.is_file() and m.suffix.lower() in SUPPORTED_EXTENSIONS:
                    yield _absolute(m)
        else:
            yield _absolute(p)  # vanished since check_inputs: its error line says so


def _absolute(p: Path) -> Path:
    """Absolute and without ``.``/``..`` parts, so one file named two ways is recognised as one."""
    return Path(os.path.normpath(p.absolute()))


def _is_glob(text: str) -> bool:
    return any(c in GLOB_CHARS for c in text)


def _walk(folder: Path) -> Iterator[Path]:
    """Supported files under ``folder``, depth first, sorted; hidden files and folders skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_EXTENSIONS:
                yield _absolute(Path(root) / name)


def _csv_path_column(csv_path: Path) -> int:
    """The index of the ``path`` column in the CSV's header.

    Raises:
        DatasetError: no header, no ``path`` column, or not UTF-8.
    """
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as f:
            header = next((row for row in csv.reader(f) if any(c.strip() for c in row)), None)
    except UnicodeDecodeError:
        raise DatasetError(csv_path, "is not UTF-8 text", "Save the CSV as UTF-8.") from None
    columns = [c.strip().lower() for c in header or []]
    if PATH_COLUMN not in columns:
        raise DatasetError(csv_path, f"has no {PATH_COLUMN!r} column in its header",
                           "A batch list needs a header line naming a path column, e.g.: path")
    return columns.index(PATH_COLUMN)


def _csv_files(csv_path: Path) -> Iterator[Path]:
    """The files a CSV list names, one row at a time; relative paths from the CSV's folder."""
    column = _csv_path_column(csv_path)
    base = csv_path.absolute().parent
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as f:
            rows = csv.reader(f)
            next((row for row in rows if any(c.strip() for c in row)), None)  # the header
            for row in rows:
                cell = row[column].strip() if column < len(row) else ""
                if cell:
                    path = Path(cell).expanduser()
                    yield _absolute(path if path.is_absolute() else base / path)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(csv_path, f"could not be read as a UTF-8 CSV ({e})") from None
