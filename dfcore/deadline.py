"""A time limit for one analysis, checked between frames and between stages.

Decoding, face detection and scoring are each a loop over frames or a batch;
none of them can be interrupted from outside safely (FFmpeg, MediaPipe and
torch hold native state), so the analysis checks its own clock at every step
and stops with :class:`~dfcore.errors.AnalysisTimeoutError`. The overrun is
at most one step: one decoded frame, one face detection, or one model call.

The same checks stop an analysis nobody waits for any more: a server runs it
inside :func:`cancelled_by` with an event it sets when the client goes away,
and the next check raises :class:`~dfcore.errors.AnalysisCancelledError`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from .errors import AnalysisCancelledError, AnalysisTimeoutError

# Seconds one analysis (decode, faces, model, Grad-CAM) may take in a server (the dashboard, the
# HTTP API) before it stops with a message: a pathological file must not hold a server thread
# for ever. 100 frames of a 720p clip take well under a minute on a laptop CPU.
SERVER_TIME_LIMIT_S = 120.0
# The event that cancels the analyses run in this context (thread), if any: see cancelled_by().
_CANCEL: ContextVar[threading.Event | None] = ContextVar("dfcore_cancel", default=None)


@contextmanager
def cancelled_by(event: threading.Event) -> Iterator[None]:
    """Within the block, every deadline check also stops the analysis once ``event`` is set.

    Args:
        event: set (from any thread) when the analysis's result is no longer wanted.
    """
    token = _CANCEL.set(event)
    try:
        yield
    finally:
        _CANCEL.reset(token)


@dataclass
class Deadline:
    """The clock of one analysis.

    Create it when the analysis starts; pass the same object to every stage.
    """

    path: str  # the file being analysed, named in the error
    limit_s: float | None  # seconds allowed for the whole analysis; None: no limit
    started: float = field(default_factory=time.monotonic)  # time.monotonic() when the analysis began

    @classmethod
    def start(cls, path: str | os.PathLike, limit_s: float | None) -> Deadline:
        """A deadline ``limit_s`` seconds from now for the analysis of ``path``.

        Raises:
            ValueError: a negative limit.
        """
        if limit_s is not None and limit_s < 0:
            raise ValueError(f"time limit must be >= 0 seconds, got {limit_s}")
        return cls(str(path), limit_s)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def check(self, stage: str) -> None:
        """Stop the analysis if its time is up.

        Args:
            stage: what was being done ("decoding", "finding faces", ...), for the message.

        Raises:
            AnalysisTimeoutError: the limit has passed.
            AnalysisCancelledError: the analysis runs inside :func:`cancelled_by` and its event is set.
        """
        cancel = _CANCEL.get()
        if cancel is not None and cancel.is_set():
            raise AnalysisCancelledError(self.path, f"the analysis was cancelled while {stage}",
                                         "The client went away before the answer was ready.")
        if self.limit_s is not None and self.elapsed_s > self.limit_s:
            raise AnalysisTimeoutError(
                self.path, f"the analysis passed its time limit of {self.limit_s:g} s while {stage}",
                "Analyse fewer frames, or a shorter or smaller clip.",
            )


def check(deadline: Deadline | None, stage: str) -> None:
    """:meth:`Deadline.check` when there is a deadline; nothing otherwise."""
    if deadline is not None:
        deadline.check(stage)
