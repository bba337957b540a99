"""``python -m dfcore batch``: analyse many videos into a resumable JSON-lines file, locally or on Ray.

    inputs (files, folders, globs, CSV lists; expanded lazily)
      -> skip what the output already holds (same path, content, model, frames)
      -> workers: this process | a local process pool (default) | Ray actors
      -> one line per video, appended and flushed as it arrives (+ an optional CSV table)

Every mode runs the same :func:`dfcore.serving.batch_worker.analyze_file` (a thin
caller of :func:`dfcore.analyze_video`), with the model loaded once per worker,
so a video's line does not depend on where it ran.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .batch_inputs import check_inputs, count_inputs, expand_inputs
from .batch_log import ResultLog, legacy_path, write_summary_csv
from .batch_pool import PoolSpec, run_in_pool
from .batch_worker import (
    Task,
    WorkerSetup,
    analyze_file,
    content_key,
    analyze_in_pool_worker,
    error_line,
    init_pool_worker,
    load_worker_detector,
)
from ..decision import VERDICTS
from ..models.checkpoint import load_checkpoint
from ..errors import DfcoreError, OutputError
from ..models.model_registry import resolve_offered


@dataclass(frozen=True)
class BatchOptions:
    n_frames: int = 20  # frames sampled per video
    model: str | None = None  # an installed model's name; None: the default model
    weights: str | None = None  # a checkpoint file; overrides model
    device: str | None = None  # "cpu" or "cuda"; None: CUDA when present
    # Local: worker processes (0: analyse in this process, one video at a time); None: one per
    # CPU core. Ray: actors; None: as many as the cluster's CPUs allow.
    workers: int | None = None
    threads: int | None = None  # torch threads per worker; None: local cores / workers (at least 1), Ray 1
    ray: bool = False  # run on Ray actors instead of local processes
    # With ray: "local" starts Ray on this machine; "HOST:6379", "ray://HOST:10001" or "auto" joins a cluster;
    # None: Ray's own choice ($RAY_ADDRESS, else a cluster already running here, else a new local one).
    ray_address: str | None = None
    time_limit_s: float | None = None  # seconds one video may take (after its worker loaded the model); None: no limit
    retry_failed: bool = False  # run again the videos the output holds as failed (same model and frames)
    progress: bool = True  # draw a progress bar on stderr


@dataclass
class BatchSummary:
    out: str  # the JSON-lines output
    mode: str  # e.g. "2 local workers x 1 thread", "in this process", "Ray, 2 actors"
    ok: int = 0  # videos analysed in this run
    # This run's results per verdict (FAKE, UNCERTAIN, NO_SIGN, NO_FACE); they add up to ``ok``.
    verdicts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    failed: int = 0  # videos that got an error line in this run
    skipped: int = 0  # videos the output already held (analysed or failed before)
    skipped_failed: int = 0  # lines in the output that record a failure (same model and frames), kept
    legacy: int = 0  # schema-1 lines (REAL / FAKE) of the same model and frames: set aside, their videos run again
    retried: int = 0  # videos tried a second time because their worker died
    seconds: float = 0.0  # wall time of the whole run, worker start-up included
    first_result_s: float | None = None  # seconds from the start to the first line written (start-up + 1 video)
    workers: int = 1  # workers that ran at once (processes or actors; 1 in this process)
    warm_s: float | None = None  # seconds from the start until every worker had written a line (all were up)
    warm_lines: int = 0  # lines written by then
    last_result_s: float | None = None  # seconds from the start to the last line written (before the workers stop)
    notes: list[str] = field(default_factory=list)  # things the user should know

    @property
    def analysed(self) -> int:
        return self.ok + self.failed

    @property
    def videos_per_minute(self) -> float | None:
        """Videos analysed (ok or failed) per minute of wall time; None when none was."""
        return self.analysed / self.seconds * 60 if self.analysed and self.seconds > 0 else None

    @property
    def steady_videos_per_minute(self) -> float | None:
        """The rate once every worker is up (start-up excluded): what a long batch converges to.

        Counted from the moment each worker had written its first line to the last line
        (the workers' shutdown left out); None without a line after that moment.
        """
        if self.warm_s is None or self.last_result_s is None or self.last_result_s <= self.warm_s:
            return None
        return (self.analysed - self.warm_lines) / (self.last_result_s - self.warm_s) * 60

    def counts(self) -> str:
        """This run's results per verdict, then its errors and skips: "FAKE 2, UNCERTAIN 1, NO_SIGN 5, NO_FACE 0,
        errors 1, skipped 3"."""
        per_verdict = ", ".join(f"{v} {n}" for v, n in self.verdicts.items())
        return f"{per_verdict}, errors {self.failed}, skipped {self.skipped}"

    def line(self) -> str:
        """The final line: counts and rate."""
        rate = self.videos_per_minute
        retried = f" ({self.retried} retried after a worker died)" if self.retried else ""
        speed = f"{rate:.1f} videos/min" if rate is not None else "no video analysed"
        return (f"batch: {self.counts()}{retried} "
                f"in {self.seconds:.1f} s, {speed} ({self.mode}); results in {self.out}")


def run_batch(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, options: BatchOptions | None = None,
              *, summary_csv: str | os.PathLike | None = None,
              on_line: Callable[[dict], None] | None = None) -> BatchSummary:
    """Analyse every video the inputs name into ``out``, skipping those it already holds.

    Local workers are started with *spawn*: a script that calls this with
    ``workers`` above 0 needs the usual ``if __name__ == "__main__":`` guard.

    Args:
        inputs: files, folders, globs and CSV lists (see :mod:`dfcore.serving.batch_inputs`).
        out: the JSON-lines output, appended to (and resumed from) as results arrive.
        options: model, frames, workers, Ray.
        summary_csv: also write the whole output as a CSV table here at the end.
        on_line: called in this thread with each line just written.

    Returns:
        The run's :class:`BatchSummary`.

    Raises:
        InputNotFoundError, DatasetError: an input names nothing, or a CSV list has no path column.
        NoWeightsInstalledError, UnknownModelError, WeightsError: no usable model.
        OutputInUseError: another run is writing ``out``.
        OutputError: ``out`` (or ``summary_csv``) cannot be written.
        OptionalDependencyError: ``ray`` asked for and Ray is not installed.
        DfcoreError: no Ray cluster at ``ray_address``.
        ValueError: a negative worker count, or 0 with Ray.
        KeyboardInterrupt: passed on once the workers are stopped; every line written stays.
    """
    opts = options or BatchOptions()
    check_inputs(inputs)
    setup, workers = _plan(opts)
    summary = BatchSummary(str(out), _describe_mode(opts, workers, setup.threads),
                           workers=(opts.workers or 1) if opts.ray else max(1, workers))
    start = time.perf_counter()
    workers_seen: set[str] = set()  # until every worker has written a line (then emptied)
    with ResultLog(out, setup.model_sha256, setup.n_frames, opts.retry_failed) as log, \
            _ProgressBar(inputs, opts.progress) as bar:
        summary.skipped_failed, summary.legacy = log.previous_failed, log.legacy
        if log.legacy:
            summary.notes.append(
                f"{log.legacy} line(s) of {out} came from an older dfcore (schema 1: REAL / FAKE from one threshold); "
                f"they were moved to {legacy_path(out)} and their videos are analysed again for the three verdicts.")
        if log.unreadable:
            summary.notes.append(f"{log.unreadable} line(s) of {out} are not JSON and were ignored.")

        def done(task: Task, line: dict) -> None:
            log.write(line)
            if line.get("error"):
                summary.failed += 1
            else:
                summary.ok += 1
                verdict = str(line.get("verdict"))
                summary.verdicts[verdict] = summary.verdicts.get(verdict, 0) + 1
            summary.last_result_s = time.perf_counter() - start
            if summary.analysed == 1:
                summary.first_result_s = summary.last_result_s
            if summary.warm_s is None and line.get("worker"):
                workers_seen.add(line["worker"])
                if len(workers_seen) >= summary.workers:
                    summary.warm_s, summary.warm_lines = summary.last_result_s, summary.analysed
                    workers_seen.clear()
            bar.update(summary)
            if on_line is not None:
                on_line(line)

        def lost(task: Task, reason: str) -> None:
            # Keyed like every other line, so a resumed run does not try the file a third time.
            done(task, error_line(task[0], f"{task[0]}: {reason}.", setup, task[1] or content_key(task[0])))

        def skipped() -> None:
            summary.skipped += 1
            bar.update(summary)

        tasks = _pending(expand_inputs(inputs), log, skipped)
        try:
            summary.retried = _run(tasks, setup, opts, workers, done, lost, summary)
        finally:
            summary.seconds = time.perf_counter() - start
    if summary.skipped_failed and summary.skipped:
        summary.notes.append(f"{summary.skipped_failed} video(s) in {out} had failed before and were skipped: "
                             "--retry-failed runs them again.")
    if summary_csv is not None:
        try:
            write_summary_csv(out, summary_csv)
        except OSError as e:
            raise OutputError(summary_csv, f"the summary cannot be written ({e.strerror or e})",
                              f"The results are in {out}; give --summary a file you can write.") from None
    return summary


def resolve_weights(options: BatchOptions) -> Path:
    """The checkpoint every worker loads: ``weights``, else the named or default offered model.

    Raises:
        NoWeightsInstalledError, UnknownModelError: no such model.
        WithdrawnModelError: the named model is withdrawn (the message says why).
    """
    return Path(options.weights) if options.weights else resolve_offered(options.model).path


def _plan(opts: BatchOptions) -> tuple[WorkerSetup, int]:
    """The workers' setup (the model checked once, here) and the local worker count."""
    if opts.workers is not None and opts.workers < (1 if opts.ray else 0):
        raise ValueError(f"workers must be at least {1 if opts.ray else 0}, got {opts.workers}")
    if opts.ray:
        from .batch_ray import import_ray

        import_ray()  # Ray missing: say so before anything is written
    weights = resolve_weights(opts).absolute()
    ck = load_checkpoint(weights)  # refuses a missing or tampered file before any worker starts
    cores = _cores()
    workers = opts.workers if opts.workers is not None else cores
    if opts.ray:
        threads = opts.threads or 1  # Ray reserves this many CPUs per actor
    else:
        threads = opts.threads or max(1, cores // max(workers, 1))  # workers x threads = cores
    setup = WorkerSetup(weights=str(weights), model_name=ck.model_name, model_sha256=ck.sha256,
                        n_frames=opts.n_frames, threads=threads, device=opts.device, time_limit_s=opts.time_limit_s)
    return setup, workers


def _run(tasks: Iterator[Task], setup: WorkerSetup, opts: BatchOptions, workers: int,
         done: Callable[[Task, dict], None], lost: Callable[[Task, str], None], summary: BatchSummary) -> int:
    """Run the tasks in the chosen mode; returns how many were retried."""
    if opts.ray:
        from .batch_ray import RayStats, ray_session, run_on_ray  # Ray is imported only when asked for

        with ray_session(opts.ray_address):
            # The actor count is known once Ray is up (None: from the cluster's CPUs).
            stats = RayStats(on_start=lambda actors: setattr(summary, "workers", actors))
            return run_on_ray(tasks, setup, opts.workers, done, lost, stats).retried
    if workers == 0:
        detector = load_worker_detector(setup)
        for task in tasks:
            done(task, analyze_file(task, detector, setup))
        return 0
    spec = PoolSpec(work=analyze_in_pool_worker, workers=workers, initializer=init_pool_worker, initargs=(setup,))
    return run_in_pool(tasks, spec, done, lost).retried


def _pending(paths: Iterable[Path], log: ResultLog, skipped: Callable[[], None]) -> Iterator[Task]:
    """The tasks still to do: not the files the output already holds."""
    for p in paths:
        path = str(p)
        sha256 = None
        if log.has_path(path):  # only a file with an earlier line is worth reading here
            sha256 = content_key(path)  # None when unreadable: matches an earlier error line for it, if any
            if log.is_done(path, sha256):
                skipped()
                continue
        yield path, sha256


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers, taskset)
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def _describe_mode(opts: BatchOptions, workers: int, threads: int) -> str:
    if opts.ray:
        where = "a local Ray instance" if opts.ray_address in (None, "local") else opts.ray_address
        actors = f"{opts.workers} actors" if opts.workers else "one actor per CPU"
        return f"Ray on {where}, {actors} x {threads} thread(s)"
    if workers == 0:
        return f"in this process, {threads} thread(s)"
    return f"{workers} local worker(s) x {threads} thread(s)"


class _ProgressBar:
    """A tqdm bar on stderr: count, rate and ETA, with the total filled in once a second pass has counted it."""

    def __init__(self, inputs: Sequence[str | os.PathLike], enabled: bool) -> None:
        self.enabled = enabled
        self.inputs = list(inputs)
        self.total: int | None = None
        self.bar = None

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit="video", desc="batch", file=sys.stderr, mininterval=0.5,
                            smoothing=0.1, dynamic_ncols=True)
            # Counting walks the folders a second time: do it beside the work, not before it
            # (a daemon thread, so Ctrl+C never waits for it).
            threading.Thread(target=self._count, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def _count(self) -> None:
        try:
            self.total = count_inputs(self.inputs)
        except (OSError, DfcoreError):  # the total is a nicety; the work itself reports a bad input
            self.total = None

    def update(self, summary: BatchSummary) -> None:
        if self.bar is None:
            return
        if self.bar.total is None and self.total is not None:
            self.bar.total = self.total
        self.bar.set_postfix_str(summary.counts(), refresh=False)
        self.bar.update(1)
