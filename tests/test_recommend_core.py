"""Recommenders on small shops built for the case: protocol, cold start, returns, consumables, bought-together."""

import numpy as np
import pytest

from app.recommend.blend import Candidate, Rules, blend
from app.recommend.cooccurrence import BoughtTogether
from app.recommend.nextbasket import NextBasketRecommender
from app.recommend.repeat import buy_it_again, item_repurchase, just_bought_one_offs
from app.recommend.transactions import build_baskets


def _shop(lines):
    """lines: (customer, order, day, product, qty)."""
    c, o, d, p, q = zip(*lines, strict=True)
    return build_baskets(np.array(c), np.array(o), np.array(d, float), np.array(p), np.array(q))


def _grocery(n_customers=40, days=120):
    """Coffee every 10 days for everyone, one kettle each, a few snacks; customer c0 returned all its tea."""
    rng = np.random.default_rng(0)
    lines, oid = [], 0
    for c in range(n_customers):
        for t in range(c % 5, days, 10):
            oid += 1
            lines.append((f"c{c}", f"o{oid}", t, "coffee", 1))
            lines.append((f"c{c}", f"o{oid}", t, f"snack{rng.integers(6)}", 1))
            if t < 10:
                lines.append((f"c{c}", f"o{oid}", t, "kettle", 1))
            if t < 30:
                lines.append((f"c{c}", f"o{oid}", t, "tea", 2))
    lines.append(("c0", "r1", 35, "tea", -6))
    return _shop(lines)


def test_split_last_holds_out_the_last_order_and_never_leaks_it():
    b = _shop(
        [
            ("a", "1", 1, "x", 1),
            ("a", "2", 2, "y", 1),
            ("a", "3", 3, "only-in-target", 1),
            ("b", "4", 1, "x", 1),
            ("b", "6", 5, "z", 1),
            ("b", "5", 5, "w", 1),
        ]
    )
    history, split = b.split_last()
    planted = int(np.flatnonzero(b.items == "only-in-target")[0])
    assert history.binary()[:, planted].nnz == 0
    # ties on time are broken by order id: b's last order is "6"
    assert [b.items[t].tolist() for t in split.target_lists()] == [["only-in-target"], ["z"]]


def test_returned_item_is_never_recommended_back():
    b = _grocery()
    model = NextBasketRecommender(n_neighbors=10).fit(b)
    c0 = int(np.flatnonzero(b.customers == "c0")[0])
    others = [int(i) for i in np.flatnonzero(b.customers != "c0")[:5]]
    tea = int(np.flatnonzero(b.items == "tea")[0])
    recs = model.recommend(np.array([c0, *others]), np.full(6, 125.0), k=5)
    assert tea not in recs[0]
    assert b.returned()[c0, tea] == 1
    rules = Rules(returned={"tea"})
    out = blend(
        [Candidate("tea", 1.0, "repeat", "you buy tea"), Candidate("coffee", 0.5, "repeat", "x")],
        "home",
        rules,
    )
    assert [r.product_id for r in out] == ["coffee"]


def test_consumables_come_back_and_one_offs_do_not():
    b = _grocery()
    stats = item_repurchase(b)
    coffee, kettle = (int(np.flatnonzero(b.items == n)[0]) for n in ("coffee", "kettle"))
    assert stats.is_consumable()[coffee] and not stats.is_consumable()[kettle]
    assert 8 <= stats.interval_days[coffee] <= 12
    c = int(np.flatnonzero(b.customers == "c3")[0])
    again = buy_it_again(b, c, now=125.0, stats=stats)
    items = [b.items[i] for i, _, _ in again]
    assert items[0] == "coffee" and "kettle" not in items
    assert "every 10 days" in again[0][2]
    assert kettle in just_bought_one_offs(b, stats, c)


def test_new_customer_and_new_shop_get_popular_items():
    b = _grocery()
    model = NextBasketRecommender(n_neighbors=10).fit(b)
    # a customer known only by a return (no orders) is a cold start: the most ordered items come first
    c0 = int(np.flatnonzero(b.customers == "c0")[0])
    pop = np.asarray(b.binary().sum(axis=0)).ravel()
    recs = model.recommend(np.array([c0]), np.array([125.0]), k=3)
    assert recs.shape == (1, 3)
    # a shop with no orders at all still answers, from the catalogue's pinned / popular fallbacks
    empty = _shop([("a", "r", 1, "lamp", -1)])
    cold = NextBasketRecommender().fit(empty).recommend(np.array([0]), np.array([2.0]), k=1)
    assert cold.tolist() == [[0]]
    assert b.items[np.argmax(pop)] == "coffee"
    out = blend([Candidate("coffee", 1.0, "popular", "popular this week")], "home", Rules())
    assert out[0].reason == "popular this week"


def test_cold_customer_gets_bestsellers():
    b = _grocery()
    # c7's orders are dropped: a known shopper with no orders yet
    c7 = int(np.flatnonzero(b.customers == "c7")[0])
    keep = b.order_customer != c7
    model = NextBasketRecommender(n_neighbors=10).fit(b.select(keep))
    recs = model.recommend(np.array([c7]), np.array([125.0]), k=2)
    assert b.items[recs[0][0]] == "coffee"


