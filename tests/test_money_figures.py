"""The money figures against Shopify's semantics, with Shopify's own sample payloads.

What a customer spent is, per live order (neither cancelled nor test), ``total_price`` in shop money
(``total_price_set.shop_money``: after discounts, shipping and taxes in, before returns) less the money the
order's refunds gave back: their successful ``refund`` transactions, never the refund lines' subtotals.
Never below 0 per order; amounts in different currencies are never added.

The samples (``../shared/fixtures/shopify/webhooks``) imply:

- ``orders/create``: order 820982911946154508 of customer 115310627314723954, ``total_price`` 404.95
  (414.95 of lines + 10.00 shipping − 20.00 discounts), but ``test: true`` and ``cancelled_at`` set:
  as published it counts for nothing.
- ``refunds/create`` of that order: 5 lines (89.99 + 19.99 + 24.99 + 159.99 + 119.99 = 414.95, what the
  returned products were worth) and 2 successful refund transactions, 75.00 + 10.00 = 85.00: the money
  returned.

So the same order as a real, live order, refunded by the same refund, leaves 404.95 − 85.00 = 319.95 spent.
"""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from conftest import FIXTURES, needs_shared
from fixtures_shopify import make_session_token
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlmodel import Session, select
from webhook_support import apply_each, deliver, make_shop, run_jobs

from app.commerce import bulk
from app.commerce.upserts import insert_refund, upsert_order
from app.commerce.values import refund_money
from app.db import get_engine
from app.models.commerce import Order, Refund, RefundLine
from app.models.profiles import CustomerProfile
from app.profiles.adapters import purchase_history, rfm_input
from app.profiles.explicit import OrderRec, RefundRec, net_spend, summarize
from app.stores.catalog import shop_currency
from app.stores.customer_records import customer_orders, explicit_records
from app.stores.shop_models import purchase_profiles
from app.web.admin_lift import purchases
from app.web.admin_records import customer_record

SAMPLES = FIXTURES / "webhooks"
CUSTOMER = 115310627314723954
ORDER = 820982911946154508
ALPHA = "alpha.myshopify.com"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def live_copy(order: dict[str, Any], offset: int, **changes: Any) -> dict[str, Any]:
    """The sample order as a real (not test), paid, not cancelled order; order and line ids moved by ``offset``."""
    o = copy.deepcopy(order)
    o.update(id=o["id"] + offset, test=False, cancelled_at=None, cancel_reason=None, financial_status="paid")
    o["admin_graphql_api_id"] = f"gid://shopify/Order/{o['id']}"
    for line in o["line_items"]:
        line["id"] += offset
    o.update(changes)
    return o


def refund_of(refund: dict[str, Any], offset: int) -> dict[str, Any]:
    """The sample refund, against the order ``live_copy(..., offset)`` made (every id moved by ``offset``)."""
    r = copy.deepcopy(refund)
    r["id"] += offset
    r["order_id"] += offset
    for rl in r["refund_line_items"]:
        rl["id"] += offset
        rl["line_item_id"] += offset
        rl["line_item"]["id"] += offset
    for t in r["transactions"]:
        t["id"] += offset
        t["order_id"] += offset
    return r


def _in_euros(refund: dict[str, Any]) -> dict[str, Any]:
    """The refund as Shopify sends it for a buyer paying in EUR in a USD shop (2 EUR to the USD): transactions
    in EUR, every money bag with its shop (USD) and presentment (EUR) amounts."""
    r = copy.deepcopy(refund)
    bags = [r["total_duties_set"]] + [
        rl[k] for rl in r["refund_line_items"] for k in ("subtotal_set", "total_tax_set")
    ]
    for bag in bags:
        shop = Decimal(bag["shop_money"]["amount"])
        bag["presentment_money"] = {"amount": f"{shop * 2:.2f}", "currency_code": "EUR"}
    for t in r["transactions"]:
        t.update(amount=f"{Decimal(t['amount']) * 2:.2f}", currency="EUR")
    return r


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {make_session_token(ALPHA)}"}


