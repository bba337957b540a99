"""Typed errors raised by dfcore.

Every error names the file it is about and says what is wrong and what the user
can do, so the CLI can print one line and the dashboard one ``st.error``.
"""

from __future__ import annotations

from pathlib import Path


class DfcoreError(Exception):
    """Base class: a problem the user can understand and act on."""

    def __init__(self, path: str | Path | None, reason: str, hint: str = "") -> None:
        self.path = str(path) if path is not None else None
        self.reason = reason
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" {self.hint}" if self.hint else ""
        return f"{where}{self.reason}.{hint}"


class InputNotFoundError(DfcoreError):
    """The file does not exist or is not a regular file."""


class UnsupportedFormatError(DfcoreError):
    """The file's type is not one dfcore reads (by extension or by content)."""


class VideoDecodeError(DfcoreError):
    """The file could not be opened or decoded as a video or image."""


class NoFaceFoundError(DfcoreError):
    """No face was found where one is required (e.g. when extracting training crops)."""


class WeightsError(DfcoreError):
    """A weights file is missing, tampered with, or does not match this code."""


class NoWeightsInstalledError(WeightsError):
    """No trained detector is installed; dfcore never passes untrained weights off as one."""


class DatasetError(DfcoreError):
    """A dataset folder or CSV does not have the expected layout."""


class AnalysisTimeoutError(DfcoreError):
    """An analysis ran past its time limit."""
