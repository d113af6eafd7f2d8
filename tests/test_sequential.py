"""Always-valid statistics (``app.measurement.sequential``): simulations of daily peeking at the confidence
sequence (coverage at the nominal rate, an A/A test stays quiet, a fixed-sample interval peeked the same way
does not), CUPED narrowing it, sample-ratio mismatch and shrinkage. Seeded; the larger runs are backtests."""

from __future__ import annotations

import numpy as np
import pytest

from app.bench.peeking import ever_misses, naive_misses, peeks, simulate_revenue, simulate_shop
from app.measurement.sequential import (
    Prior,
    boundary,
    cuped_theta,
    difference_interval,
    difference_sequence,
    pooled_prior,
    shrink,
    srm_check,
)


@pytest.mark.parametrize(("share", "effect"), [(0.5, 0.0), (0.5, 0.03), (0.95, 0.0), (0.95, 0.03)])
def test_coverage_under_daily_peeking_is_at_least_nominal(share, effect):
    # 200 shops × 30 looks; the bound allows the simulation's own noise (sd of a 5 % rate over 200 is 1.5 %)
    assert ever_misses(200, 2000, share, effect, seed=11) <= 0.08


def test_an_aa_test_stays_quiet_where_a_fixed_interval_peeked_daily_does_not():
    quiet = ever_misses(200, 2000, 0.5, 0.0, seed=5)
    naive = naive_misses(200, 2000, 0.5, 0.0, seed=5)
    assert quiet <= 0.05 < 0.15 < naive


def test_cuped_narrows_the_interval_and_keeps_coverage():
    rng = np.random.default_rng(3)
    y, z, spend = simulate_revenue(rng, 3000, 5.0)
    plain = difference_interval(y, z, 0.5)
    cuped = difference_interval(y, z, 0.5, spend)
    assert plain is not None and cuped is not None
    assert cuped.high - cuped.low < 0.7 * (plain.high - plain.low)
    assert cuped_theta(y, spend) > 0.4
    misses = 0
    for _ in range(150):
        y, z, spend = simulate_revenue(rng, 2000, 5.0)
        seq = difference_sequence(y, z, 0.5, spend)
        days = peeks(z)
        misses += bool(np.any((seq.low[days] > 5.0) | (seq.high[days] < 5.0)))
    assert misses / 150 <= 0.08


def test_the_estimate_converges_and_the_boundary_shrinks():
    rng = np.random.default_rng(1)
    y, z, _ = simulate_shop(rng, 20000, 0.9, 0.04)
    last = difference_interval(y, z, 0.9)
    assert last is not None and last.contains(0.04) and last.low > 0
    widths = boundary(np.array([100.0, 1000.0, 10000.0]), np.array([1.0, 1.0, 1.0]))
    assert widths[0] > widths[1] > widths[2] > 0


def test_no_interval_before_both_arms_exist_and_bad_designs_are_refused():
    assert difference_interval([1.0, 0.0, 1.0], [True, True, True], 0.95) is None
    with pytest.raises(ValueError, match="treated_share"):
        difference_sequence([1.0], [True], 1.0)


def test_sample_ratio_mismatch_warns_only_on_a_broken_split():
    fine = srm_check(9_480, 520, 0.95)
    assert not fine.mismatch and fine.p_value is not None and fine.p_value > 0.01
    broken = srm_check(9_800, 200, 0.95)
    assert broken.mismatch and broken.observed_treated_share == 0.98
    assert srm_check(0, 0, 0.95).p_value is None


def test_srm_false_alarm_rate_on_correct_splits_is_low():
    rng = np.random.default_rng(2)
    alarms = sum(srm_check(int(t), 4000 - int(t), 0.95).mismatch for t in rng.binomial(4000, 0.95, 2000))
    assert alarms <= 10  # nominal 0.1 % of 2000 is 2


def test_shrinkage_pulls_thin_shops_to_the_pool_and_leaves_big_ones():
    prior = pooled_prior([0.02, 0.025, 0.03, 0.015, 0.02], [0.005, 0.006, 0.004, 0.005, 0.005])
    assert prior is not None and 0.015 < prior.mean < 0.03
    thin = shrink(0.30, 0.20, prior)  # a tiny shop's wild estimate
    big = shrink(0.05, 0.001, Prior(prior.mean, 0.0001))
    assert abs(thin.estimate - prior.mean) < 0.05
    assert abs(big.estimate - 0.05) < 0.002
    assert thin.high - thin.low < 2 * 1.96 * 0.20  # narrower than the shop's own interval


def test_pooled_prior_estimates_the_spread_between_shops():
    rng = np.random.default_rng(4)
    true = rng.normal(0.02, 0.01, 400)
    ses = np.full(400, 0.005)
    prior = pooled_prior(true + rng.normal(0, ses), ses)
    assert prior is not None and abs(prior.mean - 0.02) < 0.003 and 0.00005 < prior.variance < 0.00015
    assert pooled_prior([], []) is None


@pytest.mark.backtest
def test_coverage_holds_for_larger_shops_and_thin_outcomes():
    for share, effect, base_seed in [(0.95, 0.0, 21), (0.95, 0.01, 22), (0.5, 0.01, 23)]:
        assert ever_misses(1000, 10000, share, effect, seed=base_seed) <= 0.06
