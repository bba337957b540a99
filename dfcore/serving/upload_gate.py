"""Uploads in progress, counted apart from analyses: per client address, and in all.

An upload costs the server a socket and a temporary file while it arrives; an
analysis costs a CPU and memory. Counting them apart (see
:class:`~dfcore.serving.analysis_gate.AnalysisGate` for the analyses) means a
client that sends slowly holds an upload place, never a run or queue place, so
slow clients cannot lock others out of the analyses. Each client address may
have only a few uploads in progress at once (a flood from one address is
refused with 429), and the server only so many in all (503).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ServerBusyError, TooManyUploadsError


class UploadGate:
    """At most ``per_client`` uploads in progress from one address and ``total`` from all.

    Thread-safe. Behind a reverse proxy every client has the proxy's address:
    raise ``per_client`` there (the proxy should limit per client itself).
    """

    def __init__(self, per_client: int, total: int, retry_after_s: int = 5) -> None:
        """
        Args:
            per_client: uploads one client address may have in progress at once (>= 1).
            total: uploads in progress at once from all clients (>= per_client).
            retry_after_s: what a refusal tells the client to wait before retrying.

        Raises:
            ValueError: per_client < 1 or total < per_client.
        """
        if per_client < 1 or total < per_client:
            raise ValueError(f"need 1 <= per_client <= total, got {per_client} and {total}")
        self.per_client, self.total, self.retry_after_s = per_client, total, retry_after_s
        self._lock = threading.Lock()
        self._by_client: Counter[str] = Counter()

    @contextmanager
    def admit(self, client: str) -> Iterator[None]:
        """Hold one upload place of ``client`` until the block ends.

        Raises:
            TooManyUploadsError: this address already has ``per_client`` uploads in progress.
            ServerBusyError: ``total`` uploads are in progress.
        """
        with self._lock:
            if self._by_client[client] >= self.per_client:
                raise TooManyUploadsError(None, f"this client already has {self._by_client[client]} uploads "
                                                "in progress", f"Wait for one to finish; retry in "
                                                               f"{self.retry_after_s} s.")
            if sum(self._by_client.values()) >= self.total:
                raise ServerBusyError(None, f"the server is busy ({self.total} uploads in progress)",
                                      f"Try again in {self.retry_after_s} s.")
            self._by_client[client] += 1
        try:
            yield
        finally:
            with self._lock:
                self._by_client[client] -= 1
                if self._by_client[client] <= 0:
                    del self._by_client[client]  # a million past clients must not stay in memory

    def in_progress(self) -> int:
        """Uploads in progress now, from all clients."""
        with self._lock:
            return sum(self._by_client.values())
