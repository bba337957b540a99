"""dfcore.evaluation.thresholds: t_fake and t_no_sign on a pool of domains weighted equally, and three-way rates."""

from __future__ import annotations

import numpy as np
import pytest

from dfcore.decision import FAKE, NO_SIGN, UNCERTAIN, Thresholds
from dfcore.evaluation.thresholds import Pool, fit_thresholds, fit_thresholds_with_intervals, outcomes, three_way_rates


def _pool(rows: list[tuple[float, int, str]], thin: list[bool] | None = None) -> Pool:
    s, y, d = zip(*rows)
    return Pool(np.array(s, float), np.array(y), np.array(d, dtype=object), np.arange(len(rows)),
                np.array(thin or [False] * len(rows)))


def test_t_fake_calls_at_most_five_percent_of_reals_fake() -> None:
    reals = [(i / 100, 0, "a") for i in range(100)]  # 0.00 .. 0.99
    fakes = [(0.5 + i / 200, 1, "a") for i in range(100)]
    t = fit_thresholds(_pool(reals + fakes))
    assert np.mean(np.array([s for s, _, _ in reals]) >= t.fake) <= 0.05
    # Just above 0.94: the 5 highest reals (0.95..0.99) reach it, and no lower t keeps to 5%.
    assert 0.94 < t.fake < 0.9400001
    assert np.mean(np.array([s for s, _, _ in fakes]) < t.no_sign) <= 0.10 and t.no_sign == pytest.approx(0.55)


def test_a_small_domain_weighs_as_much_as_a_large_one() -> None:
    big = [(0.1, 0, "big")] * 900 + [(0.9, 1, "big")] * 900
    small = [(0.6, 0, "small")] * 10 + [(0.9, 1, "small")] * 10  # its reals score high
    t = fit_thresholds(_pool(big + small))
    # Pooled item by item, the 10 high reals are 1% of reals and t_fake could sit at 0.11; weighted, they are half.
    assert t.fake > 0.6


def test_thresholds_that_cross_leave_no_band() -> None:
    t = fit_thresholds(_pool([(0.1, 0, "a")] * 20 + [(0.9, 1, "a")] * 20))
    assert t.crossed and t.no_sign == t.fake


def test_thin_rows_do_not_set_thresholds_and_are_uncertain() -> None:
    pool = _pool([(0.2, 0, "a"), (0.99, 0, "a"), (0.9, 1, "a"), (0.05, 1, "a")], thin=[False, True, False, True])
    t = fit_thresholds(pool)
    assert t.fake < 0.99 and t.no_sign > 0.05
    assert outcomes(pool, Thresholds(0.5, 0.3)).tolist() == [NO_SIGN, UNCERTAIN, FAKE, UNCERTAIN]


def test_a_pool_without_fakes_is_refused() -> None:
    with pytest.raises(ValueError, match="real and fake"):
        fit_thresholds(_pool([(0.2, 0, "a"), (0.3, 0, "b")]))


def test_intervals_bracket_the_thresholds_and_are_reproducible() -> None:
    rng = np.random.default_rng(0)
    rows = [(float(rng.uniform(0, 0.7)), 0, "a") for _ in range(60)] + [(float(rng.uniform(0.3, 1)), 1, "a")
                                                                          for _ in range(60)]
    t = fit_thresholds_with_intervals(_pool(rows), n_resamples=200)
    assert t.fake_interval[0] <= t.fake <= t.fake_interval[1] and t.fake_interval[0] < t.fake_interval[1]
    assert t.no_sign_interval[0] <= t.no_sign <= t.no_sign_interval[1]
    assert fit_thresholds_with_intervals(_pool(rows), n_resamples=200) == t


def test_three_way_rates_sum_to_one_per_label_and_weigh_domains_equally() -> None:
    rows = [(0.9, 0, "a")] + [(0.1, 0, "a")] * 3 + [(0.1, 0, "b")] * 4 + [(0.9, 1, "a"), (0.5, 1, "b"), (0.1, 1, "b")]
    r = three_way_rates(_pool(rows), Thresholds(0.8, 0.3), n_resamples=100)
    assert r["real"]["FAKE"]["rate"] == pytest.approx(0.5 * 0.25)  # a: 1 of 4, b: 0 of 4
    assert r["fake"]["FAKE"]["rate"] == pytest.approx(0.5) and r["fake"]["NO_SIGN"]["rate"] == pytest.approx(0.25)
    for lab in ("real", "fake"):
        assert sum(r[lab][o]["rate"] for o in (FAKE, UNCERTAIN, NO_SIGN)) == pytest.approx(1.0)
        lo, hi = r[lab]["FAKE"]["ci"]
        assert lo <= r[lab]["FAKE"]["rate"] <= hi
    assert r["real"]["n"] == 8 and r["fake"]["n"] == 3


def test_a_label_the_pool_lacks_has_no_rates() -> None:
    assert three_way_rates(_pool([(0.2, 0, "a"), (0.3, 0, "a")]), Thresholds(0.5, 0.4), n_resamples=20)["fake"] is None
