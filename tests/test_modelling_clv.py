"""BG/NBD + Gamma-Gamma: parameter recovery on simulated customers, priors for tiny shops, predictions."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from app.modelling.clv import (
    GLOBAL_BGNBD,
    BgNbdParams,
    ClvModel,
    CustomerHistory,
    fit_bgnbd,
    summarise,
)


def _simulate(params: BgNbdParams, n: int, T: float, rng: np.random.Generator) -> list[CustomerHistory]:
    """The BG/NBD story: Poisson purchases at rate λ~Gamma(r, α); after each purchase, drop out with p~Beta(a, b)."""
    out = []
    for i in range(n):
        lam = rng.gamma(params.r, 1 / params.alpha)
        p = rng.beta(params.a, params.b)
        t, times = 0.0, []
        while True:
            t += rng.exponential(1 / lam)
            if t > T:
                break
            times.append(t)
            if rng.random() < p:
                break
        out.append(
            CustomerHistory(str(i), len(times), times[-1] if times else 0.0, T, 10.0 if times else 0.0)
        )
    return out


def test_bgnbd_recovers_parameters_from_simulated_customers():
    true = BgNbdParams(r=0.8, alpha=4.0, a=0.6, b=2.5)
    hist = _simulate(true, 4000, 52.0, np.random.default_rng(0))
    est = fit_bgnbd(hist, prior_sd=float("inf"))
    assert abs(est.r - true.r) / true.r < 0.2
    assert abs(est.alpha - true.alpha) / true.alpha < 0.25
    # a and b are weakly identified individually; their mean a/(a+b) (dropout probability) is not
    assert abs(est.a / (est.a + est.b) - 0.6 / 3.1) < 0.06


def test_prior_gives_a_five_customer_shop_sensible_values():
    hist = _simulate(BgNbdParams(0.8, 4.0, 0.6, 2.5), 5, 52.0, np.random.default_rng(1))
    shrunk = fit_bgnbd(hist, prior_sd=1.0)
    for got, prior in zip(shrunk.as_array(), GLOBAL_BGNBD.as_array(), strict=True):
        assert prior / 5 < got < prior * 5
    preds = ClvModel.fit(hist).predict(hist, 26)
    assert all(np.isfinite(p.expected_spend) and p.expected_spend >= 0 for p in preds)
    assert all(0 <= p.probability_alive <= 1 for p in preds)


def test_recent_frequent_customer_beats_lapsed_one_and_explains():
    hist = _simulate(BgNbdParams(0.8, 4.0, 0.6, 2.5), 1500, 52.0, np.random.default_rng(2))
    model = ClvModel.fit(hist)
    active = CustomerHistory("active", 10, 51.0, 52.0, 50.0)
    lapsed = CustomerHistory("lapsed", 10, 10.0, 52.0, 50.0)
    a, lap = model.predict([active, lapsed], 26)
    assert a.expected_purchases > 3 * lap.expected_purchases
    assert a.probability_alive > 0.9 > 0.3 > lap.probability_alive
    assert lap.churn_risk > a.churn_risk
    assert a.explanation.signals and "purchase" in a.explanation.summary


def test_summarise_counts_purchase_days_and_repeat_value():
    d = datetime(2024, 1, 1)
    rows = [
        ("c", d, 10.0),
        ("c", d + timedelta(hours=2), 5.0),
        ("c", d + timedelta(weeks=2), 30.0),
        ("c", d + timedelta(weeks=9), 99.0),
    ]
    [h] = summarise(rows, d + timedelta(weeks=4))
    assert (h.frequency, h.recency, h.T, h.monetary, h.total_spend) == (1, 2.0, 4.0, 30.0, 45.0)
