"""A local process pool that survives its workers: tasks in, results out, a bounded number in flight.

``concurrent.futures.ProcessPoolExecutor`` with the *spawn* context (torch and
MediaPipe start threads, and forking a process that has threads can deadlock).
Tasks are pulled from an iterator only as workers free up, so an input of a
million files never sits in memory. A worker that dies (a segfault in a native
decoder, the OOM killer) breaks the whole executor: the pool is then made anew
and every task that was in flight is tried once more, alone, so that a file
that kills its worker cannot take the others with it; a task whose worker dies
a second time is reported lost rather than tried for ever.

A worker never outlives the process that started it: ``kill -9`` of the driver
(a cluster scheduler, the OOM killer) would otherwise leave every worker, each
holding a model, running with nobody to read its results. On Linux the kernel
kills it (``PR_SET_PDEATHSIG``); elsewhere a watchdog thread sees the parent go.
Multiprocessing's resource tracker ends by itself once no worker holds its pipe.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")  # a task
R = TypeVar("R")  # its result

IN_FLIGHT_PER_WORKER = 2  # one running and one queued, so a worker never waits for the driver
MAX_ATTEMPTS = 2  # a task whose worker died is tried once more, then reported lost
# Pools made anew in a row without a single task finishing: the workers cannot start
# (e.g. the initializer fails), so stop rather than burn through every task.
MAX_RESTARTS_IN_A_ROW = 5
WORKER_DIED = "the worker process died while analysing it (twice)"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>: the signal this process gets when its parent dies
PARENT_POLL_S = 1.0  # the watchdog's period where prctl is not available


@dataclass
class PoolStats:
    retried: int = 0  # tasks tried again because their worker died
    restarts: int = 0  # times the pool was made anew
    finished: int = 0  # tasks whose work returned a result


@dataclass(frozen=True)
class PoolSpec(Generic[T, R]):
    work: Callable[[T], R]  # runs in a worker; a top-level function (it is pickled by name)
    workers: int  # worker processes
    initializer: Callable[..., None] | None = None  # runs once in each worker (load the model there)
    initargs: tuple[Any, ...] = ()  # its arguments


def run_in_pool(tasks: Iterable[T], spec: PoolSpec[T, R], done: Callable[[T, R], None],
                lost: Callable[[T, str], None]) -> PoolStats:
    """Run ``spec.work`` on every task in worker processes; report each outcome as it arrives.

    Args:
        tasks: pulled lazily, at most ``IN_FLIGHT_PER_WORKER`` per worker ahead of the results.
        spec: the work, the worker count and the per-worker initializer.
        done: called in this thread with each task and its result, in completion order.
        lost: called with a task and a one-line reason when it could not be run (its
            worker died twice, or the work raised).

    Returns:
        How many tasks were retried and how often the pool was restarted.

    Raises:
        ValueError: fewer than 1 worker.
        RuntimeError: the pool broke ``MAX_RESTARTS_IN_A_ROW`` times in a row without a
            task finishing (the workers cannot start).
        KeyboardInterrupt: passed on after the workers are stopped; tasks in flight are
            neither done nor lost (a resumed run picks them up).
    """
    if spec.workers < 1:
        raise ValueError(f"a pool needs at least 1 worker, got {spec.workers}")
    stats = PoolStats()
    source = iter(tasks)
    again: deque[tuple[T, int]] = deque()  # (task, attempts so far) to try again first
    in_flight: dict[Future, tuple[T, int]] = {}
    window = spec.workers * IN_FLIGHT_PER_WORKER
    pool = _new_pool(spec)
    restarts_in_a_row, finished_before = 0, 0
    try:
        while True:
            broken = _fill(pool, spec, source, again, in_flight, window)
            if not in_flight and not broken:
                break
            ready, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for fut in ready:
                broken |= _settle(fut, in_flight.pop(fut), done, lost, again, stats)
            if broken:
                # Every other task in flight fails with it: collect them, then start afresh.
                ready, _ = wait(in_flight)
                for fut in ready:
                    _settle(fut, in_flight.pop(fut), done, lost, again, stats)
                pool.shutdown(wait=True)
                restarts_in_a_row = 0 if stats.finished > finished_before else restarts_in_a_row + 1
                finished_before = stats.finished
                if restarts_in_a_row >= MAX_RESTARTS_IN_A_ROW:
                    raise RuntimeError(f"the worker processes died {restarts_in_a_row} times in a row "
                                       "without finishing a task: they cannot start (a script that starts "
                                       "a pool needs an `if __name__ == \"__main__\":` guard)")
                pool = _new_pool(spec)
                stats.restarts += 1
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    return stats


def _new_pool(spec: PoolSpec) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=spec.workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(), spec.initializer, spec.initargs))


def _init_worker(parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """In each worker, first: tie its life to the driver's, then run the pool's own initializer."""
    exit_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def exit_with_parent(parent: int) -> None:
    """End this process as soon as the process ``parent`` dies (whatever killed it, ``kill -9`` included).

    Args:
        parent: the pid of the parent this process must not outlive.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # it died before prctl took effect: no signal will come
                os._exit(1)
            return
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # reparented: the driver is gone, and nobody reads this worker's results


def _fill(pool: ProcessPoolExecutor, spec: PoolSpec, source, again: deque, in_flight: dict, window: int) -> bool:
    """Submit tasks until ``window`` are in flight; True when the pool turned out broken."""
    while len(in_flight) < window:
        if any(attempts for _, attempts in in_flight.values()):
            return False  # a task tried again runs alone, so a file that kills its worker takes no other with it
        if again:
            task, attempts = again[0]
            if attempts and in_flight:
                return False  # let the others finish first
            again.popleft()
        else:
            task = next(source, _END)
            if task is _END:
                return False
            attempts = 0
        try:
            in_flight[pool.submit(spec.work, task)] = (task, attempts)
        except BrokenProcessPool:
            again.appendleft((task, attempts))  # never ran: no attempt used
            return True
    return False


def _settle(fut: Future, entry: tuple, done: Callable, lost: Callable, again: deque, stats: PoolStats) -> bool:
    """Report one finished future; True when its worker died (the pool is broken)."""
    task, attempts = entry
    try:
        result = fut.result()
    except BrokenProcessPool:
        if attempts + 1 < MAX_ATTEMPTS:
            again.append((task, attempts + 1))
            stats.retried += 1
        else:
            lost(task, WORKER_DIED)
        return True
    except Exception as e:  # noqa: BLE001 - the work itself raised (or its result did not pickle): report, go on
        lost(task, f"{type(e).__name__}: {e}")
        return False
    stats.finished += 1
    done(task, result)
    return False


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the workers now (on Ctrl+C: do not wait for the videos in flight)."""
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # public from Python 3.14
    if terminate is not None:
        terminate()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):  # Python < 3.14: no public way
        proc.terminate()


_END = object()  # the task source is exhausted
