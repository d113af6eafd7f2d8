"""``app.stores.bulk.update_rows``: each row gets its own new values (None keeps the row's own), only where the
condition holds, with the shared values; it returns how many rows changed; and its statement's text is the same
for 3 rows as for 30 (so the driver and PostgreSQL reuse the parsed, prepared form). On both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event
from sqlmodel import select

from app.db import get_engine, session_scope
from app.models.messaging import MessageDecision
from app.models.shop import Shop
from app.stores.bulk import insert_rows, update_rows

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
T = MessageDecision.__table__


def _decisions(settings, n: int) -> tuple[int, list[int]]:
    with session_scope(settings.database_url) as s:
        shop = Shop(domain="bulk-update.myshopify.com")
        s.add(shop)
        s.flush()
        rows = [
            dict(
                shop_id=shop.id,
                agent="browse_abandonment",
                shopper_key=f"customer:{k}",
                purpose="marketing",
                action="send",
                arm="treated",
                channel="email",
                reason="fits the budget",
                proposal_reason="viewed",
                dedupe_key=f"browse:{k}",
                template="message",
                decided_at=NOW,
                send_at=NOW,
            )  # fmt: skip
            for k in range(n)
        ]
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
            where=(T.c.shop_id == shop_id,),
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
        changed = update_rows(
            s,
            T,
            "id",
            [{"id": i, "reason": "changed"} for i in ids],
            where=(T.c.shop_id == shop_id, T.c.dedupe_key != "browse:1"),
        )
        assert update_rows(s, T, "id", []) == 0
    assert changed == 2
    assert [r.reason for _, r in sorted(_read(settings, ids).items())] == [
        "changed",
        "fits the budget",
        "changed",
    ]


def test_the_statement_is_the_same_text_for_3_rows_as_for_30(settings):
    shop_id, ids = _decisions(settings, 30)
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("UPDATE"):
            seen.append(statement)

    engine = get_engine(settings.database_url)
    event.listen(engine, "before_cursor_execute", record)
    try:
        for batch in (ids[:3], ids):
            with session_scope(settings.database_url) as s:
                update_rows(
                    s, T, "id", [{"id": i, "reason": f"r{i}"} for i in batch], where=(T.c.shop_id == shop_id,)
                )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(seen) == 2 and seen[0] == seen[1]
    assert {r.reason for r in _read(settings, ids).values()} == {f"r{i}" for i in ids}
