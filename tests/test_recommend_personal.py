"""Personal lists from the next-basket ranker (``app.recommend.personal``): one customer computed alone is that
customer computed among all, the stored ranker serves the same lists, the business rules apply on top in the
ranker's order, the fallbacks say why, and every item's reason names what drove its score."""

from __future__ import annotations

import numpy as np
import pytest

from app.recommend import ranker_io
from app.recommend.interests import Interest
from app.recommend.nextbasket import NextBasketRecommender, retrain_threshold, retrain_wait
from app.recommend.personal import ListRules, one_offs, personal_lists, rank_personal
from app.recommend.reasons import COL, FAMILY_COLS, drivers, reason
from app.recommend.transactions import PurchaseLines, build_baskets


def _lines(n_customers: int = 40, days: int = 120) -> PurchaseLines:
    """Coffee every 10 days for everyone with a snack, a kettle (bought once) and a descaler with it for some;
    tea early on; c0 returned all its tea. Product types: drinks, snacks, kitchen."""
    rng = np.random.default_rng(0)
    rows, oid = [], 0
    for c in range(n_customers):
        for t in range(c % 5, days, 10):
            oid += 1
            basket = ["coffee", f"snack{rng.integers(6)}"]
            if t < 10:
                basket += ["kettle"] + (["descaler"] if c % 3 else [])
            if t < 30:
                basket.append("tea")
            rows += [(f"c{c}", f"o{oid}", t + 0.3 + c / 100, p, 2 if p == "tea" else 1) for p in basket]
    rows.append(("c0", "r1", 35.0, "tea", -6))
    cust, orders, day, product, qty = (np.array(x) for x in zip(*rows, strict=True))
    kind = {"coffee": "drinks", "tea": "drinks", "kettle": "kitchen", "descaler": "kitchen"}
    types = np.array([kind.get(p, "snacks") for p in product])
    return PurchaseLines(cust, orders, day.astype(float), product, qty.astype(float), product, types)


@pytest.fixture(scope="module")
def shop():
    lines = _lines()
    history = lines.baskets()
    recommender = NextBasketRecommender(n_neighbors=10, train_splits=3)
    return lines, history, recommender.train(history)


def test_a_customer_alone_is_that_customer_among_all(shop):
    lines, history, ranker = shop
    assert ranker.kind == "ranker" and ranker.boosters
    everyone = ranker.customers(history)
    now = np.full(history.n_customers, 125.0)
    rows = np.arange(history.n_customers)
    together = personal_lists(rank_personal(ranker, everyone, rows, now), ListRules())
    for c in (0, 3, 17):
        own = lines.customers == f"c{c}"
        alone = PurchaseLines(
            *(getattr(lines, f)[own] for f in ("customers", "orders", "days", "products", "quantities"))
        )
        mine = alone.baskets(ranker.catalogue)  # only their rows, in the ranker's item space
        assert mine.n_customers == 1
        one = personal_lists(rank_personal(ranker, ranker.customers(mine), [0], [125.0]), ListRules())[0]
        assert one == together[int(np.flatnonzero(history.customers == f"c{c}")[0])]  # items, scores, reasons


def test_the_stored_ranker_serves_the_same_lists(shop):
    _, history, ranker = shop
    blob = ranker_io.dumps(ranker)
    stored = ranker_io.loads(blob)
    assert stored.kind == "ranker" and len(stored.boosters) == len(ranker.boosters)
    assert stored.shop.cum.shape[1] <= ranker.shop.cum.shape[1]  # older weeks are not kept
    rows = np.arange(history.n_customers)
    for now in (ranker.shop.t_ref, ranker.shop.t_ref + 0.5, ranker.shop.t_ref + 40.0):
        when = np.full(len(rows), now)
        a = personal_lists(rank_personal(ranker, ranker.customers(history), rows, when), ListRules())
        b = personal_lists(rank_personal(stored, stored.customers(history), rows, when), ListRules())
        assert a == b


def test_rules_apply_on_top_in_the_rankers_order(shop):
    _, history, ranker = shop
    cs = ranker.customers(history)
    c3 = int(np.flatnonzero(history.customers == "c3")[0])
    ranked = rank_personal(ranker, cs, [c3], [125.0])
    plain = [r.product_id for r in personal_lists(ranked, ListRules(), explain=False)[0]["home"]]
    assert plain[0] == "coffee" and "kettle" not in plain  # a one-off they own: nobody buys a second kettle
    assert one_offs(ranker)[list(ranker.items).index("kettle")]
    rules = ListRules(
        out_of_stock={plain[1]},
        excludes={"all": {plain[2]}},
        pins={"home": ["descaler"]},
        disliked={"c3": {plain[3]}},
    )
    ruled = personal_lists(ranked, rules, explain=False)[0]["home"]
    assert ruled[0].product_id == "descaler" and ruled[0].reason == "picked by the shop"
    assert [r.product_id for r in ruled[1:]] == [p for p in plain if p not in set(plain[1:4]) | {"descaler"}]
    # buy it again: the same ranking, only what they bought (never the returned tea of c0)
    again = personal_lists(ranked, ListRules(), explain=False)[0]["buy_again"]
    bought = set(history.items[history.counts()[c3].indices])
    assert again and {r.product_id for r in again} <= bought
    c0 = int(np.flatnonzero(history.customers == "c0")[0])
    c0_lists = personal_lists(rank_personal(ranker, cs, [c0], [125.0]), ListRules(), explain=False)[0]
    assert "tea" not in [r.product_id for placement in c0_lists.values() for r in placement]


