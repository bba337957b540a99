"""dfcore.serving.analysis_gate: a few analyses at once, a short queue, and a refusal beyond it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dfcore.serving.analysis_gate import AnalysisGate
from dfcore.errors import ServerBusyError


def test_admits_running_plus_waiting_then_refuses() -> None:
    gate = AnalysisGate(running=2, waiting=1, retry_after_s=3)
    with gate.admit(), gate.admit(), gate.admit():
        assert gate.load().admitted == 3
        with pytest.raises(ServerBusyError, match="the server is busy") as e:
            with gate.admit():
                pass
        assert "Try again in 3 s" in e.value.message
        assert gate.load().admitted == 3  # the refusal took no place
    assert gate.load().admitted == 0
    with gate.admit():  # free again
        pass


def test_places_are_given_back_on_errors() -> None:
    gate = AnalysisGate(running=1, waiting=0)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            with gate.admit(), gate.run_slot():
                raise RuntimeError("analysis failed")
    load = gate.load()
    assert (load.admitted, load.running) == (0, 0)


def test_at_most_running_analyses_at_once() -> None:
    gate = AnalysisGate(running=2, waiting=4)
    lock = threading.Lock()
    now, peak = 0, 0

    def work() -> None:
        nonlocal now, peak
        with gate.admit(), gate.run_slot():
            with lock:
                now += 1
                peak = max(peak, now)
            time.sleep(0.05)  # long enough for the other threads to pile up at the slot
            with lock:
                now -= 1

    with ThreadPoolExecutor(6) as pool:
        for f in [pool.submit(work) for _ in range(6)]:
            f.result()
    assert peak == 2
    assert gate.load().running == 0


def test_bad_sizes() -> None:
    with pytest.raises(ValueError):
        AnalysisGate(running=0, waiting=1)
    with pytest.raises(ValueError):
        AnalysisGate(running=1, waiting=-1)
