"""The head stage's pieces on synthetic features: weighting, the pulled fit, grouped folds, clip scores."""

import numpy as np
import pytest
import torch

from dfcore.evaluation.metrics import roc_auc
from dfcore.training.head_refit import (FaceFeatures, choose_pull, clip_scores, cross_validate, fit_head,
                                        grouped_folds, sample_weights)

torch.set_num_threads(1)


def synthetic(n_clips: int = 40, faces: int = 4, dim: int = 6, seed: int = 0) -> FaceFeatures:
    """Clips of two groups; fakes shifted along the first feature, one group's fakes also along the second."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_clips):
        group = "ffpp" if c % 2 else "talking_heads"
        label = (c // 2) % 2
        x = rng.normal(size=(faces, dim))
        if label:
            x[:, 0] += 1.5
            if group == "talking_heads":
                x[:, 1] += 2.0
        for v in (0, 1):
            rows.append((x + v * 0.1, label, c, group, f"{group}/{'fake' if label else 'real'}", v))
    x = np.concatenate([r[0] for r in rows])
    rep = lambda k: np.concatenate([np.full(faces, r[k]) for r in rows])  # noqa: E731
    return FaceFeatures(x.astype(np.float32), rep(1), rep(2), rep(3), rep(4), rep(5))


def test_sample_weights_give_each_group_and_label_an_equal_share():
    f = synthetic()
    keep = ~((f.group == "ffpp") & (f.y == 1) & (f.clip % 8 == 3))  # fewer ffpp fakes than reals
    f = FaceFeatures(*(getattr(f, k)[keep] for k in ("x", "y", "clip", "group", "kind", "variant")))
    w = sample_weights(f)
    assert w.sum() == pytest.approx(1.0)
    for g in ("ffpp", "talking_heads"):
        for lab in (0, 1):
            assert w[(f.group == g) & (f.y == lab)].sum() == pytest.approx(0.25)


def test_a_strong_pull_keeps_the_prior_and_no_pull_learns_the_data():
    f = synthetic()
    w0, b0 = np.zeros(f.x.shape[1]), 0.0
    w0[-1] = 1.0  # a prior that reads an uninformative feature
    held, _ = fit_head(f.x, f.y, sample_weights(f), w0, b0, pull=1e6)
    assert np.allclose(held, w0, atol=1e-3)
    free, _ = fit_head(f.x, f.y, sample_weights(f), w0, b0, pull=1e-6)
    assert free[0] > 0.5 and free[1] > 0.2  # the fakes' directions
    assert abs(free[-1]) < 0.5


def test_grouped_folds_keep_clips_that_share_an_identity_together():
    f = synthetic(n_clips=12)
    identities = {c: (f"person{c // 2}",) for c in range(12)}  # clips 2k and 2k+1 show one person
    folds = grouped_folds(f, identities, n_folds=3, seed=0)
    for c in range(0, 12, 2):
        assert len(set(folds[np.isin(f.clip, [c, c + 1])])) == 1
    assert len(set(folds)) == 3


def test_clip_scores_average_the_clean_copy_of_each_clip():
    f = synthetic(n_clips=4, faces=3)
    w, b = np.ones(f.x.shape[1]), 0.5
    scores, labels, kinds = clip_scores(f, w, b, np.ones(len(f.y), bool))
    assert len(scores) == 4
    m = (f.clip == 2) & (f.variant == 0)
    assert scores[2] == pytest.approx(float((f.x[m] @ w + b).mean()), rel=1e-5)
    assert labels.tolist() == [0, 0, 1, 1] and kinds[2] == "talking_heads/fake"


def test_cross_validation_scores_out_of_fold_and_beats_an_uninformative_prior():
    f = synthetic(n_clips=40, seed=1)
    identities = {c: (f"p{c}",) for c in range(40)}
    w0 = np.zeros(f.x.shape[1])
    w0[-1] = 1.0
    res = cross_validate(f, grouped_folds(f, identities, 4, 0), w0, 0.0, (1e-3,))
    assert res["shipped head"]["pull"] is None
    assert res["pull 0.001"]["mean"] > res["shipped head"]["mean"] + 0.2
    s, y, _ = clip_scores(f, w0, 0.0, f.group == "ffpp")
    assert res["shipped head"]["ffpp"] == pytest.approx(roc_auc(y, s), abs=1e-4)  # a fixed head: folds change nothing
    assert "dfdc" not in res["shipped head"]  # a group the data lacks is not scored


def test_choose_pull_takes_the_best_mean_within_the_guard_and_refuses_when_none_is():
    train, calib = synthetic(n_clips=40, seed=2), synthetic(n_clips=24, seed=3)
    w0 = np.zeros(train.x.shape[1])
    w0[-1] = 1.0  # an uninformative shipped head: any fit beats it everywhere
    pull, table = choose_pull(train, calib, w0, 0.0, (1e3, 1e-3), guard=0.01)
    assert pull == 1e-3
    assert table["pull 0.001"]["mean"] > table["pull 1000"]["mean"]
    assert table["pull 0.001"]["within_guard"]
    # A guard no head can meet (it must beat the shipped head by 2): keep the shipped head.
    none, table = choose_pull(train, calib, w0, 0.0, (1e-3,), guard=-2.0)
    assert none is None and not table["pull 0.001"]["within_guard"]
