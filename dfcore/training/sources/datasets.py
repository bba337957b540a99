"""Reading a labelled dataset whatever its layout: :func:`read_dataset` recognises it and calls its reader.

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

import os
from pathlib import Path

from ...errors import DatasetError
from .items import LABELS, LAYOUTS_HELP, LabelledItem, subdirs
from .celebdf import read_celebdf
from .dfdc import DFDC_FACES_DIR, dfdc_metadata_files, read_dfdc, read_dfdc_faces
from .ffpp import read_ffpp
from .user_files import read_csv, read_folder


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
    if (p / DFDC_FACES_DIR).is_dir() and (p / "metadata.csv").is_file():
        return "dfdc_faces"
    if dfdc_metadata_files(p):
        return "dfdc"
    if any(d.name.lower() in LABELS for d in subdirs(p)):
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
