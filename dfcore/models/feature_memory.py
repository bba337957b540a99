"""The per-frame CNN's outputs for face crops one detector has already scored, by the crops' content.

The frames of 20, 60 and 100 samples of a clip overlap (they share a grid; see
:mod:`dfcore.media.clip_memory`), and where the face box is the same the crop is the
same, pixel for pixel. The CNN is most of an analysis (0.4 s of ~1 s for 100 crops
on 2 cores), so the dashboard keeps a :class:`FeatureMemory` per file and model: a
move up the frames slider runs the CNN only on crops it has not met, and a move
that the background has prepared runs none. The LSTM over the sequence, which is
milliseconds, always runs.

A crop's outputs do not depend on the other crops of its batch (checked bit for bit
in both runtimes), so a score from memory equals the score without it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

# Grad-CAM's layer4 maps are 1280 x 5 x 5 floats (128 KB) a crop: this holds the
# features and maps of about 500 crops, five slider moves' worth, per file and model.
DEFAULT_MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class CropOutputs:
    features: torch.Tensor  # (F,) the CNN's pooled features of one crop
    stage_maps: torch.Tensor | None  # (C, h, w) the kept stage's output, when one was asked for


class FeatureMemory:
    """CNN outputs of face crops, by (crop bytes, kept stage), for ONE detector.

    Bind it to the detector that fills it (:meth:`check_owner`): another model, or
    the same weights in the other runtime, gives other numbers. Least recently used
    crops go first once ``max_bytes`` is reached. Safe to share between threads;
    two threads that meet the same new crop at once may both compute it.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self.owner: tuple[str, str] | None = None  # (checkpoint sha256, runtime) of the detector that fills it
        self._items: OrderedDict[tuple[bytes, str | None], CropOutputs] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def check_owner(self, sha256: str, runtime: str) -> None:
        """Bind to the first detector that uses it; refuse any other.

        Raises:
            ValueError: the memory holds another detector's outputs.
        """
        with self._lock:
            if self.owner is None:
                self.owner = (sha256, runtime)
            elif self.owner != (sha256, runtime):
                raise ValueError(f"this FeatureMemory holds the outputs of model {self.owner[0][:12]} "
                                 f"({self.owner[1]}), not of {sha256[:12]} ({runtime}): keep one per model")

    @staticmethod
    def keys(crops: np.ndarray, stage: str | None) -> list[tuple[bytes, str | None]]:
        """One key per crop: a digest of its pixels (and shape), with the stage kept."""
        return [(_digest(c), stage) for c in crops]

    def get(self, keys: list[tuple[bytes, str | None]]) -> list[CropOutputs | None]:
        with self._lock:
            out = [self._items.get(k) for k in keys]
            for k, v in zip(keys, out):
                if v is not None:
                    self._items.move_to_end(k)
            return out

    def put(self, key: tuple[bytes, str | None], value: CropOutputs) -> None:
        size = _nbytes(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= _nbytes(old)
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= _nbytes(dropped)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes


def _digest(crop: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{crop.dtype.str}{crop.shape}".encode())
    h.update(np.ascontiguousarray(crop).data)
    return h.digest()


def _nbytes(v: CropOutputs) -> int:
    maps = v.stage_maps
    return v.features.element_size() * v.features.nelement() + (
        0 if maps is None else maps.element_size() * maps.nelement())
