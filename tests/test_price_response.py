"""Price response from the shop's own price history (issue 20): a synthetic history with a known elasticity is
recovered, a trend is not mistaken for a price response, and a sparse variant is pulled to its product type."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np

from app.modelling.price_response import change_windows, estimate, shrink

NOW = datetime(2026, 12, 1, tzinfo=UTC)
START = NOW - timedelta(days=360)


def _history(rng: random.Random, base_price: float, changes: int) -> list[tuple[datetime, float]]:
    days = sorted(rng.sample(range(20, 340), changes))
    out, price = [(START, base_price)], base_price
    for d in days:
        price = round(base_price * rng.choice([0.8, 0.85, 0.9, 0.95, 1.05, 1.1, 1.15, 1.2]), 2)
        if abs(price - out[-1][1]) >= 0.01:
            out.append((START + timedelta(days=d), price))
    return out


def _sales(
    rng: np.random.Generator, history, base_price: float, rate: float, elasticity: float, trend: float = 0.0
) -> dict[date, float]:
    units = {}
    for i in range(360):
        day = START + timedelta(days=i)
        price = [p for at, p in history if at <= day][-1]
        level = rate * (1 + trend * i / 360)
        units[day.date()] = float(rng.poisson(level * (price / base_price) ** elasticity))
    return units


def _variant(seed: int, elasticity: float, rate: float = 4.0, changes: int = 6, trend: float = 0.0):
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    base = rng.choice([20.0, 35.0, 60.0])
    history = _history(rng, base, changes)
    return estimate(change_windows(history, _sales(nrng, history, base, rate, elasticity, trend), NOW))


def test_a_known_elasticity_is_recovered():
    for truth in (-2.0, -0.6):
        ests = [_variant(seed, truth) for seed in range(12)]
        assert all(e is not None for e in ests)
        pooled = sum(e.elasticity / e.se**2 for e in ests) / sum(1 / e.se**2 for e in ests)
        assert abs(pooled - truth) < 0.15, (truth, pooled)
        # each variant's own interval covers the truth most of the time
        covered = sum(abs(e.elasticity - truth) < 2 * e.se for e in ests)
        assert covered >= 10, [(round(e.elasticity, 2), round(e.se, 2)) for e in ests]


def test_a_trend_is_not_a_price_response():
    """Sales doubling over the year while the price wanders: only the jumps at the changes count."""
    ests = [_variant(seed, -1.0, trend=1.0) for seed in range(12)]
    pooled = sum(e.elasticity / e.se**2 for e in ests) / sum(1 / e.se**2 for e in ests)
    assert abs(pooled - -1.0) < 0.2, pooled


def test_no_change_or_no_sale_means_no_estimate():
    history = [(START, 10.0)]
    assert estimate(change_windows(history, {START.date(): 3.0}, NOW)) is None
    moved = [(START, 10.0), (START + timedelta(days=100), 9.0)]
    assert estimate(change_windows(moved, {}, NOW)) is None


def test_sparse_variants_shrink_to_their_product_type():
    own = {i: _variant(i, -2.0) for i in range(10)}  # lamps: well measured, elasticity -2
    types = {i: "Lamps" for i in range(10)}
    for i in range(10, 20):  # mugs: well measured, elasticity -0.5
        own[i], types[i] = _variant(i, -0.5), "Mugs"
    own[100] = _variant(100, 1.5, rate=0.15, changes=1)  # a lamp with one change and a handful of sales
    types[100] = "Lamps"
    types[101] = "Lamps"  # a lamp that never changed price
    types[102] = "Vases"  # a type with no change at all: the shop's mean
    out = shrink(own, types)
    lamp_mean = sum(out[i].elasticity for i in range(10)) / 10
    mug_mean = sum(out[i].elasticity for i in range(10, 20)) / 10
    assert abs(lamp_mean - -2.0) < 0.2 and abs(mug_mean - -0.5) < 0.2
    sparse = out[100]
    assert sparse.raw is not None and sparse.weight < 0.5
    assert abs(sparse.elasticity - lamp_mean) < abs(sparse.raw - lamp_mean) / 2
    assert out[101].raw is None and out[101].weight == 0 and abs(out[101].elasticity - lamp_mean) < 0.15
    assert out[101].sd > max(out[i].sd for i in range(10))
    assert lamp_mean < out[102].elasticity < mug_mean  # between the types: the shop's mean
    # one type's variants share one true elasticity here, so the spread between them is estimated small and
    # their own noise is pooled away; variants that truly differ keep their own estimate
    assert max(abs(out[i].elasticity - -2.0) for i in range(10)) < 0.2
    spread = {i: _variant(200 + i, -0.5 - 0.3 * i) for i in range(10)}
    wide = shrink(spread, {i: "Rugs" for i in range(10)})
    assert min(wide[i].weight for i in range(10)) > 0.5
    assert wide[9].elasticity < wide[0].elasticity - 1.5
