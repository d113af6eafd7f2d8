"""Lift measurement (pure): interval maths against published values, coverage on simulated data of known
lift, zero effect, tiny samples, no holdout, the grouping rules, and the module's purity."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from app.measurement.lift import Exposure, Purchase, measure
from app.measurement.stats import (
    mean_ratio,
    newcombe_difference,
    proportions_p_value,
    risk_ratio,
    sample_size,
    welch_difference,
    wilson,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
T0 = NOW - timedelta(days=40)


def simulate(
    rng: np.random.Generator,
    n: int,
    p_treat: float,
    p_hold: float,
    *,
    holdout_share: float = 0.5,
    agent: str = "recommendations",
    placements: tuple[str, ...] = ("product",),
) -> tuple[list[Exposure], list[Purchase]]:
    """Shoppers assigned at random, exposed once or twice, buying within 7 days with the group's rate."""
    exposures, purchases = [], []
    for i in range(n):
        shopper = f"customer:{i}"
        holdout = bool(rng.random() < holdout_share)
        at = T0 + timedelta(hours=float(rng.uniform(0, 24 * 30)))
        exposures.append(Exposure(agent, placements[i % len(placements)], shopper, holdout, at))
        exposures.append(
            Exposure(agent, placements[i % len(placements)], shopper, holdout, at + timedelta(hours=3))
        )
        if rng.random() < (p_hold if holdout else p_treat):
            purchases.append(
                Purchase(
                    shopper, at + timedelta(days=float(rng.uniform(0, 6.9))), float(rng.lognormal(3.5, 0.8))
                )
            )
    return exposures, purchases


# --- the interval maths ------------------------------------------------------------------------------


def test_wilson_and_newcombe_match_published_values():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson(81, 263)
    assert (lo, hi) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    # Newcombe (1998), Statistics in Medicine 17:873, Table II, method 10: 56/70 − 48/80
    diff = newcombe_difference(56, 70, 48, 80)
    assert diff is not None
    assert diff.estimate == pytest.approx(0.2)
    assert diff.low == pytest.approx(0.0524, abs=1e-4) and diff.high == pytest.approx(0.3339, abs=1e-4)
    # ... and at zero counts (10/10 − 0/20), where Wald intervals collapse: 0.6791 to 1.0
    edge = newcombe_difference(10, 10, 0, 20)
    assert (
        edge is not None and edge.low == pytest.approx(0.6791, abs=1e-3) and edge.high == pytest.approx(1.0)
    )


def test_ratio_pvalue_welch_and_sample_size():
    assert risk_ratio(0, 100, 5, 100) is None
    rr = risk_ratio(30, 100, 20, 100)
    assert rr is not None and rr.estimate == pytest.approx(1.5) and rr.low < 1.5 < rr.high
    assert proportions_p_value(30, 100, 20, 100) == pytest.approx(0.1025, abs=1e-4)  # pooled z = chi² 2.667
    assert proportions_p_value(3, 10, 0, 10) == pytest.approx(0.2105, abs=1e-3)  # Fisher: small cells
    assert welch_difference(1.0, 1.0, 1, 0.0, 1.0, 5) is None
    test = welch_difference(10.0, 4.0, 30, 8.0, 9.0, 40)
    assert test is not None and test.difference.estimate == pytest.approx(2.0)
    assert test.difference.low == pytest.approx(2.0 - 1.9989 * np.sqrt(4 / 30 + 9 / 40), abs=0.02)
    assert mean_ratio(0.0, 1.0, 10, 1.0, 1.0, 10) is None
    # 10% → 11% at 80% power, two-sided 5%: the textbook 14,751 per group (Fleiss, no continuity correction)
    needed = sample_size(0.10, 0.10, 1.0)
    assert needed is not None and abs(needed[0] - 14751) <= 2 and needed[0] == needed[1]
    # a 1:9 split needs fewer treated than 9x the balanced holdout and more holdout than the balanced size
    h, t = sample_size(0.10, 0.10, 9.0)  # type: ignore[misc]
    assert h > 14751 / 2 and t == pytest.approx(9 * h, abs=9)
    assert sample_size(0.0, 0.10) is None and sample_size(0.5, 0.0) is None


