"""What a batch worker does with one file: analyse it and turn the outcome into one output line.

The same function runs in every mode (in the calling process, in a local
process-pool worker, in a Ray actor), so a video gets the same line whichever
ran it. A line is the ``analyze --json`` schema (:meth:`AnalysisResult.to_dict`)
plus ``path``, ``sha256``, ``error`` and ``worker`` (``host:pid``, to trace a
line to a machine); a file that cannot be analysed gets a short line with
``error`` set instead of ending the batch.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from ..analyze import analyze_video
from ..models.checkpoint import sha256_file
from ..models.detector import Detector, load_detector
from ..errors import DfcoreError
from ..provenance import InputFile, describe_input

# One unit of work: the file's absolute path, and its sha256 when the driver already
# read it (to check for an earlier result); None: the worker hashes it.
Task = tuple[str, str | None]


@dataclass(frozen=True)
class WorkerSetup:
    weights: str  # the checkpoint file every worker loads (resolved by the driver: same model everywhere)
    model_name: str  # its architecture name, for the lines of files that could not be analysed
    model_sha256: str  # its sha256, idem (and the resume key)
    n_frames: int  # frames sampled per video
    threads: int  # torch CPU threads per worker
    device: str | None = None  # "cpu" or "cuda"; None: CUDA when present
    time_limit_s: float | None = None  # seconds one video may take before it gets an error line; None: no limit


def load_worker_detector(setup: WorkerSetup) -> Detector:
    """The detector one worker keeps for all its files.

    Raises:
        WeightsError: the checkpoint is missing or does not match its manifest.
    """
    return load_detector(setup.weights, device=setup.device, threads=setup.threads)


def content_key(path: str) -> str | None:
    """The sha256 a file's output line is keyed by; None when it cannot be read.

    Every line, a result or an error, carries this same key, and a resumed run
    computes it the same way, so a file answered once is never answered again:
    an empty or unsupported file has its content's hash like any other, and a
    missing or unreadable one (or a pipe, whose reading would block) the stable None.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return sha256_file(path)
    except OSError:
        return None


def analyze_file(task: Task, detector: Detector, setup: WorkerSetup) -> dict:
    """Analyse one file into its output line; never raises for a bad file.

    Args:
        task: (absolute path, sha256 or None).
        detector: the worker's loaded detector.
        setup: the batch's model and frame count.

    Returns:
        The ``analyze --json`` dict plus ``path``, ``sha256`` and ``error`` (None),
        or an error line (see :func:`error_line`) for a file that could not be analysed.
    """
    path, sha256 = task
    worker = worker_name()
    # Hashed once: by the driver (to resume) or here, before anything can fail, so that even an
    # error line carries the key a resumed run looks for; analyze_video records it without hashing again.
    sha256 = sha256 or content_key(path)
    try:
        known = InputFile(Path(path).name, os.stat(path).st_size, sha256) if sha256 else describe_input(path)
        result = analyze_video(path, setup.n_frames, detector=detector, time_limit_s=setup.time_limit_s,
                               input_file=known)
    except DfcoreError as e:  # missing, empty, corrupt, unsupported, too slow: the user's file, not our bug
        return error_line(path, e.message, setup, sha256, worker)
    except OSError as e:  # unreadable (permissions, a vanished network mount) before analyze_video saw it
        return error_line(path, f"{path}: could not be read ({e.strerror or e}).", setup, sha256, worker)
    except Exception as e:  # noqa: BLE001 - one file must never end a batch of a million; the line says what broke
        return error_line(path, f"{path}: internal error ({type(e).__name__}: {e}).", setup, sha256, worker)
    # Our fields last: they are the batch's own record of which file this was.
    return {**result.to_dict(), "path": path, "sha256": sha256, "error": None, "worker": worker}


def error_line(path: str, message: str, setup: WorkerSetup, sha256: str | None = None,
               worker: str | None = None) -> dict:
    """The output line of a file that could not be analysed.

    It carries the model and frame count, like a result, so a later run can
    tell it was tried with the same settings. ``worker`` is None when the
    driver writes it (the worker died).
    """
    return {
        "path": path, "sha256": sha256, "error": " ".join(message.split()),  # always one line
        "verdict": None, "fake_probability": None, "n_frames_requested": setup.n_frames,
        "model": {"name": setup.model_name, "sha256": setup.model_sha256}, "worker": worker,
    }


def worker_name() -> str:
    """``host:pid`` of this worker process."""
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- process-pool worker state

_detector: Detector | None = None  # this worker process's detector, loaded once by init_pool_worker
_setup: WorkerSetup | None = None


def init_pool_worker(setup: WorkerSetup) -> None:
    """Process-pool initializer: load the model once per worker process."""
    global _detector, _setup
    # Ctrl+C reaches the whole process group: only the driver handles it (it stops the
    # workers itself), so the workers do not each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _setup = setup
    _detector = load_worker_detector(setup)


def analyze_in_pool_worker(task: Task) -> dict:
    """Process-pool task: :func:`analyze_file` with this worker's detector."""
    if _detector is None or _setup is None:
        raise RuntimeError("init_pool_worker did not run in this process")
    return analyze_file(task, _detector, _setup)
