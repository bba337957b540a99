"""Where a result came from: the input file's identity, the time of the analysis, and the model's version.

A saved report must let someone else match it, later, to the video it is about
and to the model that made it: the file's name, size and sha256, the analysis
time in UTC, and the checkpoint's sha256 with what it records about its own
making. The CLI, the dashboard and the HTTP API all take these from here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .models.checkpoint import FORMAT_VERSION, Checkpoint, sha256_file
from .media.video_io import check_input_path

# How a verdict follows from the scores (dfcore.analyze.score_clip applies it).
DECISION_RULE = ("FAKE when the calibrated clip fake probability is at or above t_fake; NO_SIGN (no sign of "
                 "manipulation found, not proof of authenticity) below t_no_sign; UNCERTAIN between them, or when the "
                 "face is in fewer than half of the frames or fewer than 8, or under 64 px in most; NO_FACE when no "
                 "analysed frame has a face. Still images use thresholds calibrated on single face crops")
# What a checkpoint's ``info`` may record about its training that a report repeats, in this order.
TRAINING_FACTS = ("trained_at", "command", "best_step", "teacher")


@dataclass(frozen=True)
class InputFile:
    """The identity of an analysed file: enough to match a report to its video."""

    name: str  # the file's name as the user knows it, without folders
    size_bytes: int  # its size
    sha256: str  # of its bytes (hex)

    def to_dict(self) -> dict:
        return {"name": self.name, "size_bytes": self.size_bytes, "sha256": self.sha256}


def describe_input(path: str | os.PathLike, name: str | None = None) -> InputFile:
    """Hash a file once and name it.

    Args:
        path: the file on disk.
        name: the name to record (an upload's own name when ``path`` is a temporary copy); None: the path's.

    Returns:
        Its :class:`InputFile`.

    Raises:
        InputNotFoundError, UnsupportedFormatError, VideoDecodeError: missing, unsupported or empty file.
    """
    p = check_input_path(path)
    return InputFile(base_name(name) if name else p.name, p.stat().st_size, sha256_file(p))


def describe_bytes(name: str, data: bytes | memoryview) -> InputFile:
    """The :class:`InputFile` of bytes held in memory (an upload, a webcam recording)."""
    return InputFile(base_name(name), len(data), hashlib.sha256(data).hexdigest())


def base_name(name: str) -> str:
    """A file name without the folders a browser or another OS may send with it (``/`` or ``\\``)."""
    return Path(name.replace("\\", "/")).name


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second: ``2026-12-01T09:30:00Z``."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def model_version(checkpoint: Checkpoint) -> dict:
    """What identifies a model's version besides its sha256: the checkpoint format and its training facts.

    Only what the checkpoint records is reported (``info`` keys in :data:`TRAINING_FACTS`);
    nothing is filled in.
    """
    version: dict = {"checkpoint_format": FORMAT_VERSION}  # load_checkpoint refuses every other format
    version.update({k: checkpoint.info[k] for k in TRAINING_FACTS if checkpoint.info.get(k) is not None})
    return version


__all__ = ["DECISION_RULE", "InputFile", "describe_input", "describe_bytes", "base_name", "utc_now", "model_version"]