def _deliver_all(client, settings, deliveries: list[tuple[str, dict[str, Any]]]) -> None:
    for topic, payload in deliveries:
        assert deliver(client, topic, payload).json["status"] == "accepted"
    run_jobs(settings.redis_url)


def _explicit(session: Session, shop_id: int, customer: int = CUSTOMER) -> dict[str, Any]:
    key = f"customer:{customer}"
    records = explicit_records(session, shop_id, key, customer_orders(session, shop_id, customer))
    return summarize(*records, now=NOW)


# --- the samples, through the real webhook path -----------------------------------------------------------


@needs_shared(SAMPLES)
@pytest.mark.usefixtures("jobs_env")
def test_sample_refund_gives_back_its_transactions_not_its_lines(settings, client, session):
    shop = make_shop(session)
    _deliver_all(client, settings, [("orders/create", sample("orders__create.json"))])
    _deliver_all(client, settings, [("refunds/create", sample("refunds__create.json"))])
    refund = session.exec(select(Refund)).one()
    assert (refund.order_shopify_id, refund.amount, refund.currency) == (ORDER, Decimal("85.00"), "USD")
    lines = session.exec(select(RefundLine)).all()
    assert len(lines) == 5 and sum(ln.subtotal for ln in lines) == Decimal("414.95")  # which products
    # As published the order is a test order, and cancelled: it counts for nothing, nor does its refund.
    record = client.get(f"/api/admin/customers/{CUSTOMER}", headers=_auth()).json
    assert (record["orders_count"], record["total_spent"], record["returns_count"]) == (0, "0.00", 0)
    assert _explicit(session, shop.id)["orders"]["spent"] == 0.0


@needs_shared(SAMPLES)
@pytest.mark.usefixtures("jobs_env")
def test_sample_order_live_and_refunded_spends_404_95_less_85_00(settings, client, session):
    shop = make_shop(session)
    order, refund = live_copy(sample("orders__create.json"), 1), refund_of(sample("refunds__create.json"), 1)
    # the refund first: it waits for its order
    _deliver_all(client, settings, [("refunds/create", refund), ("orders/create", order)])

    record = client.get(f"/api/admin/customers/{CUSTOMER}", headers=_auth()).json
    assert record["orders_count"] == 1 and record["returns_count"] == 1
    assert (record["total_spent"], record["currency"]) == ("319.95", "USD")  # 404.95 − (75.00 + 10.00)

    session.expire_all()
    profile = session.exec(
        select(CustomerProfile).where(CustomerProfile.customer_key == f"customer:{CUSTOMER}")
    )
    explicit = profile.one().explicit  # written by the profile refresh the deliveries queued
    orders = explicit["orders"]
    assert (orders["count"], orders["spent"], orders["average_order_value"]) == (1, 319.95, 319.95)
    assert orders["currency"] == "USD" and orders["with_discount"] == 1  # total_discounts 20.00
    assert explicit["returns"] == {"count": 1, "amount": 85.0, "rate": 1.0}
    assert explicit["units"]["returned"] == 5 and explicit["units"]["bought"] == 5
    assert explicit["history"]["net_spend"] == 319.95 and explicit["history"]["orders"] == 1

    # CLV / RFM inputs and the bulk path for model fitting say the same
    assert purchase_history({"explicit": explicit}, NOW).total_spend == pytest.approx(319.95)
    rfm = rfm_input({"explicit": explicit}, NOW)
    assert rfm is not None and (rfm.orders, rfm.spend) == (1, pytest.approx(319.95))
    fitted = purchase_profiles(session, shop.id)[CUSTOMER]["explicit"]["history"]
    assert fitted["net_spend"] == 319.95 and fitted["orders"] == 1

    # lift revenue: the same order, net of the same refund
    since = datetime(2021, 1, 1, tzinfo=UTC)
    (bought,) = purchases(session, shop.id, {f"customer:{CUSTOMER}"}, since)
    assert bought.revenue == pytest.approx(319.95)


