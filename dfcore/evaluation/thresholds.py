"""Two thresholds and the three-way rates, on a pool of scores from several domains weighted equally.

A pool is a set of scored items, each from a domain (FF++, talking heads, DFDC crops, web-degraded clips, ...).
Every share here is the mean over domains of the share within each domain, so a domain with 900 crops counts
no more than one with 20 clips: no single source sets a threshold. One clip may give several scores (one per
frame count); the bootstrap resamples whole clips (``groups``) within each domain and label, since a clip's
scores are not independent evidence.

- ``t_fake``: the lowest score at which at most ``max_real_fake`` of the reals score at or above it;
- ``t_no_sign``: the highest score below which at most ``max_fake_no_sign`` of the fakes fall.
If a model separates the pool so well that ``t_no_sign`` would lie above ``t_fake``, there is no band:
``t_no_sign`` is set to ``t_fake`` and the thresholds say ``crossed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..decision import FAKE, NO_SIGN, UNCERTAIN, Thresholds

MAX_REAL_CALLED_FAKE = 0.05  # t_fake: the share of calibration reals it may call FAKE
MAX_FAKE_CALLED_NO_SIGN = 0.10  # t_no_sign: the share of calibration fakes it may let fall below it
N_RESAMPLES = 1000  # bootstrap resamples for intervals
OUTCOMES = (FAKE, UNCERTAIN, NO_SIGN)


@dataclass(frozen=True)
class Pool:
    """Scored items of a pool, flat: one row per (item, frame count) score."""

    scores: np.ndarray  # (n,) calibrated fake probabilities
    labels: np.ndarray  # (n,) 0 real, 1 fake
    domains: np.ndarray  # (n,) domain name per row (equal weight per domain)
    groups: np.ndarray  # (n,) the clip a row comes from (the bootstrap's unit)
    thin: np.ndarray  # (n,) bool: too little evidence to judge (UNCERTAIN whatever the score)

    def where(self, keep: np.ndarray) -> "Pool":
        return Pool(self.scores[keep], self.labels[keep], self.domains[keep], self.groups[keep], self.thin[keep])

    def resampler(self) -> "Resampler":
        return Resampler(self)


class Resampler:
    """Bootstrap copies of a pool: whole clips drawn with replacement within each (domain, label)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.cells: list[list[np.ndarray]] = []  # per (domain, label): the rows of each clip
        for dom, lab in sorted(set(zip(pool.domains.tolist(), pool.labels.tolist()))):
            rows = np.flatnonzero((pool.domains == dom) & (pool.labels == lab))
            order = np.argsort(pool.groups[rows], kind="stable")
            _, starts = np.unique(pool.groups[rows][order], return_index=True)
            self.cells.append(np.split(rows[order], starts[1:]))

    def draw(self, rng: np.random.Generator) -> Pool:
        picks = [clips[i] for clips in self.cells for i in rng.integers(0, len(clips), len(clips))]
        return self.pool.where(np.concatenate(picks)) if picks else self.pool


def label_weights(pool: Pool, label: int) -> np.ndarray:
    """Per-row weights of ``label``'s rows: each domain with that label sums to 1 / (number of such domains)."""
    w = np.zeros(len(pool.scores))
    mine = pool.labels == label
    doms = np.unique(pool.domains[mine])
    for d in doms:
        cell = mine & (pool.domains == d)
        w[cell] = 1.0 / (cell.sum() * len(doms))
    return w


def fit_thresholds(pool: Pool, max_real_fake: float = MAX_REAL_CALLED_FAKE,
                   max_fake_no_sign: float = MAX_FAKE_CALLED_NO_SIGN) -> Thresholds:
    """The two thresholds of ``pool`` (rows with thin evidence are left out: they are UNCERTAIN anyway).

    Raises:
        ValueError: the pool lacks reals or fakes with enough evidence.
    """
    p = pool.where(~pool.thin)
    if not (p.labels == 0).any() or not (p.labels == 1).any():
        raise ValueError(f"the pool needs real and fake scores; has {int((p.labels == 0).sum())} real and "
                         f"{int((p.labels == 1).sum())} fake")
    t_fake = _t_fake(p.scores[p.labels == 0], label_weights(p, 0)[p.labels == 0], max_real_fake)
    t_no_sign = _t_no_sign(p.scores[p.labels == 1], label_weights(p, 1)[p.labels == 1], max_fake_no_sign)
    if t_no_sign > t_fake:
        return Thresholds(t_fake, t_fake, crossed=True)
    return Thresholds(t_fake, t_no_sign)


