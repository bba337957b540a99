"""The probe itself: balanced logistic regression on named feature blocks, scored leave-one-kind-out.

Each clip is a row; its features come in named blocks (``"rgb"``: the frozen CNN's mean features, and the block
a probe module adds). A probe fitted on the talking-head train split without one kind of fake is scored on every
clip of that kind against the reals of the calibration and test splits: the leave-one-out rule of
:mod:`dfcore.evaluation.leave_out`. Its L2 strength is chosen by identity-grouped cross-validation on the
training clips alone: the clips scored never choose anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...evaluation.metrics import auc_change_interval, auc_interval, roc_auc
from ..head_refit import fit_head
from ..sources.identity_split import identity_groups
from ..sources.items import LabelledItem

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # probe strengths tried by the cross-validation on train
BASELINE = "rgb"  # the block every other feature set is compared with


@dataclass
class ClipFeatures:
    """One row per clip."""

    blocks: dict[str, np.ndarray]  # block name -> (N, F_block) float32 features
    label: np.ndarray  # (N,) 1 = fake
    source: np.ndarray  # (N,) str: e.g. "talking_heads/AniTalker"
    split: np.ndarray  # (N,) str: "train", "calib" or "test"
    identities: list[tuple[str, ...]]  # per clip: who is in it (clips sharing one share a fold)


def feature_matrix(f: ClipFeatures, names: Sequence[str], fit_rows: np.ndarray) -> np.ndarray:
    """The blocks ``names`` side by side, each standardised on ``fit_rows``.

    With more than one block each is scaled by 1/sqrt(its width), so that a few dozen extra features are
    not drowned by 1,280 CNN features.
    """
    out = []
    for name in names:
        x = f.blocks[name]
        mu, sd = x[fit_rows].mean(axis=0), x[fit_rows].std(axis=0) + 1e-6
        z = (x - mu) / sd
        out.append(z / np.sqrt(x.shape[1]) if len(names) > 1 else z)
    return np.concatenate(out, axis=1)


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Reals and fakes count equally; the weights sum to 1."""
    w = np.where(y == 1, 1.0 / max(1, int((y == 1).sum())), 1.0 / max(1, int((y == 0).sum())))
    return w / w.sum()


def fit_probe(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Balanced logistic regression with an L2 penalty of strength ``l2``: (weights, bias)."""
    return fit_head(x, y, balanced_weights(y), np.zeros(x.shape[1]), 0.0, l2)


def identity_folds(identities: Sequence[tuple[str, ...]], n_folds: int, seed: int = 0) -> np.ndarray:
    """A fold per clip; clips that share an identity (a live swap and its original) share a fold."""
    items = [LabelledItem(Path(str(i)), 0, ids, "") for i, ids in enumerate(identities)]
    groups = identity_groups(items)
    fold = np.zeros(len(items), int)
    for n, gi in enumerate(np.random.default_rng(seed).permutation(len(groups))):
        fold[list(groups[gi])] = n % n_folds
    return fold


def choose_l2(x: np.ndarray, y: np.ndarray, identities: Sequence[tuple[str, ...]], n_folds: int = 5,
              grid: Sequence[float] = L2_GRID) -> float:
    """The strength with the best pooled out-of-fold AUC on these clips (ties: the stronger penalty)."""
    folds = identity_folds(identities, n_folds)
    best, best_auc = grid[-1], -1.0
    for l2 in sorted(grid, reverse=True):
        scores = np.zeros(len(y))
        for k in range(n_folds):
            test = folds == k
            train = ~test
            if not test.any() or len(np.unique(y[train])) < 2:
                continue
            w, b = fit_probe(x[train], y[train], l2)
            scores[test] = x[test] @ w + b
        auc = roc_auc(y, scores)
        if auc > best_auc + 1e-9:
            best, best_auc = l2, auc
    return best


def leave_kind_out(f: ClipFeatures, kind: str, feature_sets: Mapping[str, Sequence[str]]) -> dict:
    """Fit a probe per feature set on the train split without ``kind``'s fakes; score ``kind``'s clips
    against unseen reals.

    Args:
        f: the clips' features.
        kind: the source of the fakes left out (e.g. ``"talking_heads/AniTalker"``).
        feature_sets: name -> the blocks it uses; the one named :data:`BASELINE` is what the others are
            compared with (a paired bootstrap over the same clips).

    Returns:
        ``{"left_out", "n_fakes", "n_reals", <set>: {"auc", "auc_ci", "l2"[, "change_vs_rgb"]}}``.
    """
    train = (f.split == "train") & ~((f.label == 1) & (f.source == kind))
    scored = ((f.label == 1) & (f.source == kind)) | ((f.label == 0) & (f.split != "train"))
    y = f.label[scored]
    ids_train = [f.identities[i] for i in np.flatnonzero(train)]
    out: dict = {"left_out": kind, "n_fakes": int(y.sum()), "n_reals": int((y == 0).sum())}
    scores = {}
    for which, names in feature_sets.items():
        x = feature_matrix(f, names, train)
        l2 = choose_l2(x[train], f.label[train], ids_train)
        w, b = fit_probe(x[train], f.label[train], l2)
        scores[which] = x[scored] @ w + b
        low, high = auc_interval(y, scores[which])
        out[which] = {"auc": roc_auc(y, scores[which]), "auc_ci": [low, high], "l2": l2}
    for which in feature_sets:
        if which != BASELINE and BASELINE in scores:
            change, low, high = auc_change_interval(y, scores[BASELINE], scores[which])
            out[which]["change_vs_rgb"] = [change, low, high]
    return out
