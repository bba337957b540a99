"""Evaluation metrics for a binary real/fake detector, in plain numpy.

Conventions, the same everywhere in dfcore: ``labels`` are 0 = real, 1 = fake;
``scores`` are fake probabilities (the rank-based metrics accept any real-valued
score, e.g. logits); a clip is called FAKE when its score is *at or above* the
threshold.

No scikit-learn: the project does not depend on it, and these few functions are
short enough to check by hand (see the examples in each docstring).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

# Search range for the calibration temperature. Below 0.05 a model is being
# made 20x more confident than it was trained to be, above 20 nearly every
# score is squashed to 0.5: either means calibration data and model disagree,
# so the fit stops at the edge rather than running off.
TEMPERATURE_RANGE = (0.05, 20.0)
# Golden-section steps: each shrinks the bracket by 0.618, so 80 steps take the
# log-temperature bracket (~6) below 1e-15: exact to float precision, and a
# fixed count keeps the result identical run to run.
_GOLDEN_STEPS = 80


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve: the chance a random fake scores above a random real.

    Computed from ranks (the Mann-Whitney U statistic); tied scores count as
    half a win, so constant scores give exactly 0.5.

    Args:
        labels: 0/1 per item (1 = fake).
        scores: any real-valued score per item, higher = more likely fake.

    Returns:
        The AUC in [0, 1]; nan when only one class is present.

    Raises:
        ValueError: the inputs are empty, of different lengths, labels are not
            0/1, or a score is not finite.
    """
    y, s = _check(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(s)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auc_interval(labels: ArrayLike, scores: ArrayLike, groups: ArrayLike | None = None, level: float = 0.95,
                 n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A bootstrap confidence interval for :func:`roc_auc`: how far the sample's size lets its AUC be trusted.

    Reals and fakes are resampled separately (a stratified bootstrap, so every
    resample keeps the split's class counts and has an AUC), and the interval is
    the resamples' percentiles. On the small FF++ test split (8 real, 20 fake
    clips) it is wide: one clip moves the AUC by several hundredths, and the
    interval says so where the point estimate cannot. A fixed seed makes it the
    same run to run, so a card rebuilt from the same scores matches.

    Args:
        labels: 0/1 per item (1 = fake).
        scores: any real-valued score per item, higher = more likely fake.
        groups: optional group id per item (e.g. the clip a frame came from): whole groups are
            resampled, because items of one group are not independent evidence. A group holds one label.
        level: the interval's coverage, in (0, 1).
        n_resamples: bootstrap resamples (>= 1).
        seed: the random generator's seed.

    Returns:
        (low, high); both nan when only one class is present.

    Raises:
        ValueError: as for :func:`roc_auc`; ``groups`` of another length or mixing labels; ``level``
            outside (0, 1); n_resamples < 1.
    """
    y, s = _check(labels, scores)
    _check_bootstrap(level, n_resamples)
    g = np.arange(y.size) if groups is None else np.asarray(groups).ravel()
    if g.size != y.size:
        raise ValueError(f"groups and labels differ in length: {g.size} vs {y.size}")
    _, g = np.unique(g, return_inverse=True)
    if np.unique(np.stack([g, y]), axis=1).shape[1] != g.max() + 1:
        raise ValueError("a group holds both real and fake items")
    if y.all() or not y.any():
        return math.nan, math.nan
    order = np.argsort(s[y == 0], kind="stable")  # weighted_auc wants the reals sorted
    pos, neg = s[y == 1], s[y == 0][order]
    pos_group, neg_group = _renumber(g[y == 1]), _renumber(g[y == 0][order])
    # A group's draw count weighs each of its items.
    return _bootstrap_interval(lambda c_pos, c_neg: weighted_auc(pos, neg, c_pos[:, pos_group], c_neg[:, neg_group]),
                               (int(pos_group.max()) + 1, int(neg_group.max()) + 1), y.size, level, n_resamples, seed)


def auc_change_interval(labels: ArrayLike, scores_before: ArrayLike, scores_after: ArrayLike, level: float = 0.95,
                        n_resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """How the AUC changes from one set of scores to another on the same items, with a paired bootstrap interval.

    Both AUCs are computed on the same resample of items (reals and fakes resampled separately), so what the
    items have in common cancels: the question "does the AUC fall when more frames are analysed?" is
    answered by whether the interval of the change lies below zero, not by comparing two wide intervals.

    Args:
        labels: 0/1 per item (1 = fake).
        scores_before: one score per item, e.g. at 10 frames.
        scores_after: one score per item, in the same order, e.g. at 100 frames.
        level: the interval's coverage, in (0, 1).
        n_resamples: bootstrap resamples (>= 1).
        seed: the random generator's seed.

    Returns:
        (AUC after − AUC before, low, high); all nan when only one class is present.

    Raises:
        ValueError: as for :func:`auc_interval`, or score lists of different lengths.
    """
    y, before = _check(labels, scores_before)
    _, after = _check(labels, scores_after)
    _check_bootstrap(level, n_resamples)
    if y.all() or not y.any():
        return math.nan, math.nan, math.nan
    # Per score set: its fakes, its reals sorted (as weighted_auc wants), and that order for the reals' weights.
    sets = [(s[y == 1], s[y == 0][order], order)
            for s in (before, after) for order in [np.argsort(s[y == 0], kind="stable")]]

    def change(c_pos: np.ndarray, c_neg: np.ndarray) -> np.ndarray:
        (pos_b, neg_b, order_b), (pos_a, neg_a, order_a) = sets
        after_auc = weighted_auc(pos_a, neg_a, c_pos, c_neg[:, order_a])
        return after_auc - weighted_auc(pos_b, neg_b, c_pos, c_neg[:, order_b])

    low, high = _bootstrap_interval(change, (int(y.sum()), int((y == 0).sum())), y.size, level, n_resamples, seed)
    return roc_auc(y, after) - roc_auc(y, before), low, high


def paired_auc_summary(labels: ArrayLike, scores_before: ArrayLike, scores_after: ArrayLike,
                       after_name: str) -> dict | None:
    """Two scorings of the same items compared: both AUCs with their intervals, and the paired change.

    What a keep-or-drop measurement reports per group (a test-time flip, an int8 graph against float32).

    Args:
        labels: 0/1 per item (1 = fake).
        scores_before: one score per item, as the product scores today.
        scores_after: one score per item, in the same order, as the variant scores.
        after_name: names the variant's keys (``"flip"`` -> ``auc_flip``, ``auc_flip_ci``).

    Returns:
        ``{"n_reals", "n_fakes", "auc", "auc_ci", "auc_NAME", "auc_NAME_ci", "change", "change_ci"}``, or None
        when the items lack a class (no AUC to compare).
    """
    y = np.asarray(labels)
    if y.size == 0 or y.all() or not y.any():
        return None
    change, low, high = auc_change_interval(y, scores_before, scores_after)
    return {"n_reals": int((y == 0).sum()), "n_fakes": int(y.sum()),
            "auc": roc_auc(y, scores_before), "auc_ci": list(auc_interval(y, scores_before)),
            f"auc_{after_name}": roc_auc(y, scores_after), f"auc_{after_name}_ci": list(auc_interval(y, scores_after)),
            "change": change, "change_ci": [low, high]}


def _check_bootstrap(level: float, n_resamples: int) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")


def _bootstrap_interval(statistic, n_units: tuple[int, int], n_items: int, level: float, n_resamples: int,
                        seed: int) -> tuple[float, float]:
    """Percentile interval of ``statistic(fake_counts, real_counts)`` over stratified resamples.

    Each resample draws, with replacement, as many fake units as there are and as many real units, and passes
    how often each unit was drawn (arrays of shape (resamples, units)); ``statistic`` returns one value per row.
    Resamples go in blocks, so the count matrices stay small on a large validation set.
    """
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    block = max(1, 2_000_000 // n_items)
    for start in range(0, n_resamples, block):
        r = min(block, n_resamples - start)
        counts = [rng.multinomial(n, np.full(n, 1.0 / n), size=r) for n in n_units]
        values[start:start + r] = statistic(*counts)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def _renumber(ids: np.ndarray) -> np.ndarray:
    """Group ids as 0..k-1."""
    return np.unique(ids, return_inverse=True)[1]


def weighted_auc(pos: np.ndarray, neg: np.ndarray, w_pos: np.ndarray, w_neg: np.ndarray) -> np.ndarray:
    """AUCs of weighted samples, one per row of weights: the Mann-Whitney statistic with item counts.

    Row r counts fake i ``w_pos[r, i]`` times and real j ``w_neg[r, j]`` times
    (a bootstrap resample), without materialising the resampled scores: each
    fake's wins are the weight of the reals strictly below it plus half of
    those tied with it, read off a cumulative sum over the sorted reals.

    Args:
        pos: fake scores, shape (P,).
        neg: real scores sorted ascending, shape (N,).
        w_pos: non-negative weights, shape (R, P).
        w_neg: non-negative weights in ``neg``'s order, shape (R, N).

    Returns:
        The R AUCs.
    """
    below = np.searchsorted(neg, pos, side="left")  # reals strictly below each fake
    at_or_below = np.searchsorted(neg, pos, side="right")
    cum = np.concatenate([np.zeros((w_neg.shape[0], 1)), np.cumsum(w_neg, axis=1)], axis=1)
    wins = 0.5 * (cum[:, below] + cum[:, at_or_below])  # strictly below + half of the ties
    return (w_pos * wins).sum(axis=1) / (w_pos.sum(axis=1) * w_neg.sum(axis=1))


def roc_curve(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve, one point per distinct score.

    Point k flags as fake every item with score >= ``thresholds[k]``. The first
    point is (0, 0) with threshold ``inf`` (nothing flagged); the last flags
    everything, (1, 1).

    Args:
        labels: 0/1 per item (1 = fake).
        scores: any real-valued score per item.

    Returns:
        (fpr, tpr, thresholds), float arrays of equal length; thresholds are
        decreasing. A rate whose class is absent is nan.

    Raises:
        ValueError: as for :func:`roc_auc`.
    """
    y, s = _check(labels, scores)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # The last index of each run of equal scores: ties move the curve in one step.
    last_of_run = np.flatnonzero(np.r_[np.diff(s_sorted) != 0, True])
    tps = np.cumsum(y_sorted)[last_of_run]
    fps = (last_of_run + 1) - tps
    n_pos, n_neg = tps[-1], fps[-1]
    tpr = np.r_[0.0, tps] / n_pos if n_pos else np.full(tps.size + 1, math.nan)
    fpr = np.r_[0.0, fps] / n_neg if n_neg else np.full(fps.size + 1, math.nan)
    thresholds = np.r_[math.inf, s_sorted[last_of_run]]
    return fpr.astype(float), tpr.astype(float), thresholds.astype(float)


def equal_error_rate(labels: ArrayLike, scores: ArrayLike) -> tuple[float, float]:
    """The equal error rate: where the false-positive rate equals the false-negative rate.

    The ROC curve is a staircase, so FPR and FNR rarely meet exactly at a
    score; the crossing is linearly interpolated between the two ROC points
    around it, and so is its threshold. Example: labels [0, 0, 1, 1], scores
    [0.1, 0.4, 0.35, 0.8] give EER 0.5 at threshold 0.4.

    Args:
        labels: 0/1 per item (1 = fake).
        scores: fake probabilities (or any real-valued score).

    Returns:
        (eer, threshold). Both nan when only one class is present.

    Raises:
        ValueError: as for :func:`roc_auc`.
    """
    fpr, tpr, thr = roc_curve(labels, scores)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        return math.nan, math.nan
    fnr = 1.0 - tpr
    diff = fpr - fnr  # rises from -1 (nothing flagged) to +1 (everything flagged)
    i = int(np.argmax(diff >= 0))
    if diff[i] == 0:
        return float(fpr[i]), float(thr[i])
    # Crossing between points i-1 and i. Point 0's threshold is inf; any value
    # above the top score flags nothing, so interpolate from 1.0 (or the top
    # score, for scores above 1) instead.
    a = -diff[i - 1] / (diff[i] - diff[i - 1])
    eer = fpr[i - 1] + a * (fpr[i] - fpr[i - 1])
    upper = thr[i - 1] if i - 1 > 0 else max(1.0, thr[1])
    threshold = upper + a * (thr[i] - upper)
    return float(eer), float(threshold)


def accuracy(labels: ArrayLike, scores: ArrayLike, threshold: float = 0.5) -> float:
    """Fraction of items whose call (FAKE when score >= threshold) matches the label.

    Raises:
        ValueError: as for :func:`roc_auc`.
    """
    y, s = _check(labels, scores)
    return float(np.mean((s >= threshold) == (y == 1)))


def log_loss(labels: ArrayLike, scores: ArrayLike, eps: float = 1e-7) -> float:
    """Mean negative log-likelihood (binary cross-entropy) of the labels under the scores.

    Args:
        labels: 0/1 per item (1 = fake).
        scores: fake probabilities in [0, 1].
        eps: probabilities are clipped to [eps, 1 - eps], so one confident
            mistake costs at most -log(eps) (about 16 for 1e-7) instead of inf.

    Returns:
        The mean loss in nats (0 is perfect; always guessing 0.5 gives ln 2 = 0.693).

    Raises:
        ValueError: as for :func:`roc_auc`, or a score outside [0, 1].
    """
    y, p = _check(labels, scores, probabilities=True)
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))