def fit_thresholds_with_intervals(pool: Pool, seed: int = 0, n_resamples: int = N_RESAMPLES) -> Thresholds:
    """:func:`fit_thresholds` with 95% intervals from a bootstrap over clips within each domain and label."""
    t = fit_thresholds(pool)
    rng, boot = np.random.default_rng(seed), pool.resampler()
    draws = np.array([[b.fake, b.no_sign] for b in (fit_thresholds(boot.draw(rng)) for _ in range(n_resamples))])
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    return Thresholds(t.fake, t.no_sign, (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])), t.crossed)


def outcomes(pool: Pool, t: Thresholds) -> np.ndarray:
    """Each row's verdict under ``t`` (thin evidence: UNCERTAIN), as in :func:`dfcore.decision.verdict_from`."""
    out = np.where(pool.scores >= t.fake, FAKE, np.where(pool.scores < t.no_sign, NO_SIGN, UNCERTAIN))
    return np.where(pool.thin, UNCERTAIN, out)


def three_way_rates(pool: Pool, t: Thresholds, seed: int = 0, n_resamples: int = N_RESAMPLES) -> dict:
    """The shares of reals and of fakes called FAKE, UNCERTAIN and NO_SIGN, domain-weighted, with 95% intervals.

    Returns:
        ``{"real": {"FAKE": {"rate", "ci"}, ..., "n": clips}, "fake": {...}}``; a label the pool lacks is None.
    """
    point = _rates(pool, t)
    rng, resampler = np.random.default_rng(seed), pool.resampler()
    boot = [_rates(resampler.draw(rng), t) for _ in range(n_resamples)]
    out: dict = {}
    for lab, name in ((0, "real"), (1, "fake")):
        if point[lab] is None:
            out[name] = None
            continue
        out[name] = {"n": int(len(np.unique(pool.groups[pool.labels == lab])))}
        for o in OUTCOMES:
            vals = [b[lab][o] for b in boot if b[lab] is not None]
            lo, hi = np.percentile(vals, [2.5, 97.5])
            out[name][o] = {"rate": point[lab][o], "ci": [float(lo), float(hi)]}
    return out


def _rates(pool: Pool, t: Thresholds) -> dict[int, dict[str, float] | None]:
    verdicts = outcomes(pool, t)
    out: dict[int, dict[str, float] | None] = {}
    for lab in (0, 1):
        w = label_weights(pool, lab)
        out[lab] = {o: float(w[verdicts == o].sum()) for o in OUTCOMES} if w.any() else None
    return out


def _weight_per_value(scores: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct scores, ascending, and the weight at each."""
    values, inverse = np.unique(scores, return_inverse=True)
    return values, np.bincount(inverse.ravel(), weights=w, minlength=len(values))


def _t_fake(real: np.ndarray, w: np.ndarray, alpha: float) -> float:
    """The lowest t with sum(w[real >= t]) <= alpha: just above the highest real score that must stay below."""
    values, weight = _weight_per_value(real, w)
    values, weight = values[::-1], weight[::-1]  # highest first
    # t just above values[j] calls FAKE exactly the reals above values[j]: the weight before j.
    before = np.concatenate([[0.0], weight.cumsum()[:-1]])
    j = int(np.flatnonzero(before <= alpha + 1e-12).max())
    return float(np.nextafter(values[j], np.inf))


def _t_no_sign(fake: np.ndarray, w: np.ndarray, beta: float) -> float:
    """The highest t with sum(w[fake < t]) <= beta: a fake score itself, since fakes at t are not below it."""
    values, weight = _weight_per_value(fake, w)
    below = np.concatenate([[0.0], weight.cumsum()[:-1]])
    j = int(np.flatnonzero(below <= beta + 1e-12).max())
    return float(values[j])
