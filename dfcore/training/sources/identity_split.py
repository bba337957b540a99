"""Splitting labelled items so that no identity is on both sides: a detector validated on faces it was trained
on looks far better than it is."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .items import LABELS, LabelledItem, path_key


STRATIFY_BY = ("label", "source")  # what split_by_identity keeps in proportion


def split_by_identity(
    items: Sequence[LabelledItem], val_fraction: float, seed: int, stratify: str = "label"
) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """Split items into (train, validation) with no identity on both sides.

    Items sharing an identity are linked, and linked items form groups (e.g. a
    real clip, every fake made from it, and every fake made *with* its face).
    Whole groups are assigned to validation, in an order shuffled by ``seed``,
    while that brings the count of each stratum closer to ``val_fraction`` of
    its total, so validation keeps the data's mix. With ``stratify="label"`` the
    strata are real and fake; with ``"source"`` they are each (source, label),
    e.g. every FF++ manipulation method, so a validation split that chooses
    weights or a threshold sees every kind of fake, not only the commonest.

    Args:
        items: the items to split (order does not matter: the result depends
            only on the items and the seed).
        val_fraction: the share of items wanted in validation, in (0, 1). The
            result is close to it unless single groups are large.
        seed: the shuffle seed; the same items and seed give the same split.
        stratify: ``"label"`` or ``"source"`` (see above).

    Returns:
        (train, val), each sorted by path.

    Raises:
        ValueError: ``val_fraction`` is not in (0, 1), fewer than 2 items, or an
            unknown ``stratify``.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if len(items) < 2:
        raise ValueError(f"need at least 2 items to split, got {len(items)}")
    if stratify not in STRATIFY_BY:
        raise ValueError(f"stratify must be one of {', '.join(STRATIFY_BY)}, got {stratify!r}")
    groups = identity_groups(items)
    # Order groups by content first, so only the seed (not the input order) decides the shuffle.
    groups.sort(key=lambda g: min(str(items[i].path) for i in g))
    order = np.random.default_rng(seed).permutation(len(groups))

    strata = sorted({(it.source, it.label) if stratify == "source" else it.label for it in items}, key=str)
    stratum = np.array([strata.index((it.source, it.label) if stratify == "source" else it.label) for it in items])
    target = np.bincount(stratum, minlength=len(strata)) * val_fraction
    counts = [np.bincount(stratum[g], minlength=len(strata)).astype(float) for g in groups]
    in_val = np.zeros(len(groups), dtype=bool)
    have = np.zeros(len(strata))
    for gi in order:
        # Greedy: take a group when it brings the stratum counts nearer their targets.
        after = have + counts[gi]
        if np.sum((after - target) ** 2) < np.sum((have - target) ** 2):
            in_val[gi] = True
            have = after
    _ensure_every_stratum(in_val, counts, order, have)

    val_idx = sorted(i for gi in np.flatnonzero(in_val) for i in groups[gi])
    val_set = set(val_idx)
    train = sorted((items[i] for i in range(len(items)) if i not in val_set), key=path_key)
    val = sorted((items[i] for i in val_idx), key=path_key)
    check_disjoint(train, val)
    return train, val


def _ensure_every_stratum(in_val: np.ndarray, counts: list[np.ndarray], order: np.ndarray, have: np.ndarray) -> None:
    """If validation lacks a stratum that train has in several groups, move the smallest such group over.

    Greedy filling can refuse every group of a rare stratum (a class, or a method): offered once the common
    groups have filled validation, it would overshoot them. Validation without it could not measure it at all.
    """
    for s in range(len(have)):
        if have[s] > 0:
            continue
        candidates = [gi for gi in order if not in_val[gi] and counts[gi][s] > 0]
        if len(candidates) < 2:  # moving the only one would empty train of that stratum instead
            continue
        gi = min(candidates, key=lambda g: counts[g].sum())  # min() keeps the first (seeded) of equals
        in_val[gi] = True
        have += counts[gi]


def identity_groups(items: Sequence[LabelledItem]) -> list[list[int]]:
    """Indices of items linked by shared identities (connected components, union-find).

    Returns:
        One list of item indices per group, each sorted, groups in order of first item.
    """
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, item in enumerate(items):
        for ident in item.identities:
            j = first_with.setdefault(ident, i)
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def check_disjoint(train: Iterable[LabelledItem], val: Iterable[LabelledItem]) -> None:
    """Assert that no identity and no file is in both train and validation.

    Raises:
        ValueError: naming up to five shared identities or files.
    """
    train, val = list(train), list(val)
    shared_ids = {i for it in train for i in it.identities} & {i for it in val for i in it.identities}
    if shared_ids:
        few = ", ".join(sorted(shared_ids)[:5])
        raise ValueError(f"{len(shared_ids)} identities are in both train and validation: {few}")
    shared_paths = {it.path for it in train} & {it.path for it in val}
    if shared_paths:
        few = ", ".join(sorted(str(p) for p in shared_paths)[:5])
        raise ValueError(f"{len(shared_paths)} files are in both train and validation: {few}")


def count_by_source(items: Iterable[LabelledItem]) -> dict[str, dict[str, int]]:
    """Count items per source and label: ``{"ffpp/original": {"real": 38, "fake": 0}, ...}``, sources sorted."""
    counts: dict[str, dict[str, int]] = {}
    for it in items:
        counts.setdefault(it.source, {name: 0 for name in LABELS})[LABELS[it.label]] += 1
    return dict(sorted(counts.items()))