@needs_shared(SAMPLES)
@pytest.mark.usefixtures("jobs_env")
def test_a_cancelled_orders_refund_is_not_taken_off_the_other_orders(settings, client, session):
    """The outside check: one live 404.95 order, plus the sample order and its refund, ended at −10.00."""
    shop = make_shop(session)
    published, refund = sample("orders__create.json"), sample("refunds__create.json")
    cancelled = live_copy(published, 2, cancelled_at="2022-01-02T10:00:00-05:00", cancel_reason="customer")
    _deliver_all(
        client,
        settings,
        [
            ("orders/create", published),  # test and cancelled
            ("refunds/create", refund),
            ("orders/create", live_copy(published, 1)),  # the live 404.95 order, not refunded
            ("orders/create", live_copy(published, 2)),  # a real order, later cancelled and refunded
            ("orders/cancelled", cancelled | {"updated_at": "2022-01-02T10:00:00-05:00"}),
            ("refunds/create", refund_of(refund, 2)),
        ],
    )
    record = client.get(f"/api/admin/customers/{CUSTOMER}", headers=_auth()).json
    assert (record["orders_count"], record["total_spent"], record["returns_count"]) == (1, "404.95", 0)
    explicit = _explicit(session, shop.id)
    assert explicit["orders"]["spent"] == 404.95 and explicit["orders"]["cancelled"] == 1
    assert explicit["returns"] == {"count": 0, "amount": 0.0, "rate": 0.0}
    assert explicit["history"]["net_spend"] == 404.95
    assert purchase_profiles(session, shop.id)[CUSTOMER]["explicit"]["history"]["net_spend"] == 404.95
    since = datetime(2021, 1, 1, tzinfo=UTC)
    assert [p.revenue for p in purchases(session, shop.id, {f"customer:{CUSTOMER}"}, since)] == [404.95]


# --- a refund's money ------------------------------------------------------------------------------------


@needs_shared(SAMPLES)
def test_refund_money_counts_successful_refund_transactions_only():
    refund = sample("refunds__create.json")
    assert refund_money(refund) == (Decimal("85.00"), "USD")
    for change in ({"status": "pending"}, {"status": "failure"}, {"status": "error"}, {"kind": "sale"}):
        r = copy.deepcopy(refund)
        r["transactions"][1].update(change)
        assert refund_money(r) == (Decimal("75.00"), "USD"), change
    assert refund_money(refund | {"transactions": []}) == (Decimal("0.00"), "USD")  # nothing given back
    no_money = {k: v for k, v in refund.items() if k != "transactions"}
    assert refund_money(no_money) == (None, None)  # nothing said about the money: not known


@needs_shared(SAMPLES)
def test_refund_money_converts_presentment_transactions_to_shop_money():
    """A EUR buyer in a USD shop: transactions are in EUR, the refund's money bags give Shopify's rate."""
    refund = _in_euros(sample("refunds__create.json"))
    assert [t["amount"] for t in refund["transactions"]] == ["150.00", "20.00"]
    assert refund_money(refund) == (Decimal("85.00"), "USD")  # 170.00 EUR at 0.50 USD per EUR
    refund["transactions"][0]["amount_set"] = {"shop_money": {"amount": "70.00", "currency_code": "USD"}}
    assert refund_money(refund) == (Decimal("80.00"), "USD")  # a shop-money amount is used as it is
    refund["transactions"][0].pop("amount_set")
    refund["transactions"][0]["currency"] = "GBP"  # neither the shop's nor the buyer's currency
    assert refund_money(refund) == (None, None)


@needs_shared(SAMPLES)
@pytest.mark.parametrize("pending_first", [True, False])
def test_a_refund_delivered_twice_merges_pending_then_successful(session, settings, pending_first):
    """refunds/create while a transaction is pending, then the order update embedding it, settled."""
    shop = make_shop(session)
    order, refund = live_copy(sample("orders__create.json"), 1), refund_of(sample("refunds__create.json"), 1)
    pending = copy.deepcopy(refund)
    pending["transactions"][0]["status"] = "pending"
    later = order | {"updated_at": "2022-01-03T10:00:00-05:00", "refunds": [refund]}
    steps = [(insert_refund, pending), (upsert_order, later)]
    for write, payload in (steps if pending_first else steps[::-1]) * 2:
        write(session, shop.id, payload)
        session.commit()
    row = session.exec(select(Refund)).one()
    assert (row.amount, row.currency) == (Decimal("85.00"), "USD")
    assert len(session.exec(select(RefundLine)).all()) == 5


