"""MediaPipe's, absl's and TFLite's own log lines: kept off the console unless asked for.

MediaPipe's C++ graphs log through glog and absl, and TFLite announces its XNNPACK delegate;
they write to file descriptor 2 directly, from their own threads, when a graph first runs,
so neither Python's ``logging`` nor ``warnings`` can filter them. Two things quiet them:

- environment variables that their loggers read when the library loads
  (:func:`quiet_environment`, called before MediaPipe is imported);
- fd 2 pointed at ``/dev/null`` while a MediaPipe graph runs for the first time
  (:func:`native_stderr_silenced`), the only moment they print.

dfcore's own warnings and errors (Python's ``sys.stderr``) are never silenced: fd 2 is
redirected only for the first call of each graph, under a lock, and restored right after.
``--verbose`` (``DFCORE_VERBOSE=1``, which worker processes inherit) lets everything through.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "DFCORE_VERBOSE"
# Read by glog (MediaPipe), TensorFlow/TFLite's C++ logger and absl when they load: 2 = errors and worse only.
QUIET_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
_FD2_LOCK = threading.Lock()  # fd 2 is process-wide: one redirection at a time


def verbose() -> bool:
    """True when third-party log lines should reach the console (``DFCORE_VERBOSE=1``)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def set_verbose(on: bool) -> None:
    """Let third-party log lines through (True) or keep them quiet (False), in this process and its workers.

    Call it before MediaPipe is imported: the loggers read their level once, when they load.
    """
    if on:
        os.environ[VERBOSE_ENV] = "1"
        for name in QUIET_ENV:
            os.environ[name] = "0"
    else:
        os.environ.pop(VERBOSE_ENV, None)
        quiet_environment()


def quiet_environment() -> None:
    """Set the quiet log levels where the user has not set their own (nothing when verbose)."""
    if verbose():
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 goes to ``/dev/null`` for this block (unless verbose); Python's ``sys.stderr`` is flushed first.

    Hold it only around calls that print what is not ours (a MediaPipe graph's first run): any
    thread's writes to fd 2 are lost meanwhile.
    """
    if verbose():
        yield
        return
    with _FD2_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no fd 2 (a daemon, a closed stream): nothing to silence
            yield
            return
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 2)
            finally:
                os.close(devnull)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
