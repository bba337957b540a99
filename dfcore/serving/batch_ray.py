"""A batch on Ray: one actor per worker holds the model; the driver feeds them and writes the results.

Ray is an optional extra (``requirements-ray.txt``, ``make ray``), imported only
here and only when ``--ray`` is asked for. ``address="local"`` starts a Ray
instance on this machine; an address (``auto``, ``HOST:6379``,
``ray://HOST:10001``) joins a running cluster. Actors read the files by path:
every node must see the same paths (a shared filesystem or a mounted bucket)
and have this project installed at the same place.

Tasks are pulled from an iterator only as actors free up (at most
``IN_FLIGHT_PER_ACTOR`` each), so a million-file input never sits in memory,
here or in Ray's object store. An actor that dies (its node lost, the OOM
killer) is replaced, and each of its videos is tried once more on whichever
actor is free; a video whose actor dies a second time is reported lost.
"""

from __future__ import annotations

import socket
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .batch_worker import Task, WorkerSetup, analyze_file, load_worker_detector
from ..errors import DfcoreError, OptionalDependencyError

IN_FLIGHT_PER_ACTOR = 2  # one running and one queued, so an actor never waits for the driver
MAX_ATTEMPTS = 2  # a video whose actor died is tried once more, then reported lost
ACTOR_DIED = "the Ray actor analysing it died (twice)"
# Actors that died one after another without a video finishing (beyond one per slot):
# they cannot start (e.g. a node without the project), so stop rather than burn through every video.
MAX_DEATHS_IN_A_ROW = 5
CONNECT_TIMEOUT_S = 10.0  # a cluster's head answers at once; a wrong address should not hang the command
ACTOR_NAME_PREFIX = "dfcore-batch"  # actors are named, so an operator (or a test) can find them


@dataclass
class RayStats:
    retried: int = 0  # videos tried again because their actor died
    replaced: int = 0  # actors replaced after dying
    actors: int = 0  # actors the run started with
    actor_names: list[str] = field(default_factory=list)  # the live actors' names
    on_start: Callable[[int], None] | None = None  # called with the actor count once it is known


class BatchActor:
    """A Ray actor: one worker's detector, kept for all the videos it is given."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.setup = setup
        self.detector = load_worker_detector(setup)

    def analyze(self, task: Task) -> dict:
        return analyze_file(task, self.detector, self.setup)


def import_ray() -> Any:
    """The ``ray`` module.

    Raises:
        OptionalDependencyError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise OptionalDependencyError(
            None, "--ray needs Ray, which is not installed",
            "Install it with `make ray` (pip install -r requirements-ray.txt), or leave out --ray.",
        ) from None
    return ray


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Connect to Ray for the length of the block (a session already open is used and left open).

    Args:
        address: "local" starts a Ray instance on this machine; otherwise a cluster's
            address (None: Ray's own choice, see ``ray.init``).

    Yields:
        The ``ray`` module, connected.

    Raises:
        OptionalDependencyError: Ray is not installed.
        DfcoreError: no Ray cluster answers at ``address``.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    _check_reachable(address)
    try:
        # The actors' own log lines (MediaPipe's, TFLite's) would tear through the progress bar:
        # they stay in Ray's session logs.
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="warning")
    except ConnectionError as e:
        raise DfcoreError(None, f"could not connect to a Ray cluster at {address!r} ({e})",
                          "Start one with `ray start --head`, or give its address (e.g. HOST:6379).") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str | None) -> None:
    """Fail in seconds on a HOST:PORT nothing answers at (Ray itself keeps retrying for minutes).

    Raises:
        DfcoreError: the port does not accept a connection.
    """
    if not address or address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # not HOST:PORT: Ray reads it (and says what is wrong)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise DfcoreError(None, f"no Ray cluster answers at {address!r} ({e.strerror or e})",
                          "Start one with `ray start --head` on the head node, and give its address.") from None


