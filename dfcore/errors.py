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


class TooManyPixelsError(VideoDecodeError):
    """An image or a video frame declares more pixels than the decoding budget allows (a decompression bomb)."""


class NoFaceFoundError(DfcoreError):
    """No face was found where one is required (e.g. when extracting training crops)."""


class WeightsError(DfcoreError):
    """A weights file is missing, tampered with, or does not match this code."""


class NoWeightsInstalledError(WeightsError):
    """No trained detector is installed; dfcore never passes untrained weights off as one."""


class UnknownModelError(DfcoreError):
    """No installed model has the name asked for."""


class WithdrawnModelError(UnknownModelError):
    """The model is installed but withdrawn (its card says why): its card stays readable, it analyses nothing."""


class TrainingDependencyError(DfcoreError):
    """A package only training needs (e.g. the ImageNet weights) is not installed."""


class DatasetError(DfcoreError):
    """A dataset folder or CSV does not have the expected layout."""


class AnalysisTimeoutError(DfcoreError):
    """An analysis ran past its time limit."""


class UploadError(DfcoreError):
    """An upload to the HTTP API was refused: no file in it, a malformed body, or a bad option."""


class UploadTooLargeError(UploadError):
    """An upload is larger than the limit; it was refused while still arriving, never buffered whole."""


class ServerBusyError(DfcoreError):
    """Every analysis slot and every queue place is taken; the client should retry later."""


class TooManyUploadsError(ServerBusyError):
    """One client already has as many uploads in progress as it may; it should wait for one to finish."""


class UploadTimeoutError(UploadError):
    """An upload arrived slower than the server's minimum rate; it was stopped and its bytes deleted."""


class AnalysisCancelledError(DfcoreError):
    """The client went away: its analysis was stopped at the next check so that its run slot is freed."""


class OptionalDependencyError(DfcoreError):
    """An option needs an optional extra (e.g. Ray for ``batch --ray``) that is not installed."""


class OutputError(DfcoreError):
    """An output file cannot be created or written (it names a folder, a read-only place, a full disk)."""


class OutputInUseError(DfcoreError):
    """Another run is writing the same output file (e.g. two ``batch`` runs given one ``--out``)."""
