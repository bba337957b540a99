"""What both training stages share about their steps: the learning rate over them and their console progress."""

from __future__ import annotations

import math
import time


LOG_EVERY = 25  # steps between progress lines


def lr_at(step: int, peak: float, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class Progress:
    """Console progress of one stage: loss, seconds per step, ETA."""

    def __init__(self, label: str, total: int, start: int) -> None:
        self.label, self.total, self.t, self.n, self.loss = label, total, time.time(), 0, 0.0
        self.elapsed = 0.0
        print(f"{label}: steps {start}/{total}", flush=True)

    def step(self, step: int, loss: float, extra: str = "") -> None:
        self.loss, self.n = self.loss + loss, self.n + 1
        if step % LOG_EVERY == 0 or step == self.total:
            dt = time.time() - self.t
            self.elapsed += dt
            per = dt / self.n
            eta = (self.total - step) * per
            print(f"{self.label} step {step}/{self.total} loss {self.loss / self.n:.4f} {per:.2f}s/step "
                  f"eta {eta / 60:.1f} min {extra}".rstrip(), flush=True)
            self.t, self.n, self.loss = time.time(), 0, 0.0
