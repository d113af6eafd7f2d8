"""The replenishment consumption model (issue 17): cleaning of bad input, shrinkage, quantity, silence, consumables."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.recommend.replenishment import Config, fit, forecast
from app.recommend.replenishment_input import purchase_days

CFG = Config()


def lines(rows):
    """rows: (customer, product, day, quantity[, order id]) → column arrays."""
    cols = list(zip(*rows, strict=True))
    oid = cols[4] if len(cols) > 4 else [f"{c}-{d}" for c, _, d, *_ in rows]
    return (
        np.array(cols[0]),
        np.array(cols[1]),
        np.array(cols[2], float),
        np.array(cols[3], float),
        np.array(oid),
    )


def model(rows, now, cfg=CFG, types=None):
    c, p, t, q, o = lines(rows)
    days = purchase_days(c, p, t, q, o)
    return days, forecast(days, fit(days, cfg, types), now, cfg)


def one(fc, customer, product):
    i = np.flatnonzero((fc.customer == customer) & (fc.product == product))
    assert len(i) == 1
    return int(i[0])


def background(product="milk", gap=10, customers=30, buys=6):
    """Other shoppers of ``product`` buying one unit every ``gap`` days."""
    return [(f"bg{k}", product, 1000 + k + j * gap, 1) for k in range(customers) for j in range(buys)]


line = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["p", "q"]),
    st.floats(min_value=19000, max_value=19400, allow_nan=False),
    st.integers(min_value=-5, max_value=5),
    st.sampled_from(["o1", "o2", "o3", "o4", "o5", "o6"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(line, min_size=1, max_size=40), st.floats(min_value=19000, max_value=19800))
def test_bad_input_never_breaks_the_model(rows, now):
    days, fc = model(rows, now)
    assert (days.quantity > 0).all()
    for k in range(days.n_pairs):  # strictly increasing distinct days per pair
        assert (np.diff(days.day[days.ptr[k] : days.ptr[k + 1]]) > 0).all()
    for arr in (fc.due_at, fc.predicted_next_at, fc.p_within_14d, fc.p_within_30d, fc.supply_left):
        assert np.isfinite(arr).all()
    assert (
        (fc.p_within_14d >= 0) & (fc.p_within_14d <= fc.p_within_30d + 1e-12) & (fc.p_within_30d <= 1)
    ).all()
    assert (fc.predicted_next_at >= np.maximum(now, fc.last_day) - 1e-9).all()
    assert ((fc.due_low <= fc.due_at) & (fc.due_at <= fc.due_high)).all()
    assert ((fc.basis == "product_prior") == (fc.n_days == 1)).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(line, min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_line_order_duplicates_and_clock_skew_do_not_matter(rows, rnd):
    now = 19500.0
    _, base = model(rows, now)
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    doubled = shuffled + shuffled[: len(shuffled) // 2]  # a redelivered order: the same lines again
    _, again = model(doubled, now)
    np.testing.assert_array_equal(base.customer, again.customer)
    np.testing.assert_allclose(base.p_within_14d, again.p_within_14d)
    np.testing.assert_allclose(base.predicted_next_at, again.predicted_next_at)


@settings(max_examples=60, deadline=None)
@given(st.lists(line, min_size=1, max_size=30), st.integers(0, 29), st.integers(1, 9))
def test_returns_never_add_consumption(rows, pick, units):
    c, p, t, q, o = lines(rows)
    days = purchase_days(c, p, t, q, o)
    k = pick % len(rows)
    more = rows + [(rows[k][0], rows[k][1], rows[k][2] + 0.1, -units, "refund")]
    c2, p2, t2, q2, o2 = lines(more)
    after = purchase_days(c2, p2, t2, q2, o2)
    before = {(days.customers[a], days.products[b]): days.quantity[days.ptr[i] : days.ptr[i + 1]].sum()
              for i, (a, b) in enumerate(zip(days.pair_customer, days.pair_product, strict=True))}  # fmt: skip
    for i, (a, b) in enumerate(zip(after.pair_customer, after.pair_product, strict=True)):
        key = (after.customers[a], after.products[b])
        assert after.quantity[after.ptr[i] : after.ptr[i + 1]].sum() <= before[key]


def test_a_returned_or_cancelled_purchase_is_no_purchase_day():
    rows = [("a", "milk", 19000, 1, "o1"), ("a", "milk", 19010, 2, "o2"), ("a", "milk", 19020, 2, "o3")]
    refund = [("a", "milk", 19021, -2, "r1")]
    cancelled = [
        ("a", "milk", 19030, -3, "c1")
    ]  # 3 units back: all of the latest purchase, 1 of the one before
    days, _ = model(rows + refund, 19040)
    assert days.day.tolist() == [19000, 19010]
    days, _ = model(rows + cancelled, 19040)
    assert days.day.tolist() == [19000, 19010] and days.quantity.tolist() == [1, 1]
    days, _ = model(rows + [("a", "tea", 19030, -3, "c2")], 19040)  # a return of what was never bought here
    assert days.products[days.pair_product].tolist() == ["milk"] and days.quantity.sum() == 5
    days, _ = model(rows + [("a", "milk", 19030, 0, "o4")], 19040)  # zero quantity: ignored
    assert days.day.tolist() == [19000, 19010, 19020]


def test_single_purchase_gets_the_product_prior_only_and_is_flagged():
    rows = background("milk", gap=10) + [("new", "milk", 19000, 1)]
    _, fc = model(rows, 19001)
    i = one(fc, "new", "milk")
    assert fc.basis[i] == "product_prior" and fc.n_days[i] == 1
    assert 8 <= fc.cycle_days[i] <= 12
    j = one(fc, "bg0", "milk")
    assert fc.basis[j] == "personal"


def test_own_rhythm_is_shrunk_toward_the_product_and_more_gaps_pull_harder():
    rows = background("milk", gap=30)
    rows += [("fast", "milk", 19000 + 5 * j, 1) for j in range(12)]  # 11 gaps of 5 days
    rows += [("newish", "milk", 19000, 1), ("newish", "milk", 19005, 1)]  # 1 gap of 5 days
    _, fc = model(rows, 19060)
    fast, newish = fc.cycle_days[one(fc, "fast", "milk")], fc.cycle_days[one(fc, "newish", "milk")]
    assert 4 < fast < 8
    assert fast < newish < 30


def test_two_units_last_about_twice_as_long_as_one():
    rows = background("rice", gap=20)
    rows += [("one", "rice", 19000 + 20 * j, 1) for j in range(4)]
    rows += [("two", "rice", 19000 + 20 * j, 1) for j in range(3)] + [("two", "rice", 19060, 2)]
    _, fc = model(rows, 19061, Config(quantity_elasticity=1.0))
    ratio = fc.cycle_days[one(fc, "two", "rice")] / fc.cycle_days[one(fc, "one", "rice")]
    assert 1.7 < ratio < 2.1
    _, fc = model(rows, 19061)  # the default elasticity: more units still last longer
    assert fc.cycle_days[one(fc, "two", "rice")] > 1.2 * fc.cycle_days[one(fc, "one", "rice")]


def test_recent_gaps_weigh_more():
    rows = background("tea", gap=20)
    days = [19000 + 40 * j for j in range(6)]  # every 40 days for 200 days ...
    days += [days[-1] + 10 * j for j in range(1, 7)]  # ... then every 10 days
    rows += [("shift", "tea", d, 1) for d in days]
    _, fc = model(rows, days[-1] + 1)
    gaps = np.diff(days)
    assert fc.cycle_days[one(fc, "shift", "tea")] < np.exp(np.log(gaps).mean())


def test_long_silence_means_stopped_not_due():
    rows = background("coffee", gap=14) + [("c", "coffee", 19000 + 14 * j, 1) for j in range(8)]
    last = 19000 + 14 * 7
    due = model(rows, last + 14)[1]
    gone = model(rows, last + 200)[1]
    i = one(due, "c", "coffee")
    assert due.status[i] == "due" and gone.status[i] == "stopped"
    assert due.p_active[i] > gone.p_active[i]
    assert due.p_within_14d[i] > 0.3 > 0.05 > gone.p_within_14d[i]
    early = model(rows, last + 1)[1]
    assert early.supply_left[i] > 0.8 and early.status[i] == "stocked"
    assert due.due_low[i] < last + 14 < due.due_high[i]


def test_consumables_from_the_repeat_share_with_a_type_prior():
    rows = background("soap", gap=15)
    rows += [(f"d{k}", "lamp", 19000 + k, 1) for k in range(40)]  # each buyer once: a durable
    rows += [("x", "new-soap", 19000, 1)]
    types = {"soap": "Soap", "new-soap": "Soap", "lamp": "Lighting"}
    _, fc = model(rows, 19100, types=types)
    assert fc.consumable[one(fc, "bg0", "soap")]
    assert not fc.consumable[one(fc, "d0", "lamp")]
    assert fc.consumable[one(fc, "x", "new-soap")]  # one buyer yet: its type's share decides


def test_unknown_products_fall_back_to_the_shop():
    train = background("milk", gap=10)
    c, p, t, q, o = lines(train)
    priors = fit(purchase_days(c, p, t, q, o))
    c, p, t, q, o = lines([("z", "brand-new", 19000, 1), ("z", "brand-new", 19012, 1)])
    fc = forecast(purchase_days(c, p, t, q, o), priors, 19013)
    assert np.isfinite(fc.due_at).all() and 5 < fc.cycle_days[0] < 20


def test_empty_input():
    days = purchase_days(np.array([]), np.array([]), np.array([]), np.array([]))
    fc = forecast(days, fit(days), 19000.0)
    assert days.n_pairs == 0 and len(fc.due_at) == 0


def test_a_thinly_bought_product_leans_on_its_types_rhythm():
    rows = background("milk", gap=7) + background("cream", gap=7) + background("nails", gap=60, buys=4)
    rows += [("a", "new-milk", 19000, 1), ("b", "new-milk", 19003, 1)]  # no gaps of its own yet
    types = {"milk": "Dairy", "cream": "Dairy", "new-milk": "Dairy", "nails": "Hardware"}
    _, typed = model(rows, 19010, types=types)
    _, untyped = model(rows, 19010)
    i = one(typed, "b", "new-milk")
    assert typed.cycle_days[i] < 10 < untyped.cycle_days[one(untyped, "b", "new-milk")]