def test_a_bulk_refund_carries_its_total_and_later_versions_add_its_lines(session, settings):
    shop = make_shop(session)
    node = {
        "id": "gid://shopify/Order/77",
        "currencyCode": "CAD",
        "test": False,
        "updatedAt": "2026-05-01T10:00:00Z",
        "processedAt": "2026-05-01T10:00:00Z",
        "customer": {"id": "gid://shopify/Customer/5"},
        "totalPriceSet": {"shopMoney": {"amount": "50.00", "currencyCode": "CAD"}},
        "refunds": [
            {
                "id": "gid://shopify/Refund/88",
                "createdAt": "2026-05-02T10:00:00Z",
                "totalRefundedSet": {"shopMoney": {"amount": "12.50", "currencyCode": "CAD"}},
            }
        ],
    }
    line = {"id": "gid://shopify/LineItem/99", "quantity": 1, "product": {"id": "gid://shopify/Product/3"}}
    upsert_order(session, shop.id, bulk.order(node, [line]))
    session.commit()
    assert (session.exec(select(Refund)).one().amount, session.exec(select(Refund)).one().currency) == (
        Decimal("12.50"),
        "CAD",
    )
    webhook = {
        "id": 88,
        "order_id": 77,
        "refund_line_items": [{"id": 66, "line_item_id": 99, "quantity": 1, "line_item": {"product_id": 3}}],
        "transactions": [{"kind": "refund", "status": "success", "amount": "12.50", "currency": "CAD"}],
    }
    insert_refund(session, shop.id, webhook)
    session.commit()
    assert [ln.order_line_shopify_id for ln in session.exec(select(RefundLine))] == [99]
    assert session.exec(select(Refund)).one().amount == Decimal("12.50")
    assert customer_record(session, shop.id, 5)["total_spent"] == "37.50"


# --- currencies ---------------------------------------------------------------------------------------------


@needs_shared(SAMPLES)
def test_shop_money_is_used_and_currencies_are_not_added(session, settings):
    """A EUR buyer in a USD shop: the order's shop-money amounts, its EUR refund converted. An older order of
    the shop's former currency (CAD) is not added to the USD figures."""
    shop = make_shop(session)
    order = live_copy(sample("orders__create.json"), 1, presentment_currency="EUR")
    for key in ("total_price", "subtotal_price", "total_discounts"):
        bag = order[f"{key}_set"]
        bag["presentment_money"] = {
            "amount": f"{Decimal(bag['shop_money']['amount']) * 2:.2f}",
            "currency_code": "EUR",
        }
        order[key] = bag["presentment_money"][
            "amount"
        ]  # were a plain field in EUR, shop money would still win
    refund = _in_euros(refund_of(sample("refunds__create.json"), 1))  # 150.00 + 20.00 EUR
    older = live_copy(sample("orders__create.json"), 3, currency="CAD", processed_at="2021-06-01T10:00:00Z")
    older["total_price_set"] = {"shop_money": {"amount": "999.00", "currency_code": "CAD"}}
    for payload in (older, order):
        upsert_order(session, shop.id, payload)
    insert_refund(session, shop.id, refund)
    session.commit()
    refund_row = session.exec(select(Refund)).one()
    assert (refund_row.amount, refund_row.currency) == (Decimal("85.00"), "USD")
    record = customer_record(session, shop.id, CUSTOMER)
    assert (record["orders_count"], record["total_spent"], record["currency"]) == (2, "319.95", "USD")
    explicit = _explicit(session, shop.id)["orders"]
    assert (explicit["spent"], explicit["average_order_value"], explicit["currency"]) == (
        319.95,
        319.95,
        "USD",
    )