def run_on_ray(tasks: Iterable[Task], setup: WorkerSetup, actors: int | None, done: Callable[[Task, dict], None],
               lost: Callable[[Task, str], None], stats: RayStats | None = None) -> RayStats:
    """Analyse every task on Ray actors (Ray must be connected: see :func:`ray_session`).

    Args:
        tasks: pulled lazily, at most ``IN_FLIGHT_PER_ACTOR`` per actor ahead of the results.
        setup: the model and frame count; each actor reserves ``setup.threads`` CPUs.
        actors: how many actors; None: as many as the cluster's CPUs allow.
        done: called in this thread with each task and its output line, in completion order.
        lost: called with a task and a one-line reason when it could not be analysed.
        stats: filled in as the run goes (a caller may read the actors' names from it).

    Returns:
        The run's :class:`RayStats`.

    Raises:
        ValueError: ``actors`` is below 1.
        RuntimeError: actors keep dying before finishing a video (they cannot start).
        KeyboardInterrupt: passed on after the actors are killed; videos in flight are
            neither done nor lost (a resumed run picks them up).
    """
    ray = import_ray()
    stats = stats if stats is not None else RayStats()
    n = actors if actors is not None else max(1, int(ray.cluster_resources().get("CPU", 1) // setup.threads))
    if n < 1:
        raise ValueError(f"Ray needs at least 1 actor, got {n}")
    remote_actor = ray.remote(num_cpus=setup.threads, max_restarts=0)(BatchActor)
    run_id = uuid.uuid4().hex[:8]
    slots: list[Any] = []  # the live actor per slot
    generation: list[int] = []  # bumped when a slot's actor is replaced
    # When each actor was started, counted in actor starts: a video whose actor died is retried only on
    # an actor started after that death was seen. Actors started earlier may have died in the same event
    # (a lost node) without having said so yet, and a retry sent there would fail a second time.
    started: dict[tuple[int, int], int] = {}  # (slot, generation) -> start count

    def start(slot: int) -> None:
        name = f"{ACTOR_NAME_PREFIX}-{run_id}-{slot}-{generation[slot]}"
        slots[slot] = remote_actor.options(name=name).remote(setup)
        started[(slot, generation[slot])] = len(started)
        stats.actor_names[slot] = name

    for slot in range(n):
        slots.append(None)
        generation.append(0)
        stats.actor_names.append("")
        start(slot)
    stats.actors = n
    if stats.on_start is not None:
        stats.on_start(n)

    source = iter(tasks)
    again: deque[tuple[Task, int, int]] = deque()  # (task, attempts so far, earliest actor start) to try first
    in_flight: dict[Any, tuple[Task, int, int, int]] = {}  # ref -> (task, attempts, slot, generation)
    load = [0] * n  # tasks in flight on each slot's live actor
    deaths_in_a_row = 0
    try:
        while True:
            _fill(slots, generation, load, source, again, in_flight, started)
            if not in_flight:
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                task, attempts, slot, gen = in_flight.pop(ref)
                current = gen == generation[slot]  # sent to the slot's live actor, not one replaced since
                if current:
                    load[slot] -= 1
                try:
                    line = ray.get(ref)
                except ray.exceptions.RayActorError:
                    if current:  # the first of its videos to report the death: replace the actor, once
                        deaths_in_a_row += 1
                        if deaths_in_a_row > max(MAX_DEATHS_IN_A_ROW, n):
                            raise RuntimeError(f"{deaths_in_a_row} Ray actors died in a row without "
                                               "finishing a video: they cannot start") from None
                        generation[slot] += 1
                        load[slot] = 0
                        start(slot)
                        stats.replaced += 1
                    if attempts + 1 < MAX_ATTEMPTS:
                        # The dead actor's replacement (started above, or when an earlier video reported it).
                        again.append((task, attempts + 1, started[(slot, gen + 1)]))
                        stats.retried += 1
                    else:
                        lost(task, ACTOR_DIED)
                    continue
                except ray.exceptions.RayTaskError as e:  # analyze_file never raises: this is Ray's own failure
                    lost(task, f"Ray task failed: {str(e).splitlines()[0]}")
                    continue
                deaths_in_a_row = 0
                done(task, line)
    finally:
        for actor in slots:
            ray.kill(actor)
    return stats


def _fill(slots: list, generation: list[int], load: list[int], source: Iterator[Task],
          again: deque, in_flight: dict, started: dict[tuple[int, int], int]) -> None:
    """Give each actor tasks until it has ``IN_FLIGHT_PER_ACTOR`` (retries first, on actors new enough)."""
    for slot, actor in enumerate(slots):
        while load[slot] < IN_FLIGHT_PER_ACTOR:
            fresh = started[(slot, generation[slot])]
            retry = next((r for r in again if fresh >= r[2]), None)
            if retry is not None:
                again.remove(retry)
                task, attempts, _ = retry
            else:
                task = next(source, None)
                if task is None:
                    break  # no new work; a later slot may still take a retry
                attempts = 0
            in_flight[actor.analyze.remote(task)] = (task, attempts, slot, generation[slot])
            load[slot] += 1
