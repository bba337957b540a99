"""One loaded detector per installed model, loaded on first use and shared by every thread of a server.

Loading a checkpoint takes a second or more and a copy of the weights in
memory, so a server must not load one per request. Analyses share a Detector
safely (scoring runs under ``torch.inference_mode``; Grad-CAM hooks a private
copy: see tests/test_concurrency.py). A checkpoint replaced on disk (retrained)
is loaded again on its next use. A failed load is not remembered: the next
request tries again, and gets the same readable error if it fails again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..models.detector import Detector, load_detector
from ..models.model_registry import resolve_offered


@dataclass(frozen=True)
class _Loaded:
    mtime_ns: int  # the checkpoint file's modification time when it was loaded
    detector: Detector


class DetectorCache:
    """Detectors by model name, each loaded at most once at a time (thread-safe)."""

    def __init__(self, device: str | None = None, threads: int | None = None) -> None:
        """
        Args:
            device: "cpu" or "cuda" for every model; None picks CUDA when present.
            threads: torch CPU threads (process-wide), set at the first load; None leaves torch's default.
        """
        self.device, self.threads = device, threads
        self._lock = threading.Lock()  # guards the two dicts, never held while loading
        self._loaded: dict[str, _Loaded] = {}
        self._loading: dict[str, threading.Lock] = {}  # one per model: two models load in parallel

    def get(self, model: str | None = None) -> Detector:
        """The detector for an installed model, loading it on first use.

        Args:
            model: an installed model's name (``python -m dfcore models``); None: the default model.

        Raises:
            UnknownModelError: no installed model has that name.
            WithdrawnModelError: the model is withdrawn (the message gives its card's reason).
            NoWeightsInstalledError, WeightsError: the model's checkpoint is missing or unusable.
        """
        entry = resolve_offered(model)  # a withdrawn model analyses nothing, here as on the command line
        try:
            mtime = entry.path.stat().st_mtime_ns
        except OSError:
            mtime = -1  # missing: load_detector says so in its own words
        with self._lock:
            loading = self._loading.setdefault(entry.name, threading.Lock())
        with loading:  # a second request for a model being loaded waits for that load
            with self._lock:
                hit = self._loaded.get(entry.name)
            if hit is not None and hit.mtime_ns == mtime:
                return hit.detector
            det = load_detector(device=self.device, threads=self.threads, model=entry.name)
            with self._lock:
                self._loaded[entry.name] = _Loaded(mtime, det)
            return det

    def loaded(self) -> list[str]:
        """The names of the models loaded so far."""
        with self._lock:
            return sorted(self._loaded)
