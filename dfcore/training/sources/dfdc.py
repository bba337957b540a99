"""DFDC: folders each holding a ``metadata.json``; and the DFDC face crops of this project's shared data
(``metadata.csv`` + ``faces_224/*.jpg``)."""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path

from ...errors import DatasetError
from .items import LabelledItem, require_columns, require_dir, sorted_unique, subdirs

logger = logging.getLogger(__name__)


DFDC_FACES_DIR = "faces_224"


def read_dfdc(root: str | os.PathLike) -> list[LabelledItem]:
    """Read DFDC parts: folders each holding a ``metadata.json``.

    ``metadata.json`` maps ``"file.mp4"`` to ``{"label": "REAL"|"FAKE",
    "original": "orig.mp4" | null, ...}``. A fake's identity is its original's
    name, a real's its own (file stems, e.g. ``"abcdefghij"``), so a fake
    always lands on the same side of a split as the real clip it was made from.

    Args:
        root: a part folder (with ``metadata.json``), or a folder whose
            immediate subfolders are parts (``dfdc_train_part_0/``, ...).

    Returns:
        The clips, sorted by path. Listed files that are absent are skipped
        (with a logged warning).

    Raises:
        DatasetError: no ``metadata.json`` found, one is malformed, or no clip found.
    """
    root = require_dir(root, "DFDC")
    meta_files = dfdc_metadata_files(root)
    if not meta_files:
        raise DatasetError(root, "no metadata.json in this folder or its immediate subfolders",
                           "Point at a DFDC part folder, or the folder holding the parts.")
    items: list[LabelledItem] = []
    missing: list[Path] = []
    for meta_path in meta_files:
        try:
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DatasetError(meta_path, f"could not be read as JSON ({e})") from None
        if not isinstance(meta, dict):
            raise DatasetError(meta_path, "expected a JSON object mapping file names to entries")
        for name, entry in meta.items():
            if not isinstance(entry, dict):
                raise DatasetError(meta_path, f"entry {name!r}: expected an object with a 'label'")
            label = _dfdc_label(entry.get("label", entry.get("is_fake")))
            if label is None:
                raise DatasetError(meta_path, f"entry {name!r}: label {entry.get('label')!r} is not REAL or FAKE")
            path = meta_path.parent / name
            if not path.is_file():
                missing.append(path)
                continue
            items.append(LabelledItem(path, label, _dfdc_identities(name, label, entry.get("original")), "dfdc"))
    if missing:
        logger.warning("%s: %d clip(s) listed in metadata.json are missing (e.g. %s); skipped",
                       root, len(missing), missing[0])
    if not items:
        raise DatasetError(root, "metadata.json found, but none of the clips it lists exist")
    return sorted_unique(items, root)


def read_dfdc_faces(root: str | os.PathLike) -> list[LabelledItem]:
    """Read this project's DFDC face-crop layout: ``metadata.csv`` + ``faces_224/``.

    ``metadata.csv`` has columns ``videoname,original_width,original_height,label,original``;
    the crop for ``videoname`` ``abc.mp4`` is ``faces_224/abc.jpg``. Identities
    are as in :func:`read_dfdc`; the source is ``"dfdc"``.

    Args:
        root: the folder holding ``metadata.csv`` and ``faces_224/``.

    Returns:
        The crops, sorted by path. Rows whose image is absent are skipped
        (with a logged warning giving the count).

    Raises:
        DatasetError: the files or columns are not there, a label is not
            REAL/FAKE, or no crop was found.
    """
    root = require_dir(root, "DFDC face-crop")
    meta_path, faces = root / "metadata.csv", root / DFDC_FACES_DIR
    if not meta_path.is_file() or not faces.is_dir():
        raise DatasetError(root, f"expected metadata.csv and {DFDC_FACES_DIR}/ in this folder")
    # One listing of the folder instead of 18,000 stat calls.
    present = {p.name for p in faces.iterdir()}
    items: list[LabelledItem] = []
    n_missing = 0
    with open(meta_path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        require_columns(meta_path, reader.fieldnames, ("videoname", "label", "original"))
        for row in reader:
            name = (row["videoname"] or "").strip()
            if not name:
                continue
            label = _dfdc_label(row["label"])
            if label is None:
                raise DatasetError(meta_path, f"line {reader.line_num}: label {row['label']!r} is not REAL or FAKE")
            image = Path(name).stem + ".jpg"
            if image not in present:
                n_missing += 1
                continue
            items.append(LabelledItem(faces / image, label, _dfdc_identities(name, label, row["original"]), "dfdc"))
    if n_missing:
        logger.warning("%s: %d row(s) of metadata.csv have no image in %s/; skipped",
                       root, n_missing, DFDC_FACES_DIR)
    if not items:
        raise DatasetError(root, f"no image listed in metadata.csv exists in {DFDC_FACES_DIR}/")
    return sorted_unique(items, root)


def dfdc_metadata_files(root: Path) -> list[Path]:
    found = [root / "metadata.json"] if (root / "metadata.json").is_file() else []
    found += [d / "metadata.json" for d in subdirs(root) if (d / "metadata.json").is_file()]
    return found


def _dfdc_label(value: object) -> int | None:
    if isinstance(value, str):
        return {"REAL": 0, "FAKE": 1}.get(value.strip().upper())
    if value in (0, 1) and not isinstance(value, float):  # the test set's "is_fake": 0/1
        return int(value)
    return None


def _dfdc_identities(name: str, label: int, original: object) -> tuple[str, ...]:
    # A fake without an original (should not happen) falls back to its own name:
    # it then forms its own group rather than being silently merged with others.
    orig = str(original).strip() if original not in (None, "") else ""
    own = Path(name).stem
    return (Path(orig).stem,) if label == 1 and orig else (own,)
