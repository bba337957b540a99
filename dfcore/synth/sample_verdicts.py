"""What each sample video is, and what a model said about it: a small JSON store of past analyses.

The dashboard's sample list names each sample's truth (real or how it was
manipulated) beside the verdict the selected model gave it, so a first-time
user sees where the model is right and where it is not before trusting a
result. The verdicts are analyses, never typed in: each entry is keyed by the
model's sha256, the sample's sha256 and the frame count, so a retrained
model or a regenerated sample is analysed again rather than read from a stale
entry.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .samples import REAL_CLIP, REAL_STILL, SELFBLEND_CLIP, WARP_CLIP

log = logging.getLogger(__name__)

# What each sample is (see sample_videos/README.md); the first word is its truth.
SAMPLE_TRUTHS = {
    REAL_CLIP: "real: the photo filmed by a drifting camera, the face untouched",
    SELFBLEND_CLIP: "fake: the face blended with a warped, colour-shifted copy of itself",
    WARP_CLIP: "fake: the mouth and jaw re-rendered with a moving warp",
    REAL_STILL: "real photo: one frame of the real clip",
}
FIRST_SAMPLE = REAL_CLIP  # what a first-time user sees first: the honest case, not the fake the model catches best
_VERSION = 1


@dataclass(frozen=True)
class SampleVerdict:
    """One analysis of one sample by one model."""

    verdict: str  # the machine name (dfcore.decision.VERDICTS)
    fake_probability: float | None  # the calibrated clip score; None without a face
    n_frames: int  # frames analysed


def describe_sample(name: str) -> str:
    """What the sample ``name`` (a file name) is; "" for a file this project did not make."""
    return SAMPLE_TRUTHS.get(name, "")


class SampleVerdictStore:
    """Sample verdicts kept in one JSON file; a missing or unreadable file is an empty store.

    Args:
        path: the JSON file (created on the first :meth:`put`; its folder too).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @staticmethod
    def _key(model_sha256: str, sample_sha256: str, n_frames: int) -> str:
        return f"{model_sha256}:{sample_sha256}:{n_frames}"

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("entries"), dict):
            return {}
        return data["entries"]

    def get(self, model_sha256: str, sample_sha256: str, n_frames: int) -> SampleVerdict | None:
        """The stored verdict, or None when this model has not analysed this sample at this frame count."""
        entry = self._read().get(self._key(model_sha256, sample_sha256, n_frames))
        try:
            return SampleVerdict(**entry) if isinstance(entry, dict) else None
        except TypeError:  # an entry of another shape: as if absent
            return None

    def put(self, model_sha256: str, sample_sha256: str, verdict: SampleVerdict) -> bool:
        """Store a verdict; returns False (and logs why) when the file cannot be written (a read-only install).

        Written to a temporary file and renamed, so a reader never sees half a file.
        """
        entries = self._read()
        entries[self._key(model_sha256, sample_sha256, verdict.n_frames)] = asdict(verdict)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".sample-verdicts-", suffix=".json", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump({"version": _VERSION, "entries": entries}, f, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as e:
            log.warning("sample verdicts not kept in %s: %s", self.path, e)
            return False
        return True