def reliability_table(labels: ArrayLike, scores: ArrayLike, n_bins: int = 10) -> list[dict]:
    """Calibration by score bin: how often items scored ~p really are fake.

    Bins are equal-width on [0, 1]; each holds scores in [lower, upper), the
    last also 1.0.

    Args:
        labels: 0/1 per item (1 = fake).
        scores: fake probabilities in [0, 1].
        n_bins: number of bins (>= 1).

    Returns:
        One dict per bin, in order: ``lower``, ``upper`` (bin edges), ``count``
        (items in the bin), ``mean_predicted`` (their mean score) and
        ``fraction_fake`` (share labelled fake); the last two are None for an
        empty bin, so the table serialises to JSON as is.

    Raises:
        ValueError: as for :func:`log_loss`, or n_bins < 1.
    """
    y, p = _check(labels, scores, probabilities=True)
    edges, idx = _bin(p, n_bins)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y.astype(float), minlength=n_bins)
    table = []
    for b in range(n_bins):
        n = int(count[b])
        table.append({
            "lower": float(edges[b]),
            "upper": float(edges[b + 1]),
            "count": n,
            "mean_predicted": float(sum_p[b] / n) if n else None,
            "fraction_fake": float(sum_y[b] / n) if n else None,
        })
    return table


def expected_calibration_error(labels: ArrayLike, scores: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error: the count-weighted mean |mean score - fraction fake| over bins.

    0 is perfectly calibrated. Uses the bins of :func:`reliability_table`.

    Raises:
        ValueError: as for :func:`reliability_table`.
    """
    y, p = _check(labels, scores, probabilities=True)
    _, idx = _bin(p, n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y.astype(float), minlength=n_bins)
    # sum_b (n_b / N) * |sum_p_b / n_b - sum_y_b / n_b| = sum_b |sum_p_b - sum_y_b| / N: no empty-bin division.
    return float(np.abs(sum_p - sum_y).sum() / y.size)


def sigmoid(logits: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """Fake probabilities from fake logits, ``1 / (1 + exp(-logit / T))``, without overflow."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=float) / temperature
    # exp of a negative number never overflows: take it on whichever side that is.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def fit_temperature(logits: ArrayLike, labels: ArrayLike, weights: ArrayLike | None = None) -> float:
    """The temperature T > 0 that minimises the NLL of ``sigmoid(logits / T)`` (temperature scaling).

    T > 1 softens an over-confident model, T < 1 sharpens an under-confident
    one; ranking (and so AUC) is unchanged. The NLL is convex in 1/T, hence
    unimodal in log T, so a golden-section search over log T in
    :data:`TEMPERATURE_RANGE` finds the minimum; a fixed number of steps makes
    the result deterministic. Fit on held-out data, never on training data.

    Args:
        logits: fake logits per item (before any sigmoid).
        labels: 0/1 per item (1 = fake).
        weights: per-item weights of the NLL (None: equal), e.g. to weigh data sources equally.

    Returns:
        The temperature. It sits at an end of :data:`TEMPERATURE_RANGE` when
        the optimum lies outside it (e.g. perfectly separated data wants T -> 0;
        logits that rank backwards want T < 0, which is not a temperature).

    Raises:
        ValueError: as for :func:`roc_auc` (with logits as the scores).
    """
    y, z = _check(labels, logits)
    y = y.astype(float)
    w = _normalised_weights(weights, len(y))

    def nll(log_t: float) -> float:
        u = z / math.exp(log_t)
        # -log sigmoid(u) for fakes, -log(1 - sigmoid(u)) for reals: softplus(u) - y*u.
        return float(np.sum(w * (np.logaddexp(0.0, u) - y * u)))

    lo, hi = math.log(TEMPERATURE_RANGE[0]), math.log(TEMPERATURE_RANGE[1])
    inv_phi = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    fc, fd = nll(c), nll(d)
    for _ in range(_GOLDEN_STEPS):
        if fc <= fd:  # the minimum is in [lo, d]
            hi, d, fd = d, c, fc
            c = hi - inv_phi * (hi - lo)
            fc = nll(c)
        else:  # the minimum is in [c, hi]
            lo, c, fc = c, d, fd
            d = lo + inv_phi * (hi - lo)
            fd = nll(d)
    return math.exp((lo + hi) / 2.0)


def fit_platt(logits: ArrayLike, labels: ArrayLike, l2: float = 1e-3,
              weights: ArrayLike | None = None) -> tuple[float, float]:
    """Platt scaling: the temperature T and bias b minimising the NLL of ``sigmoid(logits / T + b)``.

    Temperature scaling alone cannot move the decision point; a model whose
    fakes score low on new data needs the bias too. Newton's method on the
    two-parameter logistic regression (convex; a small L2 term keeps it finite
    on separable data), a fixed number of steps for determinism.

    Args:
        logits: fake logits per item (before any sigmoid).
        labels: 0/1 per item (1 = fake).
        l2: ridge penalty on (1/T, b), per item.
        weights: per-item weights of the NLL (None: equal), e.g. to weigh data sources equally.

    Returns:
        (T, b), with T clipped to :data:`TEMPERATURE_RANGE` (a slope that ranks
        backwards or is near zero is not a calibration).

    Raises:
        ValueError: as for :func:`roc_auc` (with logits as the scores).
    """
    y, z = _check(labels, logits)
    wt = _normalised_weights(weights, len(y))
    # Fit on standardised logits, with a step that never raises the loss: from a start where the
    # logits are large (|z| ~ 10) every probability is ~0 or ~1, the Hessian vanishes, and a plain
    # Newton step overshoots without bound.
    mu = float(np.sum(wt * z))
    sd = float(np.sqrt(np.sum(wt * (z - mu) ** 2))) or 1.0
    x = np.stack([(z - mu) / sd, np.ones_like(z)], axis=1)

    def loss(w: np.ndarray) -> float:
        u = x @ w
        return float(np.sum(wt * (np.logaddexp(0.0, u) - y * u)) + 0.5 * l2 * (w @ w))

    w = np.zeros(2)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50, 50)))
        grad = x.T @ (wt * (p - y)) + l2 * w
        hess = (x * (wt * p * (1 - p))[:, None]).T @ x + l2 * np.eye(2)
        step, t, before = np.linalg.solve(hess, grad), 1.0, loss(w)
        while loss(w - t * step) > before and t > 1e-6:
            t /= 2
        w = w - t * step
    # Back to raw logits: w0 * (z - mu) / sd + w1 = (w0 / sd) * z + (w1 - w0 * mu / sd); a clipped
    # slope keeps the fitted probability at the mean logit.
    slope = float(np.clip(w[0] / sd, 1 / TEMPERATURE_RANGE[1], 1 / TEMPERATURE_RANGE[0]))
    return 1.0 / slope, float(w[1] - slope * mu)


