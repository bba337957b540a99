"""Bounded concurrency for a server: a few analyses at once, a short queue, and a clear "busy" beyond it.

An analysis holds a CPU (or the GPU) and a few hundred MB for seconds; a server
that took every request at once would slow all of them down and could run out
of memory. The gate admits at most ``running + waiting`` requests: ``running``
of them analyse at once, the others wait their turn. A request past that is
refused at once with :class:`~dfcore.errors.ServerBusyError`, so the client
can retry later instead of waiting behind an unbounded queue.

Admission is taken once a request's upload has arrived whole (an upload in
progress holds an upload place instead, see :mod:`dfcore.serving.upload_gate`,
so a slow sender never holds a place here) and kept until its answer is ready;
the run slot only around the analysis itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import ServerBusyError


@dataclass(frozen=True)
class GateLoad:
    running: int  # analyses running now
    admitted: int  # requests admitted and not answered yet (waiting or running; uploads are counted apart)
    max_running: int  # analyses allowed at once
    max_admitted: int  # requests admitted at most: max_running plus the queue's places


class AnalysisGate:
    """At most ``running`` analyses at once and ``waiting`` more requests queued; the rest are refused.

    Thread-safe: admission can be taken on the event loop and the run slot on a worker thread.
    """

    def __init__(self, running: int, waiting: int, retry_after_s: int = 5) -> None:
        """
        Args:
            running: analyses allowed at the same time (>= 1).
            waiting: requests admitted beyond those, waiting for a run slot (>= 0).
            retry_after_s: what a refusal tells the client to wait before retrying.

        Raises:
            ValueError: running < 1 or waiting < 0.
        """
        if running < 1 or waiting < 0:
            raise ValueError(f"need running >= 1 and waiting >= 0, got {running} and {waiting}")
        self.max_running = running
        self.max_admitted = running + waiting
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._slots = threading.BoundedSemaphore(running)

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of the admitted places until the block ends.

        Raises:
            ServerBusyError: every place is taken (nothing was admitted).
        """
        with self._lock:
            if self._admitted >= self.max_admitted:
                raise ServerBusyError(
                    None, f"the server is busy ({self._running} analyses running, "
                          f"{self._admitted - self._running} waiting)",
                    f"Try again in {self.retry_after_s} s.")
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1

    @contextmanager
    def run_slot(self) -> Iterator[None]:
        """Wait (blocking this thread) for a free run slot and hold it until the block ends.

        Call it inside :meth:`admit`: admission bounds how many threads can wait here.
        """
        with self._slots:
            with self._lock:
                self._running += 1
            try:
                yield
            finally:
                with self._lock:
                    self._running -= 1

    def load(self) -> GateLoad:
        """How busy the gate is now."""
        with self._lock:
            return GateLoad(self._running, self._admitted, self.max_running, self.max_admitted)
