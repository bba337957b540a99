"""The pools the verdicts are calibrated and validated on: footage like the world's, not only FF++.

Each pool is a set of domains that count equally (``dfcore.evaluation.thresholds``):

- ``ffpp``: FaceForensics++ c23 clips (reals and the methods the data holds);
- ``talking_heads``: webcam, interview and studio reals, live face swaps, talking heads generated from one photo;
- ``web``: every clip of both, reals and fakes, degraded as the web degrades them (re-upload, dim webcam),
  re-encoded through a real H.264 codec (:mod:`dfcore.synth.web_degrade`). A fake from the web is compressed
  too: with only the reals degraded (the pool until 2026-12-07, domain ``web_reals``), the NO SIGN threshold
  was set on crisp fakes alone and let 28% of the calibration fakes re-encoded at CRF 40 through as NO SIGN;
- ``dfdc``: DFDC face crops of other videos, one frame each;
- ``stills``: one frame of each FF++ and talking-head clip, saved as a JPEG photo.

The last two are still images (:data:`IMAGE_DOMAINS`): photos and tight face crops each set the calibration and
thresholds of their kind, since one face scores on another scale than a clip's frames together, and a tight crop
with no scene around the face on another scale than a photo of a person.

The calibration pool is built from each dataset's calibration split and the validation pool from its test
split, so no clip is in both and none was trained on. Degraded copies are written under the work folder
(git-ignored: they are derived from research data).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2

from ...media.video_io import sample_frames
from ...synth.web_degrade import WEB_DEGRADATIONS, write_degraded_clip
from .items import LabelledItem

DOMAINS = ("ffpp", "talking_heads", "web", "dfdc", "stills")
FAKE_SEED_OFFSET = 100_000  # the fakes' noise seeds start here, clear of the reals'
# The still-image domains. Each image in them is calibrated as analysis judges it: a tight face crop (the face
# fills the image, as DFDC's crops) or a photo (dfcore.decision.is_face_crop), each kind with its own thresholds.
IMAGE_DOMAINS = ("stills", "dfdc")
STILL_QUALITY = 92  # JPEG quality of the stills: a photo as a phone or a browser saves it
# Which split of each dataset feeds which pool.
_SPLIT_OF = {"calibration": "calib", "validation": "test"}


def pool_items(splits: dict[str, list[LabelledItem]], which: str, work_dir: str | Path) -> dict[str, list[LabelledItem]]:
    """The items of the calibration or validation pool, by domain.

    Args:
        splits: from :func:`dfcore.training.sources.splits.make_splits` (the checkpoint's own split settings).
        which: "calibration" or "validation".
        work_dir: where the web-degraded copies of the clips are written (reused when present).

    Returns:
        {domain: items}; a dataset the data folder lacks gives no domain.

    Raises:
        ValueError: an unknown ``which``.
    """
    if which not in _SPLIT_OF:
        raise ValueError(f"which must be one of {', '.join(_SPLIT_OF)}, got {which!r}")
    part = _SPLIT_OF[which]
    pools = {"ffpp": splits[f"ffpp_{part}"], "dfdc": splits[f"dfdc_{part}"]}
    if f"th_{part}" in splits:
        pools["talking_heads"] = splits[f"th_{part}"]
    clips = [it for dom in ("ffpp", "talking_heads") for it in pools.get(dom, [])]
    pools["web"] = web_degraded(clips, Path(work_dir) / "web" / part)
    pools["stills"] = stills(clips, Path(work_dir) / "stills" / part)
    return {d: pools[d] for d in DOMAINS if d in pools}


def web_degraded(clips: list[LabelledItem], folder: Path) -> list[LabelledItem]:
    """One degraded copy of each clip, reals first; the degradations taken in turn within each label.

    The reals are numbered (degradation and noise seed) as they were when only they were degraded, so their
    copies are the same as before; the fakes are numbered apart and named by their source as well (FF++ names two
    methods' fakes of one pair alike). A copy keeps its clip's label and identities (the same person) and its
    source names the degradation.
    """
    out = []
    for label, seed0 in ((0, 0), (1, FAKE_SEED_OFFSET)):
        for i, it in enumerate(c for c in clips if c.label == label):
            d = WEB_DEGRADATIONS[i % len(WEB_DEGRADATIONS)]
            kind = "" if label == 0 else f"{it.source.replace('/', '_')}."
            dst = folder / f"{kind}{Path(it.path).stem}.{d.name}.mp4"
            if not dst.is_file():
                write_degraded_clip(it.path, dst, d, seed=seed0 + i)
            out.append(LabelledItem(dst, label, it.identities, f"web/{d.name}"))
    return out


def stills(clips: list[LabelledItem], folder: Path) -> list[LabelledItem]:
    """One frame of each clip (the one a one-frame analysis samples), saved as a JPEG photo; reused when present."""
    out = []
    for it in clips:
        # The source is in the name: FF++ methods' fakes of one pair share a file name.
        dst = folder / f"{it.source.replace('/', '_')}_{Path(it.path).stem}.jpg"
        if not dst.is_file():
            _, frames = sample_frames(it.path, 1)
            dst.parent.mkdir(parents=True, exist_ok=True)
            part = dst.with_name(f"{dst.stem}.{os.getpid()}.part.jpg")  # never a half-written file under the name
            bgr = cv2.cvtColor(frames[0].image, cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(part), bgr, [cv2.IMWRITE_JPEG_QUALITY, STILL_QUALITY])
            os.replace(part, dst)
        out.append(LabelledItem(dst, it.label, it.identities, f"stills/{it.source}"))
    return out