def test_blend_excludes_out_of_stock_pins_and_diversity():
    cands = [
        Candidate("a", 0.9, "bought_together", "bought with X"),
        Candidate("b", 0.8, "bought_together", "bought with X"),
        Candidate("c", 0.7, "bought_together", "bought with X"),
        Candidate("d", 0.6, "similar", "like X"),
        Candidate("e", 0.5, "repeat", "you buy e"),
    ]
    rules = Rules(
        out_of_stock={"a"},
        pins={"product": ["z", "a"]},
        excludes={"d"},
        product_type={"b": "mug", "c": "mug"},
        max_per_type=1,
    )
    out = blend(cands, "product", rules)
    ids = [r.product_id for r in out]
    assert ids == [
        "z",
        "b",
    ]  # a out of stock (even pinned), c over the mug cap, d excluded, e not for product pages
    assert out[0].source == "pinned"
    assert [r.product_id for r in blend(cands, "email", Rules())] == ["e", "d"]


def test_bought_together_lift_and_confidence():
    lines, oid = [], 0
    for i in range(30):
        oid += 1
        lines += [(f"c{i}", str(oid), i, "tent", 1), (f"c{i}", str(oid), i, "pegs", 1)]
        oid += 1
        lines += [(f"c{i}", str(oid), i + 0.5, "mug", 1)]
        if i % 3 == 0:
            lines += [(f"c{i}", str(oid), i + 0.5, "tent", 1)]
    b = _shop(lines)
    fbt = BoughtTogether(half_life_days=None).fit(b)
    tent = int(np.flatnonzero(b.items == "tent")[0])
    rules = fbt.rules(tent)
    top = rules[0]
    assert b.items[top.consequent] == "pegs"
    assert top.confidence == 30 / 40 and top.lift > 1
    basket = fbt.for_basket([tent], k=2)
    assert b.items[basket[0][0]] == "pegs" and basket[0][2] == tent


def test_recent_sales_counts_only_orders_before_the_time():
    """Orders of an item in [t - window, t), checked against a brute-force count; nothing at or after t."""
    from app.recommend.popularity import RecentSales

    rng = np.random.default_rng(3)
    lines = [(f"c{o % 7}", f"o{o}", float(rng.uniform(0, 60)), f"p{rng.integers(5)}", 1) for o in range(300)]
    b = _shop(lines)
    sales = RecentSales(b)
    binary = b.binary().tocsc()
    items = rng.integers(b.n_items, size=200)
    times = rng.uniform(-5, 70, size=200)
    for window in (2.0, 7.0):
        got = sales.count(items, times, window)
        want = [
            np.count_nonzero(
                (b.order_time[binary[:, i].indices] >= t - window) & (b.order_time[binary[:, i].indices] < t)
            )
            for i, t in zip(items, times, strict=True)
        ]
        assert got.tolist() == want
    at = float(b.order_time[0])  # an order exactly at t is not before t
    first = int(b.matrix[0].indices[0])
    assert sales.count(np.array([first]), np.array([at]), 1e-9)[0] == 0
    top = sales.top_before(30.0, 7.0, 3)
    window_sales = np.asarray(binary[((b.order_time >= 23) & (b.order_time < 30))].sum(axis=0)).ravel()
    assert window_sales[top].tolist() == sorted(window_sales, reverse=True)[: len(top)]


def test_ranker_bags_see_every_positive_and_disjoint_negatives():
    b = _grocery()
    model = NextBasketRecommender(n_neighbors=10, train_splits=3, negatives=0.2, bags=3)
    x, y, query, bag = model.training_rows(b)
    assert len(x) == len(y) == len(query) == len(bag) and y.any()
    # every row of a query is contiguous (LightGBM's groups), queries of later splits come after
    starts = np.r_[True, query[1:] != query[:-1]]
    assert len(np.unique(query)) == starts.sum() and (np.diff(query) >= 0).all()
    # negatives are each in one bag (or none, then dropped), about a fifth of them per bag
    negatives = bag[~y]
    assert set(np.unique(negatives)) <= {0, 1, 2} and len(negatives)
    shares = np.bincount(negatives, minlength=3) / len(negatives)
    assert np.allclose(shares, 1 / 3, atol=0.1)
    model.fit(b)
    assert len(model.models) == 3
    c3 = int(np.flatnonzero(b.customers == "c3")[0])
    first = model.recommend(np.array([c3]), np.array([125.0]), k=3)
    assert b.items[first[0][0]] == "coffee"  # the customer's every-10-days item leads
    again = NextBasketRecommender(n_neighbors=10, train_splits=3, negatives=0.2, bags=3).fit(b)
    assert (again.recommend(np.array([c3]), np.array([125.0]), k=3) == first).all()  # seeded: reproducible


def test_bags_cannot_share_out_more_negatives_than_there_are():
    with pytest.raises(ValueError):
        NextBasketRecommender(negatives=0.5, bags=3)
    with pytest.raises(ValueError):
        NextBasketRecommender(bags=0)