def test_intervals_cover_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    p_t, p_h, n = 0.12, 0.10, 1500
    covered = covered_null = 0
    reps = 400
    for _ in range(reps):
        xt, xh = rng.binomial(n, p_t), rng.binomial(n, p_h)
        ci = newcombe_difference(int(xt), n, int(xh), n)
        assert ci is not None
        covered += ci.contains(p_t - p_h)
        x1, x2 = rng.binomial(n, p_h), rng.binomial(n, p_h)
        null = newcombe_difference(int(x1), n, int(x2), n)
        assert null is not None
        covered_null += null.contains(0.0)
    assert 0.92 <= covered / reps <= 0.98
    assert 0.92 <= covered_null / reps <= 0.98


def test_revenue_interval_covers_the_true_difference():
    """Zero-inflated lognormal revenue per shopper: E = p × exp(mu + s²/2)."""
    rng = np.random.default_rng(11)
    n, mu, s = 2000, 3.5, 0.8
    p_t, p_h = 0.13, 0.10
    true_diff = (p_t - p_h) * np.exp(mu + s * s / 2)
    covered = covered_rel = 0
    reps = 300
    for _ in range(reps):
        t = (rng.random(n) < p_t) * rng.lognormal(mu, s, n)
        h = (rng.random(n) < p_h) * rng.lognormal(mu, s, n)
        args = (t.mean(), t.var(ddof=1), n, h.mean(), h.var(ddof=1), n)
        test = welch_difference(*args)
        ratio = mean_ratio(*args)
        assert test is not None and ratio is not None
        covered += test.difference.contains(true_diff)
        covered_rel += ratio.contains(p_t / p_h)
    assert 0.92 <= covered / reps <= 0.98
    assert 0.91 <= covered_rel / reps <= 0.98


# --- measure(): simulated data of known lift -------------------------------------------------------------


def test_known_lift_is_recovered_with_a_positive_verdict():
    rng = np.random.default_rng(3)
    exposures, purchases = simulate(rng, 16_000, 0.13, 0.10, placements=("product", "cart"))
    (lift,) = measure(exposures, purchases, now=NOW)
    assert lift.agent == "recommendations" and lift.placement is None
    assert lift.treatment.shoppers + lift.holdout.shoppers == 16_000  # each shopper once
    assert lift.conversion_diff is not None and lift.conversion_diff.contains(0.03)
    assert lift.conversion_diff.low > 0
    assert lift.conversion_ratio is not None and lift.conversion_ratio.contains(1.3)
    assert lift.revenue_diff is not None and lift.revenue_diff.low > 0
    assert lift.conversion_p is not None and lift.conversion_p < 0.001
    assert lift.verdict.status == "positive"
    assert lift.verdict.text.startswith("Lifting conversion: +")
    assert "95% CI" in lift.verdict.text
    assert [p.placement for p in lift.placements] == ["cart", "product"] or [
        p.placement for p in lift.placements
    ] == ["product", "cart"]
    assert sum(p.treatment.shoppers + p.holdout.shoppers for p in lift.placements) == 16_000
    body = lift.as_dict()
    assert body["conversion"]["relative"]["low"] < 0.3 < body["conversion"]["relative"]["high"]
    assert body["verdict"]["status"] == "positive" and len(body["placements"]) == 2


def test_zero_effect_interval_contains_zero():
    rng = np.random.default_rng(5)
    exposures, purchases = simulate(rng, 40_000, 0.10, 0.10)
    (lift,) = measure(exposures, purchases, now=NOW)
    assert lift.conversion_diff is not None and lift.conversion_diff.contains(0.0)
    assert lift.revenue_diff is not None and lift.revenue_diff.contains(0.0)
    assert lift.conversion_p is not None and lift.conversion_p > 0.05
    assert lift.verdict.status == "no_effect"  # 20k per group is past the 10%-lift sample size
    assert "No detectable lift" in lift.verdict.text


def test_underpowered_says_how_many_more_shoppers_are_needed():
    rng = np.random.default_rng(9)
    exposures, purchases = simulate(rng, 600, 0.10, 0.10, holdout_share=0.1)
    (lift,) = measure(exposures, purchases, now=NOW)
    assert lift.verdict.status == "collecting"
    assert lift.needed is not None
    more_h, more_t = lift.verdict.more_holdout, lift.verdict.more_treatment
    assert more_h == lift.needed[0] - lift.holdout.shoppers and more_h > 1000
    assert more_t == lift.needed[1] - lift.treatment.shoppers
    assert f"need about {more_h:,} more shoppers in the holdout group" in lift.verdict.text
    assert "to detect a 10% lift" in lift.verdict.text
    balanced, _ = simulate(np.random.default_rng(2), 800, 0.10, 0.10, holdout_share=0.5)
    (even,) = measure(balanced, _, now=NOW)
    assert (
        even.verdict.status == "collecting"
        and "more shoppers per group to detect a 10% lift" in even.verdict.text
    )


