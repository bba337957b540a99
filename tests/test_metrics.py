"""dfcore.evaluation.metrics: hand-computable cases for every metric, and the temperature fit on synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dfcore.evaluation.metrics import (
    TEMPERATURE_RANGE,
    accuracy,
    auc_change_interval,
    auc_interval,
    equal_error_rate,
    expected_calibration_error,
    fit_platt,
    fit_temperature,
    log_loss,
    paired_auc_summary,
    reliability_table,
    roc_auc,
    roc_curve,
    sigmoid,
    summarize,
    threshold_at_fpr,
    weighted_auc,
)

# --------------------------------------------------------------------------- AUC


def test_auc_perfect_reversed_and_ties() -> None:
    y = [0, 0, 1, 1]
    assert roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_weighted_auc_equals_the_auc_of_the_repeated_scores() -> None:
    # Weights are how often a bootstrap drew each item: the AUC of the scores repeated that often,
    # ties (0.6 vs 0.6) counting half.
    pos, neg = np.array([0.4, 0.7, 0.6]), np.array([0.1, 0.6, 0.9])
    w_pos = np.array([[1, 1, 1], [0, 2, 1], [3, 0, 0]])
    w_neg = np.array([[1, 1, 1], [2, 0, 1], [0, 1, 2]])
    expected = [roc_auc([1] * int(wp.sum()) + [0] * int(wn.sum()), np.r_[np.repeat(pos, wp), np.repeat(neg, wn)])
                for wp, wn in zip(w_pos, w_neg)]
    assert weighted_auc(pos, neg, w_pos, w_neg) == pytest.approx(expected)


def test_auc_interval_holds_the_auc_and_narrows_with_more_data() -> None:
    rng = np.random.default_rng(3)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.r_[np.zeros(n), np.ones(n)].astype(int)
        return y, np.r_[rng.normal(0, 1, n), rng.normal(1, 1, n)]

    y, s = sample(20)
    low, high = auc_interval(y, s)
    assert low < roc_auc(y, s) < high
    assert auc_interval(y, s) == (low, high)  # seeded: the same scores give the same interval
    y_big, s_big = sample(500)
    low_big, high_big = auc_interval(y_big, s_big)
    assert high_big - low_big < (high - low) / 3  # ~1/sqrt(25) as wide
    # Two unit-variance normals one apart: the true AUC is Phi(1 / sqrt 2) = 0.760.
    assert low_big < 0.760 < high_big
    assert auc_interval(y, s, level=0.5)[1] - auc_interval(y, s, level=0.5)[0] < high - low


def test_auc_interval_of_separated_one_class_and_bad_input() -> None:
    assert auc_interval([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == (1.0, 1.0)
    assert all(math.isnan(v) for v in auc_interval([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError, match="level"):
        auc_interval([0, 1], [0.1, 0.9], level=1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        auc_interval([0, 1], [0.1, 0.9], n_resamples=0)
    with pytest.raises(ValueError, match="both real and fake"):
        auc_interval([0, 1], [0.1, 0.9], groups=[7, 7])
    with pytest.raises(ValueError, match="length"):
        auc_interval([0, 1], [0.1, 0.9], groups=[1])


def test_auc_interval_by_group_is_wider_than_pretending_frames_are_independent() -> None:
    # 10 clips of each class, 20 near-identical frames each: 400 frames carry the evidence of 20 clips.
    rng = np.random.default_rng(4)
    clip_scores = np.r_[rng.normal(0, 1, 10), rng.normal(1, 1, 10)]
    labels = np.repeat(np.r_[np.zeros(10), np.ones(10)].astype(int), 20)
    scores = np.repeat(clip_scores, 20) + rng.normal(0, 0.01, 400)
    groups = np.repeat(np.arange(20), 20)
    by_frame, by_clip = auc_interval(labels, scores), auc_interval(labels, scores, groups=groups)
    clips_only = auc_interval(np.r_[np.zeros(10), np.ones(10)].astype(int), clip_scores)
    assert by_clip[1] - by_clip[0] > 3 * (by_frame[1] - by_frame[0])
    assert by_clip[1] - by_clip[0] == pytest.approx(clips_only[1] - clips_only[0], abs=0.05)


def test_auc_change_interval_is_paired() -> None:
    rng = np.random.default_rng(5)
    y = np.r_[np.zeros(10), np.ones(30)].astype(int)
    before = np.r_[rng.normal(0, 1, 10), rng.normal(1, 1, 30)]
    assert auc_change_interval(y, before, before) == (0.0, 0.0, 0.0)  # the same scores: no change, no doubt
    # A small, consistent gain: every fake a little higher. Two separate intervals would overlap widely;
    # the paired one sees that every resample gains.
    after = before + 0.3 * y
    change, low, high = auc_change_interval(y, before, after)
    assert change == pytest.approx(roc_auc(y, after) - roc_auc(y, before)) and change > 0
    assert low >= 0.0 and high > low
    separate_before, separate_after = auc_interval(y, before), auc_interval(y, after)
    assert separate_after[0] < separate_before[1], "unpaired intervals overlap"
    # A detector that ranks well (AUC ~0.9) whose scores stop ranking at all (constant): the AUC falls to 0.5,
    # beyond noise.
    good = before + 1.5 * y
    change, low, high = auc_change_interval(y, good, np.zeros(40))
    assert change == pytest.approx(0.5 - roc_auc(y, good)) and high < 0
    assert all(math.isnan(v) for v in auc_change_interval([1, 1], [0.2, 0.3], [0.4, 0.5]))
    with pytest.raises(ValueError, match="length"):
        auc_change_interval([0, 1], [0.1, 0.9], [0.1])


def test_auc_small_mixed_case_by_counting_pairs() -> None:
    # (fake, real) pairs: 0.4 beats 0.1, loses to 0.6 -> 1; 0.7 beats both -> 2;
    # 0.6 beats 0.1 and ties 0.6 -> 1.5. Total 4.5 of 2 x 3 = 6 pairs.
    y = [0, 0, 1, 1, 1]
    s = [0.1, 0.6, 0.4, 0.7, 0.6]
    assert roc_auc(y, s) == pytest.approx(4.5 / 6)


def test_auc_matches_brute_force_pair_count() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 40)
    s = rng.integers(0, 6, 40).astype(float)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert roc_auc(y, s) == pytest.approx(wins / (pos.size * neg.size))


def test_auc_is_rank_based_and_accepts_logits() -> None:
    y = [0, 1, 0, 1, 1]
    s = np.array([0.2, 0.9, 0.4, 0.35, 0.6])
    assert roc_auc(y, s) == pytest.approx(roc_auc(y, np.log(s / (1 - s))))
    assert roc_auc(y, s) == pytest.approx(roc_auc(y, 100 * s - 7))


def test_auc_nan_with_one_class() -> None:
    assert math.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(roc_auc([0, 0], [0.2, 0.5]))


# --------------------------------------------------------------------------- ROC and EER


def test_roc_curve_hand_case() -> None:
    fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    assert thr[0] == math.inf
    np.testing.assert_allclose(thr[1:], [0.8, 0.4, 0.35, 0.1])


def test_roc_curve_is_monotonic_from_origin_to_one() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) + 0.3 * y, 2)  # rounding makes ties
    fpr, tpr, thr = roc_curve(y, s)
    assert fpr.shape == tpr.shape == thr.shape
    assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    assert (np.diff(thr) < 0).all()
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    # One point per distinct score, plus the origin.
    assert len(thr) == len(np.unique(s)) + 1
    # Trapezoid area under the curve equals the rank AUC (ties handled as diagonal steps).
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    assert trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s))


def test_eer_symmetric_case() -> None:
    # Reals 0.1 0.2 0.3 0.6, fakes 0.4 0.7 0.8 0.9: at threshold 0.6 one real of four is
    # flagged (FPR 1/4) and one fake of four missed (FNR 1/4).
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    eer, thr = equal_error_rate(y, s)
    assert eer == pytest.approx(0.25)
    assert thr == pytest.approx(0.6)
    # Mirror image: swap the classes and flip the scores, same EER.
    eer_m, _ = equal_error_rate(1 - np.array(y), 1 - np.array(s))
    assert eer_m == pytest.approx(0.25)


def test_eer_docstring_example_perfect_and_one_class() -> None:
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx((0.5, 0.4))
    eer, _ = equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert eer == 0.0
    eer, thr = equal_error_rate([1, 1], [0.3, 0.4])
    assert math.isnan(eer) and math.isnan(thr)


def test_eer_interpolates_between_staircase_points() -> None:
    # Reals 0.1 0.2 0.9, fake 0.5. ROC points (FPR, FNR): inf (0, 1), 0.9 (1/3, 1), 0.5 (1/3, 0).
    # FPR - FNR goes from -2/3 to +1/3 between 0.9 and 0.5: a = 2/3 of the way, where
    # FPR = FNR = 1/3 and the threshold is 0.9 + 2/3 * (0.5 - 0.9).
    eer, thr = equal_error_rate([0, 0, 0, 1], [0.1, 0.2, 0.9, 0.5])
    assert eer == pytest.approx(1 / 3)
    assert thr == pytest.approx(0.9 - 2 / 3 * 0.4)
    # Crossing right after the first point: its threshold (inf) is replaced by 1.0.
    # Ties at 0.8 (one real, one fake): (FPR, FNR) jumps from (0, 1) to (1/2, 0); a = 2/3.
    eer, thr = equal_error_rate([0, 0, 1], [0.8, 0.2, 0.8])
    assert eer == pytest.approx(1 / 3)
    assert thr == pytest.approx(1.0 + 2 / 3 * (0.8 - 1.0))


# --------------------------------------------------------------------------- accuracy and log-loss


def test_accuracy_fake_at_or_above_threshold() -> None:
    assert accuracy([1, 0], [0.5, 0.5]) == 0.5  # 0.5 is called FAKE at threshold 0.5
    assert accuracy([1, 1], [0.5, 0.4999]) == 0.5
    assert accuracy([0, 1, 0, 1], [0.1, 0.9, 0.3, 0.7], threshold=0.5) == 1.0
    assert accuracy([0, 1, 0, 1], [0.1, 0.9, 0.3, 0.7], threshold=0.8) == 0.75
    assert accuracy([0, 1, 0, 1], [0.1, 0.9, 0.3, 0.7], threshold=0.3) == 0.75  # 0.3 is FAKE


def test_log_loss_hand_computation() -> None:
    y = [1, 0, 1]
    p = [0.8, 0.3, 0.5]
    expected = -(math.log(0.8) + math.log(0.7) + math.log(0.5)) / 3
    assert log_loss(y, p) == pytest.approx(expected)
    assert log_loss([0, 1], [0.5, 0.5]) == pytest.approx(math.log(2))


def test_log_loss_clips_confident_mistakes() -> None:
    loss = log_loss([1], [0.0])
    assert math.isfinite(loss)
    assert loss == pytest.approx(-math.log(1e-7), rel=1e-6)
    assert log_loss([1, 0], [1.0, 0.0]) == pytest.approx(-math.log(1 - 1e-7), abs=1e-9)


# --------------------------------------------------------------------------- calibration


def test_ece_hand_case() -> None:
    # Each score alone in its bin: |0.05-0| + |0.15-0| + |0.85-1| + |0.95-1| = 0.4, over 4 items.
    y = [0, 0, 1, 1]
    p = [0.05, 0.15, 0.95, 0.85]
    assert expected_calibration_error(y, p) == pytest.approx(0.1)
    # One bin: |mean score - fraction fake| = |0.5 - 0.5|.
    assert expected_calibration_error(y, p, n_bins=1) == pytest.approx(0.0)


def test_reliability_table_counts_and_edges() -> None:
    rng = np.random.default_rng(1)
    p = np.r_[rng.random(97), 0.0, 0.3, 1.0]
    y = rng.integers(0, 2, p.size)
    table = reliability_table(y, p, n_bins=10)
    assert len(table) == 10
    assert sum(b["count"] for b in table) == p.size
    assert table[0]["lower"] == 0.0 and table[-1]["upper"] == 1.0
    for b in table:
        if b["count"]:
            assert b["lower"] <= b["mean_predicted"] <= b["upper"]
            assert 0.0 <= b["fraction_fake"] <= 1.0
        else:
            assert b["mean_predicted"] is None and b["fraction_fake"] is None
    # Count by hand: bin b holds [b/10, (b+1)/10), 1.0 in the last bin.
    expected = [int(((p >= b / 10) & (p < (b + 1) / 10)).sum()) for b in range(10)]
    expected[-1] += int((p == 1.0).sum())
    assert [b["count"] for b in table] == expected


def test_reliability_table_exact_boundary_goes_up() -> None:
    table = reliability_table([0, 1, 1], [0.3, 0.3, 1.0], n_bins=10)
    assert table[3]["count"] == 2 and table[2]["count"] == 0
    assert table[3]["fraction_fake"] == pytest.approx(0.5)
    assert table[9]["count"] == 1


def test_ece_equals_weighted_reliability_gap() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(300)
    y = (rng.random(300) < p**2).astype(int)
    table = reliability_table(y, p, n_bins=8)
    manual = sum(b["count"] * abs(b["mean_predicted"] - b["fraction_fake"]) for b in table if b["count"]) / p.size
    assert expected_calibration_error(y, p, n_bins=8) == pytest.approx(manual)


# --------------------------------------------------------------------------- temperature


def test_sigmoid_is_stable_and_scaled() -> None:
    out = sigmoid([-1000.0, 0.0, 1000.0])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0])
    assert sigmoid(2.0, temperature=2.0) == pytest.approx(1 / (1 + math.exp(-1)))
    with pytest.raises(ValueError):
        sigmoid([1.0], temperature=0.0)


def _nll(z: np.ndarray, y: np.ndarray, t: float) -> float:
    p = sigmoid(z, t)
    return -float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_fit_temperature_recovers_known_temperature(true_t: float) -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(0.0, 3.0, 20000)
    y = (rng.random(z.size) < sigmoid(z, true_t)).astype(int)
    t = fit_temperature(z, y)
    assert t == pytest.approx(true_t, rel=0.1)
    assert _nll(z, y, t) < _nll(z, y, 1.0)
    # It is the minimum: nudging T either way does not help.
    assert _nll(z, y, t) <= min(_nll(z, y, t * 1.05), _nll(z, y, t / 1.05)) + 1e-12


def test_fit_temperature_is_deterministic_and_bounded() -> None:
    z = np.array([-3.0, -1.0, 2.0, 4.0])
    y = np.array([0, 0, 1, 1])  # perfectly separated: wants T -> 0
    t = fit_temperature(z, y)
    assert t == fit_temperature(z, y)
    assert t == pytest.approx(TEMPERATURE_RANGE[0], rel=1e-6)
    # Backwards logits want T < 0: stops at the top of the range.
    assert fit_temperature(-z, y) == pytest.approx(TEMPERATURE_RANGE[1], rel=1e-6)


# --------------------------------------------------------------------------- summarize and errors


def test_summarize_keys_and_values() -> None:
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    out = summarize(y, s, threshold=0.5)
    assert set(out) == {"auc", "accuracy", "eer", "eer_threshold", "log_loss", "ece", "threshold",
                        "n", "n_real", "n_fake"}
    assert (out["n"], out["n_real"], out["n_fake"]) == (8, 4, 4)
    assert all(isinstance(out[k], int) for k in ("n", "n_real", "n_fake"))
    assert out["auc"] == pytest.approx(roc_auc(y, s)) == pytest.approx(15 / 16)
    assert out["accuracy"] == pytest.approx(0.75)  # 0.6 real flagged, 0.4 fake missed
    assert out["eer"] == pytest.approx(0.25) and out["eer_threshold"] == pytest.approx(0.6)
    assert out["log_loss"] == pytest.approx(log_loss(y, s))
    assert out["ece"] == pytest.approx(expected_calibration_error(y, s))
    assert out["threshold"] == 0.5


def test_summarize_one_class_gives_nan_rank_metrics() -> None:
    out = summarize([1, 1, 1], [0.6, 0.7, 0.8])
    assert math.isnan(out["auc"]) and math.isnan(out["eer"])
    assert out["accuracy"] == 1.0 and out["n_real"] == 0


@pytest.mark.parametrize("fn", [log_loss, reliability_table, expected_calibration_error, summarize])
@pytest.mark.parametrize("bad", [[0.2, 1.2], [-0.1, 0.5]])
def test_probabilities_outside_unit_interval_rejected(fn, bad) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn([0, 1], bad)


@pytest.mark.parametrize(
    "labels, scores",
    [
        ([0, 1, 1], [0.1, 0.2]),  # lengths differ
        ([], []),  # empty
        ([0, 2], [0.1, 0.2]),  # label not 0/1
        ([0, 1], [0.1, float("nan")]),  # non-finite score
        ([0, 1], [0.1, float("inf")]),
    ],
)
def test_bad_inputs_rejected(labels, scores) -> None:
    for fn in (roc_auc, roc_curve, equal_error_rate, accuracy, log_loss):
        with pytest.raises(ValueError):
            fn(labels, scores)


def test_n_bins_must_be_positive() -> None:
    with pytest.raises(ValueError):
        reliability_table([0, 1], [0.2, 0.8], n_bins=0)


def test_fit_platt_recovers_scale_and_bias() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(0, 3, 20000)
    true_t, true_b = 2.0, -0.8
    y = (rng.random(z.size) < 1 / (1 + np.exp(-(z / true_t + true_b)))).astype(int)
    t, b = fit_platt(z, y)
    assert t == pytest.approx(true_t, rel=0.1)
    assert b == pytest.approx(true_b, abs=0.1)
    # The fitted calibration is at least as good as the temperature alone.
    nll = lambda p: -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))  # noqa: E731
    assert nll(sigmoid(z / t + b)) <= nll(sigmoid(z, fit_temperature(z, y))) + 1e-9


# --------------------------------------------------------------------------- threshold at a share of reals called FAKE


def _called(reals, t: float) -> int:
    return int((np.asarray(reals) >= t).sum())


def test_threshold_at_fpr_allows_floor_of_the_share() -> None:
    reals = np.linspace(0.01, 0.96, 20)  # distinct scores, the highest 0.96 then 0.91
    t = threshold_at_fpr(reals, 0.05)  # floor(0.05 * 20) = 1 real may reach it
    assert _called(reals, t) == 1
    assert reals[-2] < t <= reals[-1]
    assert t == np.nextafter(reals[-2], np.inf)  # the lowest such threshold: just above the 2nd highest
    assert _called(reals, np.nextafter(t, -np.inf)) == 2
    # With 10 reals, 5% allows none: the threshold is just above the highest real.
    t10 = threshold_at_fpr(reals[:10], 0.05)
    assert _called(reals[:10], t10) == 0 and t10 == np.nextafter(reals[9], np.inf)
    # 0 allows none; shuffled input gives the same threshold.
    assert _called(reals, threshold_at_fpr(reals, 0.0)) == 0
    shuffled = np.random.default_rng(0).permutation(reals)
    assert threshold_at_fpr(shuffled, 0.05) == t


def test_threshold_at_fpr_exact_products_and_random_cases() -> None:
    # 0.29 * 100 is 28.999999999999996 in floating point: still 29 reals allowed.
    reals = np.arange(100) / 100
    assert _called(reals, threshold_at_fpr(reals, 0.29)) == 29
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        fpr = float(rng.uniform(0, 0.99))
        r = rng.random(n)
        t = threshold_at_fpr(r, fpr)
        allowed = math.floor(fpr * n + 1e-9)
        assert _called(r, t) == allowed  # distinct scores: exactly the allowed number
        assert _called(r, np.nextafter(t, -np.inf)) == allowed + 1  # and no lower threshold would do


def test_threshold_at_fpr_with_ties() -> None:
    # Two reals tie at the top; 1 of 20 may be called FAKE, but a tie cannot be split: none is.
    reals = [0.9, 0.9] + [0.1 * k / 18 for k in range(18)]
    t = threshold_at_fpr(reals, 0.05)
    assert _called(reals, t) == 0 and t > 0.9
    # Three allowed (15% of 20) with reals 0.9, 0.9, 0.7, 0.7, 0.7, ...: the top tie fits, the next one
    # would make five, so the threshold sits just above 0.7 and two reals are called FAKE.
    reals = [0.9, 0.9, 0.7, 0.7, 0.7] + [0.1 * k / 15 for k in range(15)]
    t3 = threshold_at_fpr(reals, 0.15)
    assert _called(reals, t3) == 2 and t3 == np.nextafter(0.7, np.inf)
    assert _called(reals, threshold_at_fpr(reals, 0.25)) == 5  # 5 allowed: both ties
    # Every real scores the same: at most the share allowed, i.e. none.
    assert _called([0.5] * 10, threshold_at_fpr([0.5] * 10, 0.5)) == 0


@pytest.mark.parametrize("reals,fpr", [([], 0.05), ([0.1, float("nan")], 0.05), ([0.1, float("inf")], 0.05),
                                       ([0.1, 0.2], -0.01), ([0.1, 0.2], 1.0), ([0.1, 0.2], 1.5)])
def test_threshold_at_fpr_bad_input(reals, fpr) -> None:
    with pytest.raises(ValueError):
        threshold_at_fpr(reals, fpr)


def test_paired_auc_summary_names_the_variant_and_needs_both_classes() -> None:
    labels = [0, 0, 1, 1]
    before, after = [0.1, 0.6, 0.5, 0.9], [0.1, 0.4, 0.5, 0.9]  # the variant lifts one fake above a real
    m = paired_auc_summary(labels, before, after, "flip")
    assert m["n_reals"] == 2 and m["n_fakes"] == 2
    assert m["auc"] == pytest.approx(0.75) and m["auc_flip"] == pytest.approx(1.0)
    assert m["change"] == pytest.approx(0.25) and m["change_ci"][0] <= 0.25 <= m["change_ci"][1]
    assert m["auc_ci"][0] <= 0.75 <= m["auc_ci"][1] and len(m["auc_flip_ci"]) == 2
    assert paired_auc_summary([1, 1], [0.2, 0.3], [0.3, 0.2], "flip") is None
    assert paired_auc_summary([], [], [], "flip") is None
