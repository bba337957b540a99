"""dfcore.serving.detector_cache: each model loaded once, lazily, also when many threads ask at the same moment."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import dfcore.serving.detector_cache as detector_cache
from dfcore.errors import NoWeightsInstalledError, UnknownModelError
from dfcore.models.model_registry import list_models


@pytest.fixture
def loads(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The untrained checkpoint installed as the only model; records every real load."""
    monkeypatch.setenv("DFCORE_WEIGHTS", str(checkpoint))
    calls: list[str | None] = []
    real = detector_cache.load_detector

    def counted(*args, **kwargs):
        calls.append(kwargs.get("model"))
        return real(*args, **kwargs)

    monkeypatch.setattr(detector_cache, "load_detector", counted)
    return calls


def test_loaded_once_by_concurrent_callers(loads: list) -> None:
    cache = detector_cache.DetectorCache(device="cpu")
    assert cache.loaded() == []  # lazily: nothing until asked
    start = threading.Barrier(4)

    def get(_: int):
        start.wait()
        return cache.get(None)

    with ThreadPoolExecutor(4) as pool:
        dets = list(pool.map(get, range(4)))
    name = list_models()[0].name
    assert loads == [name]
    assert all(d is dets[0] for d in dets)
    assert cache.get(name) is dets[0]  # by name or as the default: the same one
    assert cache.loaded() == [name]


def test_replaced_checkpoint_is_loaded_again(loads: list, checkpoint: Path) -> None:
    cache = detector_cache.DetectorCache(device="cpu")
    first = cache.get()
    st = checkpoint.stat()
    os.utime(checkpoint, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    try:
        assert cache.get() is not first
    finally:
        os.utime(checkpoint, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert len(loads) == 2


def test_errors_are_not_cached(loads: list, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                               checkpoint: Path) -> None:
    cache = detector_cache.DetectorCache(device="cpu")
    with pytest.raises(UnknownModelError):
        cache.get("no_such_model")
    monkeypatch.setenv("DFCORE_WEIGHTS", str(tmp_path / "x.pt"))
    with pytest.raises(NoWeightsInstalledError):
        cache.get()
    assert cache.loaded() == []
    monkeypatch.setenv("DFCORE_WEIGHTS", str(checkpoint))
    assert cache.get() is not None