def test_tiny_samples_never_claim_a_result():
    at = NOW - timedelta(days=10)
    exposures = [
        Exposure("recommendations", "product", "customer:1", False, at),
        Exposure("recommendations", "product", "customer:2", False, at),
        Exposure("recommendations", "product", "customer:3", True, at),
    ]
    purchases = [
        Purchase("customer:1", at + timedelta(days=1), 50.0),
        Purchase("customer:2", at + timedelta(days=2), 20.0),
    ]
    (lift,) = measure(exposures, purchases, now=NOW)
    assert (lift.treatment.shoppers, lift.treatment.converters) == (2, 2)
    assert (lift.holdout.shoppers, lift.holdout.converters) == (1, 0)
    assert lift.conversion_diff is not None and lift.conversion_diff.low < 0 < lift.conversion_diff.high
    assert lift.revenue_diff is None and lift.revenue_ratio is None  # Welch needs 2 per group
    assert lift.verdict.status == "collecting" and lift.verdict.text.startswith("Not enough data yet")
    body = lift.as_dict()
    assert body["revenue_per_shopper"]["absolute"] is None
    no_buyers = measure([Exposure("a", "p", "x", False, at), Exposure("a", "p", "y", True, at)], [], now=NOW)
    assert no_buyers[0].verdict.status == "collecting" and no_buyers[0].needed is None


def test_no_holdout_data_and_no_data():
    at = NOW - timedelta(days=3)
    exposures = [Exposure("recommendations", "home", f"client:{i}", False, at) for i in range(50)]
    (lift,) = measure(exposures, [Purchase("client:1", at + timedelta(hours=1), 10.0)], now=NOW)
    assert lift.verdict.status == "no_holdout" and lift.conversion_diff is None and lift.conversion_p is None
    assert "No holdout data" in lift.verdict.text
    assert lift.open_windows == 50  # exposed 3 days ago, 7-day window still open
    only_holdout = measure([Exposure("a", "p", "x", True, at)], [], now=NOW)
    assert only_holdout[0].verdict.status == "no_treatment"
    assert measure([], [], now=NOW) == []


def test_first_exposure_sets_group_and_window():
    t = NOW - timedelta(days=20)
    exposures = [
        Exposure("recommendations", "product", "customer:1", True, t),  # first: holdout
        Exposure("recommendations", "cart", "customer:1", False, t + timedelta(days=1)),  # later: ignored
        Exposure("recommendations", "product", "customer:2", False, t),
        Exposure("email", "email", "customer:2", True, t),  # another agent measures on its own
    ]
    purchases = [
        Purchase("customer:1", t + timedelta(days=2), 30.0),  # inside 7 days: converts, in holdout
        Purchase("customer:2", t - timedelta(hours=1), 99.0),  # before exposure: not counted
        Purchase("customer:2", t + timedelta(days=7, seconds=1), 99.0),  # after the window: not counted
        Purchase("customer:2", t + timedelta(days=6), 12.5),
    ]
    email, recs = measure(exposures, purchases, now=NOW)
    assert recs.agent == "recommendations" and email.agent == "email"
    assert (recs.holdout.shoppers, recs.holdout.converters, recs.holdout.revenue) == (1, 1, 30.0)
    assert (recs.treatment.shoppers, recs.treatment.converters, recs.treatment.revenue) == (1, 1, 12.5)
    assert recs.crossovers == 1
    assert {p.placement for p in recs.placements} == {"product", "cart"}
    cart = next(p for p in recs.placements if p.placement == "cart")
    assert (cart.treatment.shoppers, cart.treatment.converters) == (1, 1)  # cart's own first exposure
    assert (email.holdout.shoppers, email.holdout.converters, email.holdout.revenue) == (1, 1, 12.5)
    longer = measure(exposures, purchases, now=NOW, window_days=8)[1]
    assert longer.treatment.revenue == pytest.approx(12.5 + 99.0)


def test_measurement_is_plain_python():
    forbidden = (
        "flask",
        "sqlmodel",
        "sqlalchemy",
        "rq",
        "redis",
        "requests",
        "app.web",
        "app.jobs",
        "app.models",
    )
    root = Path(__file__).resolve().parent.parent / "app" / "measurement"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in forbidden), (
                    f"{path.name}: {name}"
                )
