"""Celeb-DF v2: ``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/`` and ``List_of_testing_videos.txt``
(whose labels read 1 = real; converted here, once)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ...errors import DatasetError
from ...media.formats import VIDEO_EXTENSIONS
from .items import LabelledItem, is_media, require_dir, sorted_unique

logger = logging.getLogger(__name__)


_CELEBDF_TEST_LIST = "List_of_testing_videos.txt"


def read_celebdf(root: str | os.PathLike, test_only: bool = False) -> list[LabelledItem]:
    """Read a Celeb-DF (v2) folder.

    ``Celeb-real/idX_NNNN.mp4`` is real (identity ``idX``);
    ``YouTube-real/NNNNN.mp4`` is real (identity ``yt-NNNNN``);
    ``Celeb-synthesis/idX_idY_NNNN.mp4`` is fake (identities ``idX``, ``idY``).
    Sources are ``celebdf/<folder>``.

    Args:
        root: the folder holding ``Celeb-real``, ``Celeb-synthesis``, ...
        test_only: read only the clips listed in ``List_of_testing_videos.txt``
            (whose labels use 1 = real, 0 = fake; converted to dfcore's 0 = real).

    Returns:
        The clips, sorted by path.

    Raises:
        DatasetError: the layout or the test list is not there, a test-list line
            is malformed or contradicts its folder, or no clip was found.
    """
    root = require_dir(root, "Celeb-DF")
    if not any((root / d).is_dir() for d in ("Celeb-real", "Celeb-synthesis", "YouTube-real")):
        raise DatasetError(
            root, "no Celeb-real/, YouTube-real/ or Celeb-synthesis/ folder",
            "Point at the Celeb-DF v2 root folder.",
        )
    items = _read_celebdf_test_list(root) if test_only else _read_celebdf_all(root)
    if not items:
        raise DatasetError(root, "no clips found in Celeb-real/, YouTube-real/ or Celeb-synthesis/")
    return sorted_unique(items, root)


def _celebdf_item(root: Path, rel: Path) -> LabelledItem | None:
    """The item for a file under root, from its folder and name; None if not a Celeb-DF name."""
    if len(rel.parts) != 2:
        return None
    folder, stem = rel.parts[0], rel.stem
    if folder == "Celeb-real" and (m := re.fullmatch(r"(id\d+)_\d+", stem)):
        return LabelledItem(root / rel, 0, (m.group(1),), "celebdf/Celeb-real")
    if folder == "YouTube-real" and re.fullmatch(r"\d+", stem):
        return LabelledItem(root / rel, 0, (f"yt-{stem}",), "celebdf/YouTube-real")
    if folder == "Celeb-synthesis" and (m := re.fullmatch(r"(id\d+)_(id\d+)_\d+", stem)):
        return LabelledItem(root / rel, 1, (m.group(1), m.group(2)), "celebdf/Celeb-synthesis")
    return None


def _read_celebdf_all(root: Path) -> list[LabelledItem]:
    items, unparsed = [], []
    for folder in ("Celeb-real", "YouTube-real", "Celeb-synthesis"):
        d = root / folder
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if not is_media(p, VIDEO_EXTENSIONS):
                continue
            item = _celebdf_item(root, p.relative_to(root))
            if item is None:
                unparsed.append(p)
            else:
                items.append(item)
    if unparsed:
        logger.warning("%s: skipped %d file(s) not named as Celeb-DF names them (e.g. %s)",
                       root, len(unparsed), unparsed[0])
    return items


def _read_celebdf_test_list(root: Path) -> list[LabelledItem]:
    list_path = root / _CELEBDF_TEST_LIST
    if not list_path.is_file():
        raise DatasetError(list_path, "test list not found",
                           "It ships with Celeb-DF v2; or read with test_only=False.")
    items, missing = [], []
    with open(list_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[0] not in ("0", "1"):
                raise DatasetError(list_path,
                                   f"line {line_no}: expected 'LABEL relative/path.mp4', got {line.strip()!r}")
            rel = Path(parts[1])
            item = _celebdf_item(root, rel)
            if item is None:
                raise DatasetError(list_path, f"line {line_no}: {parts[1]!r} is not a Celeb-DF clip name")
            # The list says 1 = real; dfcore says 1 = fake.
            label = 1 - int(parts[0])
            if label != item.label:
                # The folder and the list disagree: a label convention has been
                # flipped somewhere, and every score would be read backwards.
                raise DatasetError(
                    list_path, f"line {line_no}: label {parts[0]} (1 = real) contradicts folder {rel.parts[0]}",
                    "Is this the original Celeb-DF v2 list?",
                )
            if not item.path.is_file():
                missing.append(item.path)
                continue
            items.append(item)
    if missing:
        logger.warning("%s: %d listed test clip(s) are missing (e.g. %s); evaluating without them",
                       list_path, len(missing), missing[0])
    return items