def test_fallbacks_say_why(shop):
    small = _lines(n_customers=8).baskets()
    untrained = NextBasketRecommender(n_neighbors=5).train(small)
    assert untrained.kind == "untrained" and not untrained.boosters
    assert untrained.why.startswith("too little history to learn from: 8 customers with a repeat order")
    lists = personal_lists(rank_personal(untrained, untrained.customers(small), [3], [125.0]), ListRules())[
        0
    ]["home"]
    assert lists[0].product_id == "coffee" and lists[0].reason == "You buy this about every 10 days"
    empty = build_baskets(
        np.array(["a"]), np.array(["r"]), np.array([1.0]), np.array(["lamp"]), np.array([-1.0])
    )
    none = NextBasketRecommender().train(empty)
    assert none.kind == "popularity" and none.why == "the shop has no orders yet"
    # a shopper the ranker knows no orders of gets the best sellers, named as such
    ranker = shop[2]
    cold = personal_lists(rank_personal(ranker, None, [0], [125.0], customer_ids=["new"]), ListRules())[0]
    assert cold["home"][0].product_id == "coffee" and cold["home"][0].reason == "Popular this week"
    assert cold["buy_again"] == []


def test_reasons_name_what_drove_the_score():
    x = np.zeros(len(COL), np.float32)
    x[COL["count"]], x[COL["own_cycle"]], x[COL["days_since"]] = 4, 21.0, 19.0
    assert reason("repeat", x) == "You buy this about every 3 weeks"
    x[COL["own_cycle"]] = 9.6
    assert reason("repeat", x) == "You buy this about every 10 days"
    x[COL["count"]], x[COL["own_cycle"]] = 1, np.nan
    assert reason("repeat", x) == "You bought this 3 weeks ago"
    x[COL["days_since"]] = 400.0
    assert reason("repeat", x) == "You bought this over a year ago"
    new = np.zeros(len(COL), np.float32)
    assert reason("similar", new, similar_to="Tea Towel") == "Often bought with Tea Towel"
    assert reason("category", new, category="Kitchen") == "Best seller in Kitchen"
    assert reason("category", new, interest="coffee", category="Kitchen") == "For your interest in coffee"
    assert reason("neighbours", new) == "Popular with shoppers like you"
    assert reason("popular", new) == "Popular in this shop"
    new[COL["source_recent"]] = 1
    assert reason("popular", new) == "Popular this week"
    # the driver is the family whose features, set to the customer's typical candidate, drop the score most
    base = np.zeros((1, len(COL)), np.float32)
    for family, cols in FAMILY_COLS.items():
        row = base.copy()
        row[0, cols] = 1.0
        assert drivers(row, base, lambda m, c=cols: m[:, c].sum(axis=1)) == [family]


def test_a_trained_rankers_reasons(shop):
    lines, history, ranker = shop
    names = Interest("drinks", "hot drinks", ["drinks"], ["coffee", "tea", "descaler"])
    rows = np.arange(history.n_customers)
    out = personal_lists(
        rank_personal(ranker, ranker.customers(history), rows, np.full(len(rows), 125.0)),
        ListRules(interests=[names]),
    )
    c3 = out[int(np.flatnonzero(history.customers == "c3")[0])]
    assert c3["home"][0].product_id == "coffee" and c3["home"][0].reason == "You buy this about every 10 days"
    reasons = {r.reason for per in out for recs in per.values() for r in recs}
    allowed = (
        "You buy this about every ",
        "You bought this ",
        "Often bought with ",
        "Popular with shoppers like you",
        "Popular this week",
        "Popular in this shop",
        "Best seller in ",
        "For your interest in hot drinks",
    )
    assert all(r.startswith(allowed) for r in reasons), reasons
    assert any(r.startswith("You buy this about every") for r in reasons)


def retrain_due(trained_orders: int, new_orders: int, since_training_s: float | None = None) -> bool:
    """A retraining wanted now: no wait left."""
    return retrain_wait(trained_orders, new_orders, since_training_s) == 0.0


def test_retraining_waits_for_enough_new_orders():
    assert retrain_threshold(0) == 1 and retrain_due(0, 1)  # a shop trained before its first order
    assert retrain_threshold(100) == 25 and not retrain_due(100, 24) and retrain_due(100, 25)
    assert retrain_threshold(36_597) == 3_660 and not retrain_due(36_597, 3_000)
    # not again within 10 minutes of the last training, however busy the shop (unless it knew no order)
    assert not retrain_due(100, 500, since_training_s=599) and retrain_due(100, 500, since_training_s=600)
    assert retrain_due(0, 1, since_training_s=1)
    assert (
        retrain_wait(100, 500, since_training_s=420) == 180
        and retrain_wait(100, 24, since_training_s=900) is None
    )