def test_one_rule_for_the_shops_currency_its_latest_real_order(session, settings):
    """A shop that changed currency is in the new one from its next order on (three older CAD orders, one newer
    USD order); a newer test order in EUR is not the shop's. Lists, the ranker and the lift page share the rule."""
    shop = make_shop(session)
    assert shop_currency(session, shop.id) == "USD"  # no orders yet: the default
    for n, (currency, days_ago, test) in enumerate(
        [("CAD", 30, False), ("CAD", 20, False), ("CAD", 10, False), ("USD", 5, False), ("EUR", 1, True)]
    ):
        session.add(
            Order(
                shop_id=shop.id,
                shopify_id=7000 + n,
                currency=currency,
                test=test,
                processed_at=BASE + timedelta(days=60 - days_ago),
                total_price=Decimal("10.00"),
            )
        )
    session.commit()
    assert shop_currency(session, shop.id) == "USD"


# --- properties ---------------------------------------------------------------------------------------------

_shops = itertools.count()
BASE = datetime(2026, 3, 1, tzinfo=UTC)
PROP_CUSTOMER = 9_120_000_000_000_000_001
LIVE, CANCELLED, TEST = 9_120_000_000_000_000_010, 9_120_000_000_000_000_020, 9_120_000_000_000_000_030


def _order(oid: int, version: int, total: int, **extra: Any) -> tuple[str, dict[str, Any]]:
    at = (BASE + timedelta(days=oid % 7)).isoformat()
    payload = {
        "id": oid,
        "currency": "USD",
        "total_price": f"{total}.00",
        "total_price_set": {"shop_money": {"amount": f"{total}.00", "currency_code": "USD"}},
        "created_at": at,
        "processed_at": at,
        "updated_at": (BASE + timedelta(days=10, minutes=version)).isoformat(),
        "customer": {"id": PROP_CUSTOMER, "updated_at": None},
        "line_items": [{"id": oid + 1, "quantity": 1, "price": f"{total}.00", "product_id": 5}],
    }
    payload.update(extra)
    return ("orders/updated" if version else "orders/create"), payload


def _refund(rid: int, oid: int, amounts: list[tuple[int, str]]) -> dict[str, Any]:
    return {
        "id": rid,
        "order_id": oid,
        "created_at": (BASE + timedelta(days=9)).isoformat(),
        "refund_line_items": [
            {"id": rid + 1, "line_item_id": oid + 1, "quantity": 1, "line_item": {"id": oid + 1}}
        ],
        "transactions": [
            {
                "id": rid + 2 + i,
                "kind": "refund",
                "status": status,
                "amount": f"{amount}.00",
                "currency": "USD",
            }
            for i, (amount, status) in enumerate(amounts)
        ],
    }


statuses = st.sampled_from(["success", "success", "pending", "failure"])
amounts = st.integers(0, 300)


@st.composite
def order_histories(draw):
    """(in-order deliveries, the same shuffled with duplicates, the spend they imply)."""
    first, edited = draw(amounts), draw(amounts)
    settled = [(draw(amounts), draw(statuses)) for _ in range(draw(st.integers(1, 3)))]
    pending = [(a, "pending") for a, _ in settled]  # refunds/create came while the transactions were pending
    late = [(draw(amounts), "success")]
    refund_a, refund_b = _refund(LIVE + 100, LIVE, settled), _refund(LIVE + 200, LIVE, late)
    cancelled_total = draw(amounts)
    stream = [
        _order(LIVE, 0, first),
        ("refunds/create", _refund(LIVE + 100, LIVE, pending)),
        _order(LIVE, 1, edited, refunds=[refund_a]),  # an edit, embedding the refund as it settled
        ("refunds/create", refund_b),
        _order(CANCELLED, 0, cancelled_total),
        ("refunds/create", _refund(CANCELLED + 100, CANCELLED, [(draw(amounts), "success")])),
        _order(CANCELLED, 1, cancelled_total, cancelled_at=(BASE + timedelta(days=10)).isoformat()),
        _order(TEST, 0, draw(amounts), test=True),
        ("refunds/create", _refund(TEST + 100, TEST, [(draw(amounts), "success")])),
    ]
    shuffled = draw(st.permutations(stream))
    dupes = draw(st.lists(st.sampled_from(stream), max_size=5))
    positions = draw(st.lists(st.integers(0, len(shuffled)), min_size=len(dupes), max_size=len(dupes)))
    delivered = list(shuffled)
    for item, pos in zip(dupes, positions, strict=True):
        delivered.insert(pos, item)
    returned = sum(a for a, s in settled if s == "success") + late[0][0]
    return stream, delivered, max(edited - returned, 0)


