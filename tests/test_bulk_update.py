"""``app.stores.bulk.update_rows``: each row gets its own new values (None keeps the row's own), only where the
condition holds, with the shared values; it returns how many rows changed; and its statement's text is the same
for 3 rows as for 30 (so the driver and PostgreSQL reuse the parsed, prepared form). On both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import session_scope
from app.models.messaging import MessageDecision
from app.models.shop import Shop
from app.stores.bulk import insert_rows, update_rows
from tests.bulk_support import NOW, decision_row, statements

T = MessageDecision.__table__


def _decisions(settings, n: int) -> tuple[int, list[int]]:
    with session_scope(settings.database_url) as s:
        shop = Shop(domain="bulk-update.myshopify.com")
        s.add(shop)
        s.flush()
        rows = [decision_row(k, shop.id, channel="email", send_at=NOW) for k in range(n)]
        return shop.id, insert_rows(s, MessageDecision, rows)


def _read(settings, ids: list[int]) -> dict[int, MessageDecision]:
    with session_scope(settings.database_url) as s:
        rows = s.exec(select(MessageDecision).where(MessageDecision.id.in_(ids))).all()
        for row in rows:
            s.expunge(row)
        return {r.id: r for r in rows}


def test_each_row_takes_its_own_values_and_none_keeps_the_rows_own(settings):
    shop_id, ids = _decisions(settings, 4)
    later = NOW + timedelta(hours=3, microseconds=123456)
    with session_scope(settings.database_url) as s:
        changed = update_rows(
            s,
            T,
            "id",
            [
                {"id": ids[0], "reason": "quiet hours", "channel": "sms", "send_at": later},
                {"id": ids[1], "reason": "budget spent", "channel": None, "send_at": None},
                {
                    "id": ids[2],
                    "reason": 'it\'s <b>"quoted"</b> — ünïcode',
                    "channel": "push",
                    "send_at": None,
                },
            ],
            where={"shop_id": shop_id},
            also={"action": "defer"},
        )
    assert changed == 3
    rows = _read(settings, ids)
    assert (rows[ids[0]].reason, rows[ids[0]].channel, rows[ids[0]].send_at) == ("quiet hours", "sms", later)
    assert (rows[ids[1]].reason, rows[ids[1]].channel, rows[ids[1]].send_at) == ("budget spent", "email", NOW)
    assert rows[ids[2]].reason == 'it\'s <b>"quoted"</b> — ünïcode' and rows[ids[2]].channel == "push"
    assert [rows[i].action for i in ids] == ["defer", "defer", "defer", "send"]  # the fourth was not named
    assert rows[ids[3]].reason == "fits the budget"


def test_rows_the_condition_excludes_are_left_alone_and_not_counted(settings):
    shop_id, ids = _decisions(settings, 3)
    with session_scope(settings.database_url) as s:
        assert update_rows(s, T, "id", [{"id": ids[1], "channel": "sms"}]) == 1
        changed = update_rows(
            s,
            T,
            "id",
            [{"id": i, "reason": "changed"} for i in ids],
            where={"shop_id": shop_id, "channel": "email"},
        )
        assert update_rows(s, T, "id", [{"id": ids[1], "reason": "x"}], where={"shop_id": shop_id + 1}) == 0
        assert update_rows(s, T, "id", []) == 0
    assert changed == 2
    assert [r.reason for _, r in sorted(_read(settings, ids).items())] == [
        "changed",
        "fits the budget",
        "changed",
    ]


def test_the_statement_is_the_same_text_for_3_rows_as_for_30(settings):
    shop_id, ids = _decisions(settings, 30)
    with statements(settings.database_url, lambda sql: sql.lstrip().upper().startswith("UPDATE")) as seen:
        for batch in (ids[:3], ids):
            with session_scope(settings.database_url) as s:
                rows = [{"id": i, "reason": f"r{i}"} for i in batch]
                update_rows(s, T, "id", rows, where={"shop_id": shop_id})
    assert len(seen) == 2 and seen[0] == seen[1]
    assert {r.reason for r in _read(settings, ids).values()} == {f"r{i}" for i in ids}
