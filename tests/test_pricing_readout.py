"""The pricing readout alone (pure): incremental margin per eligible shopper treated vs control with its
interval, AOV treated vs control, spend against the budget, waste, arms, and the labelled reference; only
settled, eligible decisions are compared."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.measurement.pricing import WASTE_P, OfferFact, readout

NOW = datetime(2026, 6, 20, tzinfo=UTC)


def fact(control: bool, margin: float, revenue: float = 0.0, orders: int = 0, **kw) -> OfferFact:
    base = dict(arm="none" if control else "pct10", control=control, eligible=True,
                status="no_offer" if control else "created", discount=0.0 if control else 8.0, redeemed=False,
                redeemed_discount=0.0, p_no_offer=0.2, trial=False, settled=True, margin=margin,
                revenue=revenue, orders=orders, decided_at=NOW)  # fmt: skip
    return OfferFact(**{**base, **kw})


def test_treated_against_control_with_intervals():
    treated = [fact(False, 32.0, 72.0, 1, redeemed=True, redeemed_discount=8.0) for _ in range(30)]
    treated += [fact(False, 0.0) for _ in range(30)]
    control = [fact(True, 40.0, 80.0, 1) for _ in range(5)] + [fact(True, 0.0) for _ in range(15)]
    ignored = [fact(False, 999.0, 999.0, 1, settled=False), fact(True, 999.0, 999.0, 1, eligible=False)]
    body = readout(treated + control + ignored, budget=200.0, week_spend=50.0, now=NOW)
    assert body["treated"]["shoppers"] == 60 and body["control"]["shoppers"] == 20
    inc = body["incremental_margin_per_shopper"]
    assert inc["estimate"] == pytest.approx(16.0 - 10.0) and inc["low"] < 6.0 < inc["high"]
    assert body["treated"]["aov"] == pytest.approx(72.0) and body["control"]["aov"] == pytest.approx(80.0)
    assert body["discount"] == {"week_spend": 50.0, "weekly_budget": 200.0, "share_of_budget": 0.25,
                                "redeemed_total": 240.0}  # fmt: skip
    assert body["arms"]["pct10"] == {"decisions": 61, "codes": 61, "redeemed": 30, "discount_spent": 240.0}
    assert body["waste"]["share"] == 0.0
    assert body["reference"]["low"] == 0.15 and body["reference"]["high"] == 0.25


def test_waste_is_redemptions_by_shoppers_predicted_to_buy_anyway():
    facts = [fact(False, 30.0, 70.0, 1, redeemed=True, redeemed_discount=7.0, p_no_offer=p)
             for p in (0.1, 0.2, WASTE_P, 0.9)]  # fmt: skip
    body = readout(facts, budget=100.0, week_spend=0.0, now=NOW)
    assert (
        body["waste"]["redemptions"] == 4 and body["waste"]["wasted"] == 2 and body["waste"]["share"] == 0.5
    )


def test_no_comparison_without_two_of_each():
    body = readout([fact(False, 10.0), fact(True, 5.0)], budget=0.0, week_spend=0.0, now=NOW)
    assert body["incremental_margin_per_shopper"] is None and body["aov_difference"] is None
    assert body["discount"]["share_of_budget"] is None