def _figures(db_url: str, shop_id: int) -> tuple[Any, ...]:
    with Session(get_engine(db_url)) as s:
        record = customer_record(s, shop_id, PROP_CUSTOMER)
        explicit = _explicit(s, shop_id, PROP_CUSTOMER)
        fitted = purchase_profiles(s, shop_id)[PROP_CUSTOMER]["explicit"]["history"]
        revenue = sum(p.revenue for p in purchases(s, shop_id, {f"customer:{PROP_CUSTOMER}"}, BASE))
    orders = explicit["orders"]
    return (
        record["total_spent"],
        record["orders_count"],
        record["returns_count"],
        orders["spent"],
        orders["count"],
        orders["average_order_value"],
        explicit["returns"],
        explicit["history"],
        fitted["net_spend"],
        round(revenue, 2),
    )


@pytest.mark.usefixtures("jobs_env")
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=order_histories())
def test_spend_is_never_negative_and_ignores_delivery_order_and_duplicates(settings, session, history):
    in_order, delivered, spend = history
    n = next(_shops)
    a = make_shop(session, f"money-a{n}.myshopify.com")
    b = make_shop(session, f"money-b{n}.myshopify.com")
    apply_each(settings.database_url, a.id, a.domain, in_order)
    apply_each(settings.database_url, b.id, b.domain, delivered)
    figures = _figures(settings.database_url, a.id)
    assert _figures(settings.database_url, b.id) == figures
    total_spent, orders_count, returns_count, spent, count, aov, returns, days, fitted, revenue = figures
    assert Decimal(total_spent) == spend >= 0  # the live order, net of its settled refunds; nothing else
    assert spent == fitted == days["net_spend"] == revenue == spend
    assert (orders_count, count, returns_count, returns["count"], aov) == (1, 1, 2, 2, spend)


_recs = st.builds(
    OrderRec,
    order_id=st.integers(1, 6),
    name=st.none(),
    at=st.just(BASE),
    currency=st.sampled_from(["USD", "USD", "EUR", None]),
    total=st.floats(0, 1000, allow_nan=False).map(lambda x: round(x, 2)),
    discounts=st.just(0.0),
    cancelled=st.booleans(),
)
_refund_recs = st.builds(
    RefundRec,
    order_id=st.integers(1, 8),
    at=st.just(BASE),
    amount=st.floats(0, 1500, allow_nan=False).map(lambda x: round(x, 2)),
    quantity=st.integers(0, 2),
    currency=st.sampled_from(["USD", "EUR", None]),
)


@hsettings(max_examples=300, deadline=None)
@given(
    orders=st.lists(_recs, max_size=6, unique_by=lambda o: o.order_id),
    refunds=st.lists(_refund_recs, max_size=8),
    seed=st.randoms(use_true_random=False),
)
def test_net_spend_is_never_negative_and_ignores_record_order(orders, refunds, seed):
    live = [o for o in orders if not o.cancelled]
    spend = net_spend(live, refunds)
    assert spend.spent >= 0 and all(v >= 0 for v in spend.net.values())
    assert set(spend.net) <= {o.order_id for o in live}
    assert all(
        o.currency in (None, spend.currency) or spend.currency is None
        for o in live
        if o.order_id in spend.net
    )
    shuffled = list(refunds)
    seed.shuffle(shuffled)
    assert net_spend(live, shuffled).net == pytest.approx(spend.net)
    summary = summarize(orders, refunds, [], [], NOW)["orders"]
    assert (
        summary["spent"] >= 0
        and summary["spent"] == summarize(orders, shuffled, [], [], NOW)["orders"]["spent"]
    )
