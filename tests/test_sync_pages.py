"""A page of the bulk backfill's orders (``upsert_orders``: one transaction, rows read up front, lines inserted
in bulk) ends in the state of the same orders written one by one through ``upsert_order``; pages out of order,
duplicated or retried change nothing; a page never touches another shop; and a page costs the same number of
statements, each on an index, whatever the shop already holds."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlmodel import Session, select
from webhook_support import make_shop

from app.commerce.upserts import upsert_order, upsert_orders
from app.db import get_engine
from app.models.commerce import Customer, Order, OrderLine, Refund, RefundLine

BASE = datetime(2026, 3, 1, tzinfo=UTC)
MODELS = (Customer, Order, OrderLine, Refund, RefundLine)
_shops = itertools.count()


def order(oid: int, version: int, lines: list[int], *, customer: int | None = None, refunds=()) -> dict:
    """Order ``oid`` as of ``version`` (minutes after BASE), with line ids ``oid * 100 + n``."""
    return {
        "id": oid,
        "name": f"#{oid}",
        "financial_status": ["pending", "paid", "refunded"][version % 3],
        "currency": "GBP",
        "total_price": f"{10 * len(lines)}.00",
        "updated_at": (BASE + timedelta(minutes=version)).isoformat(),
        "customer": {"id": customer} if customer else None,
        "line_items": [
            {
                "id": oid * 100 + n,
                "quantity": n + version,
                "price": "2.50",
                "title": f"L{n}",
                "product_id": 7 + n,
            }
            for n in lines
        ],
        "refunds": [
            {
                "id": oid * 10 + r,
                "created_at": BASE.isoformat(),
                "note": f"refund {r}",
                "total_refunded_set": {"shop_money": {"amount": f"{version}.00", "currency_code": "GBP"}},
                "refund_line_items": [{"id": oid * 1000 + r, "line_item_id": oid * 100, "quantity": 1}],
            }
            for r in refunds
        ],
    }


def snapshot(db_url: str, shop_id: int) -> dict:
    out = {}
    with Session(get_engine(db_url)) as s:
        for model in MODELS:
            rows = s.exec(select(model).where(model.shop_id == shop_id)).all()
            out[model.__tablename__] = sorted(
                json.dumps(r.model_dump(exclude={"id", "shop_id"}), sort_keys=True, default=str) for r in rows
            )
    return out


def one_by_one(db_url: str, shop_id: int, orders: list[dict]) -> None:
    for data in orders:
        with Session(get_engine(db_url)) as s:
            upsert_order(s, shop_id, data)
            s.commit()


def paged(db_url: str, shop_id: int, pages: list[list[dict]]) -> None:
    for page in pages:
        with Session(get_engine(db_url)) as s:
            upsert_orders(s, shop_id, page)
            s.commit()


def split(items: list, sizes: list[int]) -> list[list]:
    pages, at = [], 0
    for size in itertools.cycle(sizes or [len(items) or 1]):
        if at >= len(items):
            return pages
        pages.append(items[at : at + size])
        at += size
    return pages


line_sets = st.lists(st.integers(0, 4), max_size=4, unique=True)


@st.composite
def streams(draw):
    """(the versions in order, the same versions shuffled and duplicated, page sizes)."""
    stream = []
    for oid in range(1, draw(st.integers(1, 4)) + 1):
        customer = draw(st.sampled_from([None, 501, 502]))
        for v in range(draw(st.integers(1, 3))):
            refunds = draw(st.lists(st.integers(0, 1), max_size=2, unique=True))
            stream.append(order(oid, v, draw(line_sets), customer=customer, refunds=refunds))
    delivered = draw(st.permutations(stream)) + draw(st.lists(st.sampled_from(stream), max_size=4))
    delivered = draw(st.permutations(delivered))
    return stream, delivered, draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))


@pytest.mark.usefixtures("jobs_env")
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=streams())
def test_pages_in_any_order_end_as_one_by_one(settings, session, case):
    in_order, delivered, sizes = case
    n = next(_shops)
    a = make_shop(session, f"pages-a{n}.myshopify.com")
    b = make_shop(session, f"pages-b{n}.myshopify.com")
    one_by_one(settings.database_url, a.id, in_order)
    paged(settings.database_url, b.id, split(delivered, sizes))
    assert snapshot(settings.database_url, b.id) == snapshot(settings.database_url, a.id)


def test_a_page_equals_its_orders_one_by_one_and_a_retry_changes_nothing(settings, session):
    a = make_shop(session, "page-one-a.myshopify.com")
    b = make_shop(session, "page-one-b.myshopify.com")
    orders = [
        order(1, 0, [0, 1, 2], customer=501, refunds=[0]),
        order(2, 0, [0], customer=501),
        order(1, 2, [1, 3], customer=501, refunds=[0, 1]),  # newer: line 0 and 2 go, 3 comes
        order(1, 1, [0, 4], customer=501),  # older, later in the page: loses
        order(3, 0, [], customer=502),
    ]
    one_by_one(settings.database_url, a.id, orders)
    paged(settings.database_url, b.id, [orders])
    expected = snapshot(settings.database_url, a.id)
    assert snapshot(settings.database_url, b.id) == expected
    assert len(expected["order_line"]) == 3 and len(expected["refund_line"]) == 2
    paged(settings.database_url, b.id, [orders[::-1], orders])  # the page again, reversed, then retried
    assert snapshot(settings.database_url, b.id) == expected


def test_a_page_on_top_of_webhooks_keeps_the_newer_version(settings, session):
    shop = make_shop(session, "page-after-hooks.myshopify.com")
    one_by_one(settings.database_url, shop.id, [order(1, 5, [0, 1]), order(2, 0, [0, 1, 2])])
    paged(settings.database_url, shop.id, [[order(1, 3, [2]), order(2, 4, [2, 3])]])
    with Session(get_engine(settings.database_url)) as s:
        lines = s.exec(select(OrderLine.shopify_id).where(OrderLine.shop_id == shop.id)).all()
    assert sorted(lines) == [100, 101, 202, 203]  # order 1 kept v5's lines, order 2 took v4's


def test_a_page_is_scoped_by_shop(settings, session):
    a = make_shop(session, "page-scope-a.myshopify.com")
    b = make_shop(session, "page-scope-b.myshopify.com")
    one_by_one(settings.database_url, a.id, [order(1, 9, [0, 1], customer=501, refunds=[0])])
    before = snapshot(settings.database_url, a.id)
    paged(settings.database_url, b.id, [[order(1, 0, [2], customer=501, refunds=[0])]])
    assert snapshot(settings.database_url, a.id) == before
    after = snapshot(settings.database_url, b.id)
    assert len(after["shop_order"]) == 1 and len(after["order_line"]) == 1 and len(after["refund_line"]) == 1


def _statements(engine):
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)


def test_statements_per_page_stay_flat_as_the_shop_grows(settings, session):
    """Every page of 25 new orders (27 lines each, of customers seen before, one in five with a refund) costs
    the same statements however many orders the shop holds: one read per table and one insert for all the
    lines, plus one insert per new order and refund row where the ORM cannot batch them (SQLite), never one per
    line; on SQLite each read searches an index."""
    shop = make_shop(session, "page-flat.myshopify.com")
    engine = get_engine(settings.database_url)
    per_page, reads = [], []
    for page in range(12):
        orders = [
            order(
                page * 25 + i + 1,
                0,
                list(range(27)),
                customer=500 + i,
                refunds=[0] * (i % 5 == 0),
            )
            for i in range(25)
        ]
        seen, stop = _statements(engine)
        paged(settings.database_url, shop.id, [orders])
        stop()
        per_page.append(len(seen))
        reads += [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(set(per_page[1:])) == 1, per_page  # once the customers exist, every page alike
    assert per_page[-1] <= 25 + 2 * 5 + 6, per_page  # not one per line (675)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            for statement, params in reads[-8:]:
                plan = [str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
                assert all(step.startswith("SEARCH") for step in plan), (statement, plan)
