"""Interest timing (issue 21): the model sees nothing on or after the cut-off, learns personal rhythms and
seasons that the frequency and last-year baselines miss, falls back on thin shops, and the backtest protocol
runs end to end on a synthetic shop (the full Online Retail II figure is backtest-marked)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.backtest import interest_timing as bt
from app.recommend import interest_timing as timing
from tests.conftest import DATA, needs_shared

DAY0 = pd.Timestamp("2010-01-01", tz="UTC")
PRODUCTS = {
    "coffee": ["Espresso beans", "Decaf coffee beans", "Coffee filters", "Ground coffee", "Coffee pods"],
    "camping": ["Dome tent", "Sleeping bag", "Camping stove", "Trekking poles", "Head torch"],
    "christmas": ["Christmas bauble", "Advent calendar", "Christmas lights", "Santa hat", "Christmas card"],
    "tea": ["Green tea", "Earl grey tea", "Tea infuser", "Mint tea", "Tea pot"],
    "garden": ["Garden gloves", "Watering can", "Flower seeds", "Garden trowel", "Plant pot"],
    "halloween": ["Pumpkin lantern", "Witch hat", "Halloween mask", "Spider web", "Halloween sweets"],
}


def synthetic_shop(customers: int = 240, seed: int = 0) -> pd.DataFrame:
    """Coffee and tea each on the shopper's own rhythm; camping in spring, garden in summer, Halloween in October,
    Christmas in November: six interests, so a top three is a choice."""
    rng = np.random.default_rng(seed)
    rows, order = [], 0

    def buy(c: int, day: float, interest: str) -> None:
        nonlocal order
        order += 1
        for title in rng.choice(PRODUCTS[interest], 2, replace=False):
            rows.append(
                (
                    str(c),
                    f"o{order}",
                    DAY0 + pd.Timedelta(days=float(day)),
                    f"{interest}-{title}",
                    title,
                    1,
                    5.0,
                )
            )

    for c in range(customers):
        for interest, low, high in (("coffee", 15, 60), ("tea", 30, 120)):
            if rng.random() < 0.6:
                gap, day = rng.uniform(low, high), rng.uniform(0, 60)
                while day < 720:
                    buy(c, day, interest)
                    day += gap * rng.uniform(0.8, 1.2)
        for year in (0, 365):
            for interest, start, end in (("camping", 90, 140), ("garden", 150, 220), ("halloween", 280, 300),
                                         ("christmas", 305, 340)):  # fmt: skip
                if rng.random() < 0.4:
                    buy(c, year + rng.uniform(start, end), interest)
    cols = ["customer_id", "order_id", "ordered_at", "product_id", "product_title", "quantity", "unit_price"]
    return pd.DataFrame(rows, columns=cols)


def test_features_never_see_the_cut_off_or_after():
    histories = {"a": {"x": np.array([10.0, 40.0, 70.0]), "y": np.array([100.0])}}
    orders = {"a": np.array([10.0, 40.0, 70.0, 100.0])}
    customers, interests, x = timing.features(histories, orders, 71.0)
    assert (customers, interests) == (["a"], ["x"])  # y starts after the cut-off: not a pair yet
    later = {"a": {"x": np.array([10.0, 40.0, 70.0, 80.0]), "y": np.array([100.0])}}
    assert np.array_equal(timing.features(later, orders, 71.0)[2], x)  # a purchase after changes nothing
    assert timing.labels(later, customers, interests, 71.0).tolist() == [1]
    assert timing.labels(histories, customers, interests, 71.0).tolist() == [0]


def test_thin_shops_get_the_fallback_score():
    histories = {"a": {"x": np.array([10.0, 40.0])}}
    scores = timing.predict(histories, {"a": np.array([10.0, 40.0])}, 70.0)
    assert scores.method == "fallback" and 0 < scores.probability[0] < 1
    assert scores.by_customer() == {"a": [("x", float(scores.probability[0]))]}
    assert timing.predict({}, {}, 70.0).customers == []


def test_backtest_beats_frequency_and_last_year_on_a_shop_with_rhythms_and_seasons():
    results = bt.run_backtest(synthetic_shop(), ("2011-04-01", "2011-11-01"), echo=lambda s: None)
    assert results["interests"] >= 5
    for cutoff in ("2011-04-01", "2011-11-01"):
        r = results["cutoffs"][cutoff]
        assert r["method_used"] == "model" and r["positives"] > 0
        for metric in ("auc", "recall_at_3"):
            assert r[metric]["attune"] > r[metric]["frequency"], (cutoff, metric, r[metric])
            assert r[metric]["attune"] > r[metric]["last_year"], (cutoff, metric, r[metric])


def test_recall_at_3_counts_each_customers_top_three():
    customers = ["a"] * 5 + ["b"] * 2
    y = np.array([1, 0, 0, 0, 1, 0, 0])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.1])
    assert bt.recall_at_3(customers, y, score) == 0.5  # a: one of two in the top 3; b has no positive
    assert bt.recall_at_3(customers, np.zeros(7), score) is None


@pytest.mark.slow
@pytest.mark.backtest
@pytest.mark.shared_data
@needs_shared(DATA / "online_retail_ii")
def test_online_retail_interest_timing_beats_both_baselines():
    results = bt.run_backtest(bt.load(DATA / "online_retail_ii"), echo=lambda s: None)
    mean = results["mean"]
    for metric in ("auc", "recall_at_3"):
        assert mean[metric]["attune"] > mean[metric]["frequency"], (metric, mean[metric])
        assert mean[metric]["attune"] > mean[metric]["last_year"], (metric, mean[metric])
