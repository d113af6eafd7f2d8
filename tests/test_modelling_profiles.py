"""Price sensitivity, affinity decay, RFM segments, explanations."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from app.modelling.affinity import Interaction, customer_affinities
from app.modelling.explain import Explanation, Signal
from app.modelling.price_sensitivity import PurchaseLine, score_customers
from app.modelling.rfm import RfmInput, segment_customers


def test_coupon_lover_is_more_price_sensitive_than_full_price_buyer():
    lines = []
    for i in range(20):
        lines.append(PurchaseLine("coupon", "coffee", 1, 5.0, markdown=2.0, coupon=1.0))
        lines.append(PurchaseLine("full", "coffee", 1, 12.0))
        lines.append(PurchaseLine(f"other{i}", "coffee", 1, 9.0, markdown=0.5 * (i % 2)))
    s = score_customers(lines)
    assert s["coupon"].score > s["other0"].score > s["full"].score
    assert s["coupon"].index > 1 > s["full"].index
    assert s["full"].price_tier > 0 > s["coupon"].price_tier
    sig = s["coupon"].explanation.signals
    assert sig[0].name == "discount_share" and "discount" in sig[0].text


def test_price_prior_shrinks_a_single_purchase_toward_the_shop():
    lines = [PurchaseLine(f"c{i}", "tea", 1, 8.0, markdown=2.0) for i in range(30)]
    lines.append(PurchaseLine("once", "tea", 1, 1.0, markdown=9.0))
    s = score_customers(lines)
    assert s["c0"].score < s["once"].score < s["once"].discount_share


def test_affinity_decays_with_time():
    now = datetime(2024, 6, 1)
    rows = [Interaction("a", "old", now - timedelta(days=300)) for _ in range(3)]
    rows += [Interaction("a", "new", now - timedelta(days=5)) for _ in range(2)]
    rows += [Interaction("b", "old", now - timedelta(days=1))]
    aff = customer_affinities(rows, now, half_life_days=30)
    top = aff["a"][0]
    assert top.key == "new"
    scores = {x.key: x.score for x in aff["a"]}
    assert scores["new"] > scores["old"]
    # without decay the three old interactions win
    flat = customer_affinities(rows, now, half_life_days=1e9)
    assert flat["a"][0].key == "old"
    assert top.explanation.signals and top.explanation.summary.startswith("new")


def test_affinity_for_a_new_customer_falls_back_to_shop_popularity():
    now = datetime(2024, 6, 1)
    rows = [Interaction(f"c{i}", "popular", now) for i in range(10)] + [Interaction("c0", "niche", now)]
    rows.append(Interaction("newbie", "niche", now, weight=0.01))
    aff = customer_affinities(rows, now)
    assert aff["newbie"][0].key == "popular"


def test_rfm_segments_have_readable_names():
    customers = [
        RfmInput(f"c{i}", days_since_last_order=i * 10, orders=20 - i, spend=100.0 * (20 - i))
        for i in range(20)
    ]
    seg = {s.customer_id: s for s in segment_customers(customers)}
    assert seg["c0"].segment == "Champions"
    assert seg["c19"].segment == "Lost"
    assert seg["c0"].explanation.signals[0].text.startswith("last order")
    assert segment_customers([RfmInput("solo", 3, 1, 10.0)])[0].segment


def test_explanation_keeps_top_signals_by_magnitude():
    e = Explanation.build(
        "x", 1.0, [Signal("a", 1, 0.1, "a"), Signal("b", 1, -0.5, "b"), Signal("c", 1, 0.0, "c")], top=2
    )
    assert [s.name for s in e.signals] == ["b", "a"]
    assert e.as_dict()["signals"][0]["name"] == "b"
    assert np.isclose(e.signals[0].contribution, -0.5)
