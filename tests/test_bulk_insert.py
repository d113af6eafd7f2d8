"""``app.stores.bulk.insert_rows`` keeps its invariant: a row it inserts is the row ``Model(**values)`` would have
added (every field left out takes the model's default, a default factory called afresh per row), the ids come
back in the rows' order, every kind of value (JSON, times, big integers, None) is stored as given, and
``returning=False`` inserts the same rows without reading ids back. On PostgreSQL the statement's text does not
depend on the row count."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from app.db import session_scope
from app.models.messaging import ConversationMessage, MessageDecision
from app.models.shop import Shop
from app.stores.bulk import insert_rows
from tests.bulk_support import decision_row, statements

IGNORED = {"id", "created_at", "updated_at"}  # the id is the database's, the times a factory's "now"


def _shop(settings) -> int:
    with session_scope(settings.database_url) as s:
        shop = Shop(domain="bulk.myshopify.com")
        s.add(shop)
        s.flush()
        return shop.id


def _columns(row) -> dict:
    return {k: v for k, v in row.model_dump().items() if k not in IGNORED}


def test_bulk_rows_equal_the_orm_rows_and_come_back_in_order(settings):
    shop_id = _shop(settings)
    with session_scope(settings.database_url) as s:
        s.add(MessageDecision(**decision_row(0, shop_id)))
        s.flush()
        ids = insert_rows(s, MessageDecision, [decision_row(n, shop_id) for n in range(1, 6)])
    assert len(ids) == 5 and ids == sorted(ids)
    with session_scope(settings.database_url) as s:
        rows = {r.shopper_key: r for r in s.exec(select(MessageDecision)).all()}
        orm = _columns(rows["customer:0"])
        for n, row_id in enumerate(ids, 1):
            row = rows[f"customer:{n}"]
            assert row.id == row_id
            assert _columns(row) == {**orm, "shopper_key": f"customer:{n}", "dedupe_key": f"browse:{n}"}
            assert row.product_ids == [] and row.features == {}  # factory defaults, one per row


def test_returning_false_inserts_the_rows_without_ids(settings):
    entry = dict(
        shop_id=_shop(settings),
        shopper_key="customer:7",
        direction="out",
        channel="sms",
        summary="Hi",
        status="sent",
    )
    with session_scope(settings.database_url) as s:
        assert (
            insert_rows(s, ConversationMessage, [entry, {**entry, "summary": "Again"}], returning=False) == []
        )
        assert insert_rows(s, ConversationMessage, [], returning=False) == []
    with session_scope(settings.database_url) as s:
        bodies = sorted(r.summary for r in s.exec(select(ConversationMessage)).all())
    assert bodies == ["Again", "Hi"]


def test_every_kind_of_value_comes_back_as_given_in_the_rows_order(settings):
    shop_id = _shop(settings)
    send_at = datetime(2026, 12, 8, 9, 30, 15, 123456, tzinfo=UTC)
    rows = [
        {
            **decision_row(n, shop_id),
            "reason": f'it\'s <b>"{n}"</b> — ünïcode',
            "expected_value": [float("inf"), float("-inf")][n] if n < 2 else 0.125 * n,
            "channel": None if n % 2 else "sms",
            "send_at": send_at if n % 2 else None,
            "customer_shopify_id": 2**40 + n,
            "product_ids": [n, 2**40],
            "features": {"recency_days": n, "nested": {"a": [1, None, "x"]}, "ok": True},
        }
        for n in range(7)
    ]
    with session_scope(settings.database_url) as s:
        ids = insert_rows(s, MessageDecision, rows)
    with session_scope(settings.database_url) as s:
        got = {r.id: r for r in s.exec(select(MessageDecision)).all()}
    for row_id, given in zip(ids, rows, strict=True):
        row = got[row_id]
        assert {k: getattr(row, k) for k in given} == given


def test_on_postgresql_the_statement_is_the_same_text_for_3_rows_as_for_30(settings):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite inserts the rows in one multi-row VALUES, whose text follows the row count")
    shop_id = _shop(settings)
    inserts = statements(settings.database_url, lambda sql: sql.lstrip().upper().startswith("INSERT"))
    with inserts as seen, session_scope(settings.database_url) as s:
        for n in (3, 30):
            insert_rows(s, MessageDecision, [decision_row(k, shop_id) for k in range(n)])
    assert len(seen) == 2 and seen[0] == seen[1]
