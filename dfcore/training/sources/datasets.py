"""Reading labelled datasets, and splitting them so no identity leaks across a split.

Every reader returns a list of :class:`LabelledItem` sorted by path, so two runs
over the same folder see the same order. Labels follow dfcore's order
``("real", "fake")``: 0 = real, 1 = fake, whatever the dataset's own convention
(Celeb-DF's test list uses 1 = real; it is converted here, once).

Each item also names the identities involved (the people or source videos), so
:func:`split_by_identity` can keep a fake and the real clip it was made from on
the same side: a detector validated on faces it was trained on looks far better
than it is.

Supported layouts (``read_dataset`` picks one by looking at the folder):

- FaceForensics++: ``original_sequences/<youtube|actors>/<quality>/videos/*.mp4``
  and ``manipulated_sequences/<Method>/<quality>/videos/TTT_SSS.mp4``;
- Celeb-DF v2: ``Celeb-real/``, ``YouTube-real/``, ``Celeb-synthesis/``
  and ``List_of_testing_videos.txt``;
- DFDC: folders each holding a ``metadata.json``;
- DFDC face crops (this project's shared layout): ``metadata.csv`` + ``faces_224/*.jpg``;
- a plain folder: ``real/**`` and ``fake/**``;
- a CSV file with ``path,label`` columns (and optionally ``identity``).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DatasetError
from ...media.formats import SUPPORTED_EXTENSIONS, VIDEO_EXTENSIONS

logger = logging.getLogger(__name__)

LABELS = ("real", "fake")  # label order everywhere in dfcore: index 1 is "fake"

# FF++ quality folders. The paper calls the uncompressed level "c0", the
# download script "raw": accept either name for it in a ``qualities`` filter.
_FFPP_QUALITY_ALIASES = {"c0": "raw", "raw": "raw"}
# FF++ also ships per-method "masks/videos"; they are not clips to classify.
_FFPP_NOT_QUALITY = frozenset({"masks"})

_CELEBDF_TEST_LIST = "List_of_testing_videos.txt"
_DFDC_FACES_DIR = "faces_224"

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


# --------------------------------------------------------------------------- FaceForensics++


def read_ffpp(root: str | os.PathLike, qualities: Iterable[str] | None = None) -> list[LabelledItem]:
    """Read a FaceForensics++ folder (the dataset's own layout).

    Real clips: ``original_sequences/youtube/<q>/videos/NNN.mp4`` (identity
    ``NNN``, source ``ffpp/original``) and, if present, the DeepFakeDetection
    actors ``original_sequences/actors/<q>/videos/AA__scene.mp4`` (identity
    ``actor-AA``, source ``ffpp/actors``). Fakes:
    ``manipulated_sequences/<Method>/<q>/videos/TTT_SSS.mp4`` (identities
    ``TTT`` and ``SSS``: the target's video and the source's face; source
    ``ffpp/<Method>``).

    Args:
        root: the folder holding ``original_sequences`` and/or ``manipulated_sequences``.
        qualities: only read these quality folders (e.g. ``["c23"]``; ``c0`` and
            ``raw`` are the same level). None reads every quality present.

    Returns:
        The clips, sorted by path.

    Raises:
        DatasetError: the layout is not there, or no clip was found.
    """
    root = _require_dir(root, "FaceForensics++")
    orig, manip = root / "original_sequences", root / "manipulated_sequences"
    if not orig.is_dir() and not manip.is_dir():
        raise DatasetError(
            root, "no original_sequences/ or manipulated_sequences/ folder",
            "Point at the FaceForensics++ root (the folder the download script wrote into).",
        )
    wanted = None if qualities is None else {_FFPP_QUALITY_ALIASES.get(q, q) for q in qualities}
    items: list[LabelledItem] = []
    unparsed: list[Path] = []
    for subset_dir in _subdirs(orig):
        for path in _ffpp_videos(subset_dir, wanted):
            ids = _ffpp_real_identities(path.stem, subset_dir.name)
            if ids is None:
                unparsed.append(path)
                ids = (path.stem,)
            source = "ffpp/original" if subset_dir.name == "youtube" else f"ffpp/{subset_dir.name}"
            items.append(LabelledItem(path, 0, ids, source))
    for method_dir in _subdirs(manip):
        for path in _ffpp_videos(method_dir, wanted):
            ids = _ffpp_fake_identities(path.stem)
            if ids is None:
                unparsed.append(path)
                ids = (path.stem,)
            items.append(LabelledItem(path, 1, ids, f"ffpp/{method_dir.name}"))
    if unparsed:
        # A clip whose name we cannot read still counts, but its identity is only
        # its own name, so it cannot be linked to its real source: say so.
        logger.warning(
            "%s: %d FaceForensics++ file name(s) not in the NNN / TTT_SSS form (e.g. %s); "
            "their identity is the file name alone", root, len(unparsed), unparsed[0].name,
        )
    if not items:
        which = f" for qualities {sorted(wanted)}" if wanted else ""
        raise DatasetError(
            root, f"no clips found{which} under */<quality>/videos/",
            "Expected e.g. original_sequences/youtube/c23/videos/000.mp4.",
        )
    return _finish(items, root)


def _ffpp_videos(group_dir: Path, wanted: set[str] | None) -> list[Path]:
    found = []
    for quality_dir in _subdirs(group_dir):
        name = quality_dir.name
        if name in _FFPP_NOT_QUALITY:
            continue
        if wanted is not None and _FFPP_QUALITY_ALIASES.get(name, name) not in wanted:
            continue
        videos = quality_dir / "videos"
        if videos.is_dir():
            found.extend(p for p in videos.iterdir() if _is_media(p, VIDEO_EXTENSIONS))
    return found


def _ffpp_real_identities(stem: str, subset: str) -> tuple[str, ...] | None:
    if re.fullmatch(r"\d+", stem):
        return (stem,)
    # DeepFakeDetection actors: "01__exit_phone_room". The actor is the identity;
    # prefixed so actor "01" can never collide with YouTube clip "01".
    m = re.fullmatch(r"(\d+)__.+", stem)
    if m and subset == "actors":
        return (f"actor-{m.group(1)}",)
    return None


def _ffpp_fake_identities(stem: str) -> tuple[str, ...] | None:
    m = re.fullmatch(r"(\d+)_(\d+)", stem)
    if m:
        return (m.group(1), m.group(2))
    # DeepFakeDetection fakes: "01_02__exit_phone_room__YVGY8LOK".
    m = re.fullmatch(r"(\d+)_(\d+)__.+", stem)
    if m:
        return (f"actor-{m.group(1)}", f"actor-{m.group(2)}")
    return None


# --------------------------------------------------------------------------- Celeb-DF


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
    root = _require_dir(root, "Celeb-DF")
    if not any((root / d).is_dir() for d in ("Celeb-real", "Celeb-synthesis", "YouTube-real")):
        raise DatasetError(
            root, "no Celeb-real/, YouTube-real/ or Celeb-synthesis/ folder",
            "Point at the Celeb-DF v2 root folder.",
        )
    items = _read_celebdf_test_list(root) if test_only else _read_celebdf_all(root)
    if not items:
        raise DatasetError(root, "no clips found in Celeb-real/, YouTube-real/ or Celeb-synthesis/")
    return _finish(items, root)


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
            if not _is_media(p, VIDEO_EXTENSIONS):
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


# --------------------------------------------------------------------------- DFDC


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
    root = _require_dir(root, "DFDC")
    meta_files = _dfdc_metadata_files(root)
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
    return _finish(items, root)


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
    root = _require_dir(root, "DFDC face-crop")
    meta_path, faces = root / "metadata.csv", root / _DFDC_FACES_DIR
    if not meta_path.is_file() or not faces.is_dir():
        raise DatasetError(root, f"expected metadata.csv and {_DFDC_FACES_DIR}/ in this folder")
    # One listing of the folder instead of 18,000 stat calls.
    present = {p.name for p in faces.iterdir()}
    items: list[LabelledItem] = []
    n_missing = 0
    with open(meta_path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        _require_columns(meta_path, reader.fieldnames, ("videoname", "label", "original"))
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
                       root, n_missing, _DFDC_FACES_DIR)
    if not items:
        raise DatasetError(root, f"no image listed in metadata.csv exists in {_DFDC_FACES_DIR}/")
    return _finish(items, root)


def _dfdc_metadata_files(root: Path) -> list[Path]:
    found = [root / "metadata.json"] if (root / "metadata.json").is_file() else []
    found += [d / "metadata.json" for d in _subdirs(root) if (d / "metadata.json").is_file()]
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


# --------------------------------------------------------------------------- folder and CSV


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
    root = _require_dir(root, "labelled")
    label_dirs = [(d, LABELS.index(d.name.lower())) for d in _subdirs(root) if d.name.lower() in LABELS]
    if not label_dirs:
        raise DatasetError(root, "no real/ or fake/ subfolder", LAYOUTS_HELP)
    items = []
    for d, label in label_dirs:
        for p in d.rglob("*"):
            if _is_media(p, SUPPORTED_EXTENSIONS) and not any(part.startswith(".") for part in p.relative_to(d).parts):
                items.append(LabelledItem(p, label, (p.stem,), "folder"))
    if not items:
        kinds = ", ".join(sorted(e.lstrip(".") for e in SUPPORTED_EXTENSIONS))
        raise DatasetError(root, "no video or image files under real/ or fake/", f"Supported: {kinds}.")
    present = {it.label for it in items}
    if len(present) == 1:
        logger.warning("%s: only %s files found; metrics such as AUC need both classes", root, LABELS[present.pop()])
    return _finish(items, root)


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
            _require_columns(csv_path, columns, ("path", "label"), line_no=reader.line_num)
            i_path, i_label = columns.index("path"), columns.index("label")
            i_ident = columns.index("identity") if "identity" in columns else None
            for row in reader:
                if not any(c.strip() for c in row):
                    continue
                line_no = reader.line_num
                raw_path, raw_label = _cell(row, i_path), _cell(row, i_label)
                if not raw_path:
                    raise DatasetError(csv_path, f"line {line_no}: empty path")
                label = _parse_label(raw_label)
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
                idents = tuple(s.strip() for s in re.split(r"[;+]", _cell(row, i_ident)) if s.strip()) or (path.stem,)
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
    return _finish(items, csv_path)


def _cell(row: list[str], i: int | None) -> str:
    # Short rows (a trailing column left off) read as empty cells.
    return row[i].strip() if i is not None and i < len(row) else ""


def _parse_label(value: str) -> int | None:
    return {"real": 0, "fake": 1, "0": 0, "1": 1}.get(value.strip().lower())


# --------------------------------------------------------------------------- autodetect


def detect_layout(path: str | os.PathLike) -> str:
    """Name the layout of a dataset path: "csv", "ffpp", "celebdf", "dfdc_faces", "dfdc" or "folder".

    Raises:
        DatasetError: the path does not exist or matches no layout.
    """
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() == ".csv":
            return "csv"
        raise DatasetError(p, "is a file but not a .csv", LAYOUTS_HELP)
    if not p.is_dir():
        raise DatasetError(p, "dataset not found", "Check the path.")
    if not any(p.iterdir()):
        raise DatasetError(p, "the dataset folder is empty", "Put real/ and fake/ folders (or a known layout) in it.")
    if (p / "original_sequences").is_dir() or (p / "manipulated_sequences").is_dir():
        return "ffpp"
    if (p / "Celeb-real").is_dir() or (p / "Celeb-synthesis").is_dir():
        return "celebdf"
    if (p / _DFDC_FACES_DIR).is_dir() and (p / "metadata.csv").is_file():
        return "dfdc_faces"
    if _dfdc_metadata_files(p):
        return "dfdc"
    if any(d.name.lower() in LABELS for d in _subdirs(p)):
        return "folder"
    raise DatasetError(p, "not a dataset layout dfcore understands", LAYOUTS_HELP)


_READERS = {
    "csv": read_csv, "ffpp": read_ffpp, "celebdf": read_celebdf,
    "dfdc_faces": read_dfdc_faces, "dfdc": read_dfdc, "folder": read_folder,
}


def read_dataset(path: str | os.PathLike) -> list[LabelledItem]:
    """Read any supported dataset, recognising its layout (see :func:`detect_layout`).

    Celeb-DF is read whole; use ``read_celebdf(path, test_only=True)`` for its test list.

    Args:
        path: a .csv file or a dataset folder.

    Returns:
        The items, sorted by path.

    Raises:
        DatasetError: the path matches no layout, or its reader fails.
    """
    return _READERS[detect_layout(path)](path)


# --------------------------------------------------------------------------- splitting


STRATIFY_BY = ("label", "source")  # what split_by_identity keeps in proportion


def split_by_identity(
    items: Sequence[LabelledItem], val_fraction: float, seed: int, stratify: str = "label"
) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """Split items into (train, validation) with no identity on both sides.

    Items sharing an identity are linked, and linked items form groups (e.g. a
    real clip, every fake made from it, and every fake made *with* its face).
    Whole groups are assigned to validation, in an order shuffled by ``seed``,
    while that brings the count of each stratum closer to ``val_fraction`` of
    its total, so validation keeps the data's mix. With ``stratify="label"`` the
    strata are real and fake; with ``"source"`` they are each (source, label),
    e.g. every FF++ manipulation method, so a validation split that chooses
    weights or a threshold sees every kind of fake, not only the commonest.

    Args:
        items: the items to split (order does not matter: the result depends
            only on the items and the seed).
        val_fraction: the share of items wanted in validation, in (0, 1). The
            result is close to it unless single groups are large.
        seed: the shuffle seed; the same items and seed give the same split.
        stratify: ``"label"`` or ``"source"`` (see above).

    Returns:
        (train, val), each sorted by path.

    Raises:
        ValueError: ``val_fraction`` is not in (0, 1), fewer than 2 items, or an
            unknown ``stratify``.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if len(items) < 2:
        raise ValueError(f"need at least 2 items to split, got {len(items)}")
    if stratify not in STRATIFY_BY:
        raise ValueError(f"stratify must be one of {', '.join(STRATIFY_BY)}, got {stratify!r}")
    groups = identity_groups(items)
    # Order groups by content first, so only the seed (not the input order) decides the shuffle.
    groups.sort(key=lambda g: min(str(items[i].path) for i in g))
    order = np.random.default_rng(seed).permutation(len(groups))

    strata = sorted({(it.source, it.label) if stratify == "source" else it.label for it in items}, key=str)
    stratum = np.array([strata.index((it.source, it.label) if stratify == "source" else it.label) for it in items])
    target = np.bincount(stratum, minlength=len(strata)) * val_fraction
    counts = [np.bincount(stratum[g], minlength=len(strata)).astype(float) for g in groups]
    in_val = np.zeros(len(groups), dtype=bool)
    have = np.zeros(len(strata))
    for gi in order:
        # Greedy: take a group when it brings the stratum counts nearer their targets.
        after = have + counts[gi]
        if np.sum((after - target) ** 2) < np.sum((have - target) ** 2):
            in_val[gi] = True
            have = after
    _ensure_every_stratum(in_val, counts, order, have)

    val_idx = sorted(i for gi in np.flatnonzero(in_val) for i in groups[gi])
    val_set = set(val_idx)
    train = sorted((items[i] for i in range(len(items)) if i not in val_set), key=_path_key)
    val = sorted((items[i] for i in val_idx), key=_path_key)
    check_disjoint(train, val)
    return train, val


def _ensure_every_stratum(in_val: np.ndarray, counts: list[np.ndarray], order: np.ndarray, have: np.ndarray) -> None:
    """If validation lacks a stratum that train has in several groups, move the smallest such group over.

    Greedy filling can refuse every group of a rare stratum (a class, or a method): offered once the common
    groups have filled validation, it would overshoot them. Validation without it could not measure it at all.
    """
    for s in range(len(have)):
        if have[s] > 0:
            continue
        candidates = [gi for gi in order if not in_val[gi] and counts[gi][s] > 0]
        if len(candidates) < 2:  # moving the only one would empty train of that stratum instead
            continue
        gi = min(candidates, key=lambda g: counts[g].sum())  # min() keeps the first (seeded) of equals
        in_val[gi] = True
        have += counts[gi]


def identity_groups(items: Sequence[LabelledItem]) -> list[list[int]]:
    """Indices of items linked by shared identities (connected components, union-find).

    Returns:
        One list of item indices per group, each sorted, groups in order of first item.
    """
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, item in enumerate(items):
        for ident in item.identities:
            j = first_with.setdefault(ident, i)
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def check_disjoint(train: Iterable[LabelledItem], val: Iterable[LabelledItem]) -> None:
    """Assert that no identity and no file is in both train and validation.

    Raises:
        ValueError: naming up to five shared identities or files.
    """
    train, val = list(train), list(val)
    shared_ids = {i for it in train for i in it.identities} & {i for it in val for i in it.identities}
    if shared_ids:
        few = ", ".join(sorted(shared_ids)[:5])
        raise ValueError(f"{len(shared_ids)} identities are in both train and validation: {few}")
    shared_paths = {it.path for it in train} & {it.path for it in val}
    if shared_paths:
        few = ", ".join(sorted(str(p) for p in shared_paths)[:5])
        raise ValueError(f"{len(shared_paths)} files are in both train and validation: {few}")


def count_by_source(items: Iterable[LabelledItem]) -> dict[str, dict[str, int]]:
    """Count items per source and label: ``{"ffpp/original": {"real": 38, "fake": 0}, ...}``, sources sorted."""
    counts: dict[str, dict[str, int]] = {}
    for it in items:
        counts.setdefault(it.source, {name: 0 for name in LABELS})[LABELS[it.label]] += 1
    return dict(sorted(counts.items()))


# --------------------------------------------------------------------------- helpers


def _require_dir(root: str | os.PathLike, what: str) -> Path:
    p = Path(root)
    if not p.is_dir():
        reason = "is not a folder" if p.exists() else "folder not found"
        raise DatasetError(p, f"{what} dataset {reason}", "Check the path.")
    return p


def _subdirs(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def _is_media(p: Path, extensions: frozenset[str]) -> bool:
    return p.suffix.lower() in extensions and not p.name.startswith(".") and p.is_file()


def _require_columns(path: Path, columns: Sequence[str] | None, required: Sequence[str], line_no: int = 1) -> None:
    have = [c.strip().lower() for c in (columns or [])]
    lacking = [c for c in required if c not in have]
    if lacking:
        raise DatasetError(
            path, f"line {line_no}: header lacks column(s) {', '.join(lacking)} (found: {', '.join(have) or 'none'})",
            f"Expected a comma-separated header with {', '.join(required)}.",
        )


def _path_key(item: LabelledItem) -> str:
    return str(item.path)


def _finish(items: list[LabelledItem], where: Path) -> list[LabelledItem]:
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
    return sorted(by_path.values(), key=_path_key)


__all__ = [
    "LABELS", "LabelledItem", "read_ffpp", "read_celebdf", "read_dfdc", "read_dfdc_faces", "read_folder",
    "read_csv", "detect_layout", "read_dataset", "STRATIFY_BY", "split_by_identity", "identity_groups", "check_disjoint",
    "count_by_source",
]
