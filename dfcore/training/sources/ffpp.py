"""FaceForensics++: ``original_sequences/<youtube|actors>/<quality>/videos/*.mp4`` and
``manipulated_sequences/<Method>/<quality>/videos/TTT_SSS.mp4`` (a fake made of target TTT and source SSS)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ...errors import DatasetError
from ...media.formats import VIDEO_EXTENSIONS
from .items import LabelledItem, is_media, require_dir, sorted_unique, subdirs

logger = logging.getLogger(__name__)


# FF++ quality folders. The paper calls the uncompressed level "c0", the
# download script "raw": accept either name for it in a ``qualities`` filter.
_FFPP_QUALITY_ALIASES = {"c0": "raw", "raw": "raw"}


# FF++ also ships per-method "masks/videos"; they are not clips to classify.
_FFPP_NOT_QUALITY = frozenset({"masks"})


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
    root = require_dir(root, "FaceForensics++")
    orig, manip = root / "original_sequences", root / "manipulated_sequences"
    if not orig.is_dir() and not manip.is_dir():
        raise DatasetError(
            root, "no original_sequences/ or manipulated_sequences/ folder",
            "Point at the FaceForensics++ root (the folder the download script wrote into).",
        )
    wanted = None if qualities is None else {_FFPP_QUALITY_ALIASES.get(q, q) for q in qualities}
    items: list[LabelledItem] = []
    unparsed: list[Path] = []
    for subset_dir in subdirs(orig):
        for path in _ffpp_videos(subset_dir, wanted):
            ids = _ffpp_real_identities(path.stem, subset_dir.name)
            if ids is None:
                unparsed.append(path)
                ids = (path.stem,)
            source = "ffpp/original" if subset_dir.name == "youtube" else f"ffpp/{subset_dir.name}"
            items.append(LabelledItem(path, 0, ids, source))
    for method_dir in subdirs(manip):
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
    return sorted_unique(items, root)


def _ffpp_videos(group_dir: Path, wanted: set[str] | None) -> list[Path]:
    found = []
    for quality_dir in subdirs(group_dir):
        name = quality_dir.name
        if name in _FFPP_NOT_QUALITY:
            continue
        if wanted is not None and _FFPP_QUALITY_ALIASES.get(name, name) not in wanted:
            continue
        videos = quality_dir / "videos"
        if videos.is_dir():
            found.extend(p for p in videos.iterdir() if is_media(p, VIDEO_EXTENSIONS))
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
