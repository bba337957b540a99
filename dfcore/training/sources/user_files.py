"""A user's own data: a folder with ``real/`` and ``fake/`` in it, or a CSV of ``path,label`` (and optionally
``identity``) rows."""

from __future__ import annotations

import csv
import logging
import os
import re
from pathlib import Path

from ...errors import DatasetError
from ...media.formats import SUPPORTED_EXTENSIONS
from .items import (
    LABELS, LAYOUTS_HELP, LabelledItem, is_media, parse_label, require_columns, require_dir, sorted_unique, subdirs,
    table_cell,
)

logger = logging.getLogger(__name__)


def read_folder(root: str | os.PathLike) -> list[LabelledItem]:
    """Read ``root/real/**`` (label 0) and ``root/fake/**`` (label 1).

    Folder names match in any case (``Real/``, ``FAKE/``). Files are taken at
    any depth if their extension is one dfcore reads; hidden files (such as
    macOS ``._clip.mp4`` resource forks) are skipped. Each item's identity is
    its file stem, so only files that share a name are kept together in a split.

    Args:
        root: the folder holding ``real/`` and/or ``fake/``.

    Returns:
        The files, sorted by path; source ``"folder"``.

    Raises:
        DatasetError: neither subfolder exists, or no supported file is in them.
    """
    root = require_dir(root, "labelled")
    label_dirs = [(d, LABELS.index(d.name.lower())) for d in subdirs(root) if d.name.lower() in LABELS]
    if not label_dirs:
        raise DatasetError(root, "no real/ or fake/ subfolder", LAYOUTS_HELP)
    items = []
    for d, label in label_dirs:
        for p in d.rglob("*"):
            if is_media(p, SUPPORTED_EXTENSIONS) and not any(part.startswith(".") for part in p.relative_to(d).parts):
                items.append(LabelledItem(p, label, (p.stem,), "folder"))
    if not items:
        kinds = ", ".join(sorted(e.lstrip(".") for e in SUPPORTED_EXTENSIONS))
        raise DatasetError(root, "no video or image files under real/ or fake/", f"Supported: {kinds}.")
    present = {it.label for it in items}
    if len(present) == 1:
        logger.warning("%s: only %s files found; metrics such as AUC need both classes", root, LABELS[present.pop()])
    return sorted_unique(items, root)


def read_csv(csv_path: str | os.PathLike) -> list[LabelledItem]:
    """Read a CSV listing files and labels.

    The header must have ``path`` and ``label`` columns (any case, any order);
    other columns are ignored. ``label`` is ``real``/``fake`` in any case, or
    ``0``/``1`` with 1 = fake. Relative paths are resolved against the CSV's
    folder. An optional ``identity`` column groups items for splitting; several
    identities in one cell are separated by ``;`` or ``+`` (e.g. a face swap's
    target and source: ``033+097``, as ``dfcore.training.sources.splits`` writes its split CSVs).
    Without it, an item's identity is its file stem. Blank lines are ignored.

    Args:
        csv_path: the CSV file (UTF-8, with or without a byte-order mark).

    Returns:
        The listed files, sorted by path; source ``"csv"``.

    Raises:
        DatasetError: the file is missing, a column is missing, or a line has a
            bad label, an unsupported file type, or a file that does not exist
            (the message names the line).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(csv_path, "CSV file not found", "Check the path.")
    base = csv_path.parent
    items, missing = [], []
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next((row for row in reader if any(c.strip() for c in row)), None)
            if header is None:
                raise DatasetError(csv_path, "the CSV is empty", "Expected a header line: path,label")
            columns = [c.strip().lower() for c in header]
            require_columns(csv_path, columns, ("path", "label"), line_no=reader.line_num)
            i_path, i_label = columns.index("path"), columns.index("label")
            i_ident = columns.index("identity") if "identity" in columns else None
            for row in reader:
                if not any(c.strip() for c in row):
                    continue
                line_no = reader.line_num
                raw_path, raw_label = table_cell(row, i_path), table_cell(row, i_label)
                if not raw_path:
                    raise DatasetError(csv_path, f"line {line_no}: empty path")
                label = parse_label(raw_label)
                if label is None:
                    raise DatasetError(
                        csv_path, f"line {line_no}: label {raw_label!r} is not real/fake or 0/1",
                        "Use real or fake (or 0 = real, 1 = fake).",
                    )
                path = Path(raw_path).expanduser()
                path = path if path.is_absolute() else base / path
                if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
                    raise DatasetError(csv_path, f"line {line_no}: unsupported file type {path.suffix or '(none)'!r}")
                if not path.is_file():
                    missing.append((line_no, raw_path))
                    continue
                idents = tuple(s.strip() for s in re.split(r"[;+]", table_cell(row, i_ident)) if s.strip()) or (path.stem,)
                items.append(LabelledItem(path, label, idents, "csv"))
    except UnicodeDecodeError:
        raise DatasetError(csv_path, "is not UTF-8 text", "Save the CSV as UTF-8.") from None
    except csv.Error as e:
        raise DatasetError(csv_path, f"could not be parsed as CSV ({e})") from None
    if missing:
        line_no, raw = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(csv_path, f"line {line_no}: file {raw!r} does not exist{more}",
                           f"Relative paths are read from {base}.")
    if not items:
        raise DatasetError(csv_path, "lists no files", "Expected lines like: clips/a.mp4,fake")
    return sorted_unique(items, csv_path)
