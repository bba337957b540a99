"""Tasks for the process-pool tests, in a module of their own.

A spawned worker imports the module its task function lives in: this one
imports nothing heavy, so each worker (and each pool made anew) starts in a
fraction of a second instead of importing torch and MediaPipe.
"""

from __future__ import annotations

import os

POISON = 3  # the task that kills its worker


def die_on_poison(task: int) -> int:
    """Kill this worker process on ``POISON`` (as a segfault in a native decoder would); else task x 10."""
    if task == POISON:
        os._exit(1)
    return task * 10
