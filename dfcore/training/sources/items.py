"""A labelled item, and the checks every dataset reader shares.

Every reader returns a list of :class:`LabelledItem` sorted by path (:func:`sorted_unique`), so two runs over the
same folder see the same order. Labels follow dfcore's order ``("real", "fake")``: 0 = real, 1 = fake, whatever
the dataset's own convention. Each item also names the identities involved (the people or source videos), so a
split can keep a fake and the real clip it was made from on the same side (:mod:`.identity_split`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import DatasetError

logger = logging.getLogger(__name__)


LABELS = ("real", "fake")  # label order everywhere in dfcore: index 1 is "fake"


LAYOUTS_HELP = (
    "Expected one of: a .csv file with path,label columns; a FaceForensics++ folder "
    "(original_sequences/, manipulated_sequences/); a Celeb-DF v2 folder (Celeb-real/, "
    "Celeb-synthesis/); a DFDC folder (metadata.json in it or its subfolders); a DFDC "
    "face-crop folder (metadata.csv + faces_224/); or a folder with real/ and fake/ subfolders."
)


@dataclass(frozen=True)
class LabelledItem:
    path: Path  # a video or image file
    label: int  # 0 = real, 1 = fake (label order everywhere: ("real", "fake"))
    identities: tuple[str, ...]  # the people/source videos involved, for identity-disjoint splits
    source: str  # dataset + subset, e.g. "ffpp/original", "ffpp/Deepfakes", "dfdc", "folder", "csv"


def require_dir(root: str | os.PathLike, what: str) -> Path:
    """``root`` as a Path; a DatasetError naming it (and the ``what`` dataset) when it is not a folder."""
    p = Path(root)
    if not p.is_dir():
        reason = "is not a folder" if p.exists() else "folder not found"
        raise DatasetError(p, f"{what} dataset {reason}", "Check the path.")
    return p


def subdirs(d: Path) -> list[Path]:
    """The folders directly in ``d``, sorted (none when ``d`` is not a folder)."""
    return sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def is_media(p: Path, extensions: frozenset[str]) -> bool:
    """A visible file with one of ``extensions`` (hidden files such as macOS ``._clip.mp4`` forks are not)."""
    return p.suffix.lower() in extensions and not p.name.startswith(".") and p.is_file()


def require_columns(path: Path, columns: Sequence[str] | None, required: Sequence[str], line_no: int = 1) -> None:
    """A DatasetError naming ``path`` and the missing columns when a header lacks any of ``required``."""
    have = [c.strip().lower() for c in (columns or [])]
    lacking = [c for c in required if c not in have]
    if lacking:
        raise DatasetError(
            path, f"line {line_no}: header lacks column(s) {', '.join(lacking)} (found: {', '.join(have) or 'none'})",
            f"Expected a comma-separated header with {', '.join(required)}.",
        )


def parse_label(value: str) -> int | None:
    """0 for "real" or "0", 1 for "fake" or "1" (any case); None for anything else."""
    return {"real": 0, "fake": 1, "0": 0, "1": 1}.get(value.strip().lower())


def table_cell(row: list[str], i: int | None) -> str:
    # Short rows (a trailing column left off) read as empty cells.
    return row[i].strip() if i is not None and i < len(row) else ""


def path_key(item: LabelledItem) -> str:
    """The sort key of items: their path."""
    return str(item.path)


def sorted_unique(items: list[LabelledItem], where: Path) -> list[LabelledItem]:
    """Sort by path; drop exact duplicates; refuse a file listed with both labels."""
    by_path: dict[Path, LabelledItem] = {}
    n_dup = 0
    for it in items:
        prev = by_path.get(it.path)
        if prev is None:
            by_path[it.path] = it
        elif prev.label != it.label:
            raise DatasetError(where, f"{it.path} is listed both as real and as fake")
        else:
            n_dup += 1
    if n_dup:
        logger.warning("%s: %d file(s) listed more than once; each is kept once", where, n_dup)
    return sorted(by_path.values(), key=path_key)
