"""Reading the shared ``talking_heads/`` folder: real people speaking to a camera, live swaps, generated heads.

``metadata.csv`` has columns ``path,label,source,identity,method`` (``path`` relative to the folder's
parent, e.g. ``talking_heads/real/x.mp4``). Each item's source says what kind of footage it is, so
splits keep every kind in proportion and reports can give rates per kind:

- reals: ``talking_heads/<kind>`` with kind DeepFaceLive (streamers' webcams and TV), MEAD (studio),
  VoxCeleb2 (interviews) or LIA (driving clips);
- fakes: ``talking_heads/<method>``: DeepFaceLive (a live face swap), AniTalker, SadTalker (Linly-Talker's
  SadTalker too), MuseV, DreamTalk (generated from one photo and an audio track).

A live swap shares its ``identity`` with the clip it was made from, so a split keeps both on one side.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ...errors import DatasetError
from .items import LabelledItem, parse_label, require_columns, require_dir, sorted_unique

SOURCE_PREFIX = "talking_heads/"
# The metadata's ``source`` column names the project a real clip was published with; what matters for a
# detector is the kind of footage, so reals are named by that.
REAL_KINDS = {"DeepFaceLive": "DeepFaceLive", "dreamtalk": "MEAD", "Talking-Face_PC-AVS": "VoxCeleb2", "LIA": "LIA"}
# Generators published under several names are one method: Linly-Talker runs SadTalker.
METHOD_ALIASES = {"SadTalker (Linly-Talker)": "SadTalker"}
GENERATORS = ("AniTalker", "SadTalker", "MuseV", "DreamTalk")  # fakes made whole from one photo, no blending


def read_talking_heads(root: str | os.PathLike) -> list[LabelledItem]:
    """Read a ``talking_heads/`` folder (``metadata.csv`` + ``real/`` and ``fake/``).

    Args:
        root: the folder holding ``metadata.csv``.

    Returns:
        The clips, sorted by path; rows whose file is absent are skipped.

    Raises:
        DatasetError: no metadata, a missing column, a bad label, or no clip found.
    """
    root = require_dir(root, "talking-heads")
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise DatasetError(root, "expected metadata.csv in this folder")
    items = []
    with open(meta, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        require_columns(meta, reader.fieldnames, ("path", "label", "source", "identity", "method"))
        for row in reader:
            label = parse_label(row["label"] or "")
            if label is None:
                raise DatasetError(meta, f"line {reader.line_num}: label {row['label']!r} is not real or fake")
            rel = Path(row["path"].strip())
            path = root.parent / rel if rel.parts and rel.parts[0] == root.name else root / rel
            if not path.is_file():
                continue
            items.append(LabelledItem(path, label, (row["identity"].strip(),), footage_source(row, label)))
    if not items:
        raise DatasetError(meta, "none of the clips it lists exist")
    return sorted_unique(items, root)


def footage_source(row: dict[str, str], label: int) -> str:
    """An item's source name (see the module docstring) from its metadata row."""
    if label == 0:
        kind = row["source"].strip()
        return SOURCE_PREFIX + REAL_KINDS.get(kind, kind)
    method = row["method"].strip()
    return SOURCE_PREFIX + METHOD_ALIASES.get(method, method)


def is_generated(source: str) -> bool:
    """Whether a source is a generator that makes the whole face (no blend seam to find)."""
    return source.removeprefix(SOURCE_PREFIX) in GENERATORS and source.startswith(SOURCE_PREFIX)
