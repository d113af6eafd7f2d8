"""``app.stores.bulk.insert_rows`` keeps its invariant: a row it inserts is the row ``Model(**values)`` would have
added (every field left out takes the model's default, a default factory called afresh per row), the ids come
back in the rows' order, and ``returning=False`` inserts the same rows without reading ids back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from app.db import session_scope
from app.models.messaging import ConversationMessage, MessageDecision
from app.models.shop import Shop
from app.stores.bulk import insert_rows

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
IGNORED = {"id", "created_at", "updated_at"}  # the id is the database's, the times a factory's "now"


def _shop(settings) -> int:
    with session_scope(settings.database_url) as s:
        shop = Shop(domain="bulk.myshopify.com")
        s.add(shop)
        s.flush()
        return shop.id


def _decision(n: int, shop_id: int) -> dict:
    return dict(
        shop_id=shop_id,
        agent="browse_abandonment",
        shopper_key=f"customer:{n}",
        purpose="marketing",
        action="send",
        arm="treated",
        reason="fits the budget",
        proposal_reason="viewed twice",
        expected_value=1.0,
        dedupe_key=f"browse:{n}",
        template="message",
        decided_at=NOW,
    )


def _columns(row) -> dict:
    return {k: v for k, v in row.model_dump().items() if k not in IGNORED}


def test_bulk_rows_equal_the_orm_rows_and_come_back_in_order(settings):
    shop_id = _shop(settings)
    with session_scope(settings.database_url) as s:
        s.add(MessageDecision(**_decision(0, shop_id)))
        s.flush()
        ids = insert_rows(s, MessageDecision, [_decision(n, shop_id) for n in range(1, 6)])
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