def _normalised_weights(weights: ArrayLike | None, n: int) -> np.ndarray:
    """Per-item weights summing to 1 (equal when None)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=float).ravel()
    if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers with a positive sum")
    return w / w.sum()


def threshold_at_fpr(real_scores: ArrayLike, max_fpr: float) -> float:
    """The lowest threshold at which at most ``max_fpr`` of the real items score at or above it.

    A clip is FAKE when its score >= the threshold, so with n real scores at most
    floor(max_fpr * n) of them may reach it: the threshold sits just above the
    (floor(max_fpr * n) + 1)-th highest real score. With few reals this is the
    highest one, so the rate on new reals can be higher: report it where it was measured.

    Args:
        real_scores: scores of real items only.
        max_fpr: the share of reals that may be called fake, in [0, 1).

    Returns:
        The threshold.

    Raises:
        ValueError: no scores, or ``max_fpr`` outside [0, 1).
    """
    s = np.sort(np.asarray(real_scores, dtype=float).ravel())[::-1]
    if s.size == 0 or not np.all(np.isfinite(s)):
        raise ValueError("need at least one finite real score")
    if not 0.0 <= max_fpr < 1.0:
        raise ValueError(f"max_fpr must be in [0, 1), got {max_fpr}")
    allowed = int(math.floor(max_fpr * s.size + 1e-9))
    return float(np.nextafter(s[allowed], np.inf))


def summarize(labels: ArrayLike, scores: ArrayLike, threshold: float = 0.5) -> dict:
    """All the headline metrics at once, as full-precision floats (round only to display).

    Args:
        labels: 0/1 per item (1 = fake).
        scores: fake probabilities in [0, 1].
        threshold: the decision threshold for ``accuracy`` (FAKE at or above it).

    Returns:
        ``{"auc", "accuracy", "eer", "eer_threshold", "log_loss", "ece",
        "threshold", "n", "n_real", "n_fake"}``; counts are ints, auc/eer are
        nan when only one class is present.

    Raises:
        ValueError: as for :func:`log_loss`.
    """
    y, p = _check(labels, scores, probabilities=True)
    eer, eer_threshold = equal_error_rate(y, p)
    return {
        "auc": roc_auc(y, p),
        "accuracy": accuracy(y, p, threshold),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "log_loss": log_loss(y, p),
        "ece": expected_calibration_error(y, p),
        "threshold": float(threshold),
        "n": int(y.size),
        "n_real": int((y == 0).sum()),
        "n_fake": int((y == 1).sum()),
    }


def _check(labels: ArrayLike, scores: ArrayLike, probabilities: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Flatten and validate: int 0/1 labels and finite float scores of the same, non-zero length."""
    y = np.asarray(labels).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.size != s.size:
        raise ValueError(f"labels and scores differ in length: {y.size} vs {s.size}")
    if y.size == 0:
        raise ValueError("no items to score")
    if not np.isin(y, (0, 1)).all():
        bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
        raise ValueError(f"labels must be 0 (real) or 1 (fake), got {bad.tolist()}")
    if not np.isfinite(s).all():
        raise ValueError(f"{int((~np.isfinite(s)).sum())} score(s) are nan or infinite")
    if probabilities and (s.min() < 0.0 or s.max() > 1.0):
        raise ValueError(f"scores must be probabilities in [0, 1], got range [{s.min()}, {s.max()}]")
    return y.astype(np.int64), s


def _average_ranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks of s, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # A value with c copies after `before` smaller ones holds ranks before+1 .. before+c.
    before = np.cumsum(counts) - counts
    return (before + (counts + 1) / 2.0)[inverse]


def _bin(p: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    # k / n rather than linspace: division is correctly rounded, so the edge 3/10
    # is the float 0.3 itself and a score of 0.3 lands in the bin starting there.
    edges = np.arange(n_bins + 1) / n_bins
    # Bin b holds [edges[b], edges[b+1]); a score of exactly 1.0 joins the last bin.
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    return edges, idx


__all__ = [
    "TEMPERATURE_RANGE", "roc_auc", "auc_interval", "auc_change_interval", "paired_auc_summary", "weighted_auc",
    "roc_curve",
    "equal_error_rate", "accuracy", "log_loss",
    "reliability_table", "expected_calibration_error", "sigmoid", "fit_temperature", "summarize",
]
