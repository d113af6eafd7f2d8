"""The relay in batches: one job per shop and channel sends every due row over one connection and records the
outcomes together, without giving up what the one-row relay promised (each row sent at most once, a failure
confined to its own row, a relay killed mid-batch never sending anything twice)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlmodel import select

from app import tasks
from app.channels.base import Sender
from app.channels.email import EmailChannel, SmtpTarget
from app.channels.email_loopback import LoopbackSmtp
from app.db import session_scope
from app.jobs import outbox as relay
from app.models.messaging import OutboxMessage
from app.orchestrator.proposal import Content, Shopper
from app.stores import outbox as outbox_store
from app.stores import outbox_rows
from tests import email_support
from tests.bulk_support import statements
from tests.email_support import NOW, decide, kill_relay_mid_send, proposal
from tests.messaging_support import add_subscribed_customer

smtp = email_support.smtp  # fixtures
shop_id = email_support.shop_id
no_holdout = email_support.no_holdout
pytestmark = pytest.mark.usefixtures("no_holdout")  # every message is treated, none held out
SHOPPERS = (11, 12, 13, 14, 15)


def _subscribed(settings, shop_id: int, customer_ids=SHOPPERS) -> None:
    with session_scope(settings.database_url) as s:
        for cid in customer_ids:
            since = NOW - timedelta(days=30)
            add_subscribed_customer(
                s, shop_id, "email", since, cid, email=f"c{cid}@example.com", first_name=f"C{cid}"
            )


def _reminders(shop_id: int, customer_ids=SHOPPERS, **kw):
    return [
        proposal(shop_id, shopper=Shopper(customer_id=cid), dedupe_key=f"browse:{cid}:42", **kw)
        for cid in customer_ids
    ]


def _rows(settings, shop_id: int) -> list[OutboxMessage]:
    with session_scope(settings.database_url) as s:
        return list(
            s.exec(
                select(OutboxMessage).where(OutboxMessage.shop_id == shop_id).order_by(OutboxMessage.id)
            ).all()
        )


def test_one_job_per_shop_and_channel_sends_every_due_row_over_one_connection(jobs_env, shop_id, smtp):
    _subscribed(jobs_env, shop_id)
    decide(jobs_env, *_reminders(shop_id))
    queued = Queue("default", connection=Redis.from_url(jobs_env.redis_url)).job_ids
    assert queued == [tasks.relay_job_id(shop_id, "email")]  # five decisions, one waiting relay job

    assert relay.relay_due(shop_id, "email", now=NOW) == {"sent": 5}
    assert sorted(r.rcpt_tos[0] for r in smtp.messages) == [f"c{c}@example.com" for c in SHOPPERS]
    assert smtp.handler.connections == 1
    rows = _rows(jobs_env, shop_id)
    assert {r.status for r in rows} == {"sent"} and len({r.provider_id for r in rows}) == 5
    assert all(r.attempts == 1 for r in rows)
    assert relay.relay_due(shop_id, "email", now=NOW) == {}  # nothing left: a second run sends nothing
    assert len(smtp.messages) == 5


def test_a_failing_row_fails_alone_and_the_batch_goes_on(jobs_env, shop_id, smtp):
    """The middle row's subject carries a header injection (refused while rendering): it fails with its reason,
    the rows before and after it go out, the second over a fresh connection."""
    _subscribed(jobs_env, shop_id, (11, 12, 13))
    good, _, other = _reminders(shop_id, (11, 12, 13))
    evil = proposal(
        shop_id,
        shopper=Shopper(customer_id=12),
        dedupe_key="browse:12:42",
        content=Content(
            "message",
            {"subject": "Hi\r\nBcc: everyone@example.com", "heading": "x", "paragraphs": [], "products": []},
        ),
    )
    decide(jobs_env, good, evil, other)
    assert relay.relay_due(shop_id, "email", now=NOW) == {"sent": 2, "failed": 1}
    by_customer = {r.customer_shopify_id: r for r in _rows(jobs_env, shop_id)}
    assert by_customer[12].status == "failed" and "subject" in by_customer[12].last_error
    assert {by_customer[11].status, by_customer[13].status} == {"sent"}
    assert sorted(r.rcpt_tos[0] for r in smtp.messages) == ["c11@example.com", "c13@example.com"]


def test_smtp_down_puts_the_whole_batch_back_for_a_retry(jobs_env, shop_id, smtp):
    _subscribed(jobs_env, shop_id, (11, 12))
    decide(jobs_env, *_reminders(shop_id, (11, 12)))
    smtp.stop()
    assert relay.relay_due(shop_id, "email", now=NOW) == {"pending": 2}
    rows = _rows(jobs_env, shop_id)
    assert all(r.status == "pending" and r.send_at > NOW and "unreachable" in r.last_error for r in rows)
    assert relay.relay_due(shop_id, "email", now=NOW) == {}  # not due again before the backoff


def test_concurrent_relays_of_one_batch_send_each_row_once(jobs_env, shop_id, smtp):
    _subscribed(jobs_env, shop_id)
    decide(jobs_env, *_reminders(shop_id))
    ids = [r.id for r in _rows(jobs_env, shop_id)]
    barrier = threading.Barrier(3)
    results: list[dict[int, str]] = []

    def run(order):
        barrier.wait()
        results.append(relay.relay_rows(order, now=NOW))

    threads = [threading.Thread(target=run, args=(o,)) for o in (ids, ids[::-1], ids[1:3])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.rcpt_tos[0] for r in smtp.messages) == [f"c{c}@example.com" for c in SHOPPERS]
    assert all(r.status == "sent" and r.attempts == 1 for r in _rows(jobs_env, shop_id))
    sent_by = [sum(status == "sent" for status in r.values()) for r in results]
    assert sum(sent_by) >= 5  # each row reported sent by the relay that won it (and by later readers)


def test_a_relay_killed_mid_batch_sends_nothing_twice(jobs_env, shop_id, smtp):
    """SIGKILL the relay while the server holds its 250 for the first of three: that message arrived, the other
    two never went out. All three were claimed before the first send, so the sweeper calls all three
    ``unknown``; at most once means the two unsent ones are not sent automatically either."""
    _subscribed(jobs_env, shop_id, (11, 12, 13))
    decide(jobs_env, *_reminders(shop_id, (11, 12, 13)))
    kill_relay_mid_send(smtp, f"relay_due({shop_id}, 'email', now=NOW)")
    assert len(smtp.messages) == 1
    assert {r.status for r in _rows(jobs_env, shop_id)} == {"sending"}
    assert relay.relay_due(shop_id, "email", now=NOW) == {}  # a retried job finds nothing to claim
    claimed_at = _rows(jobs_env, shop_id)[0].claimed_at
    swept = relay.sweep_outbox(now=claimed_at + outbox_store.CLAIM_TIMEOUT + timedelta(seconds=1))
    assert swept["unknown"] == 3 and swept["queued"] == 0
    relay.sweep_outbox(now=claimed_at + timedelta(days=1))
    assert len(smtp.messages) == 1


def test_a_kept_connection_the_server_dropped_is_replaced_once():
    """Inside ``hold()`` the channel keeps its SMTP connection; when the server has closed it since the last
    message (a restart, an idle timeout), the next message goes over a new one (nothing of it had gone out)."""
    from app.channels.base import OutgoingMessage

    sender = Sender(shop_name="Mugs", from_name="Mugs", from_address="hello@mugs.test", postal_address="1 St")

    def message(n: int) -> OutgoingMessage:
        return OutgoingMessage(
            outbox_id=n,
            shop_id=1,
            purpose="transactional",
            template="message",
            data={"subject": f"Order {n}", "heading": "Hi", "paragraphs": [], "products": []},
            recipient=f"c{n}@example.com",
            sender=sender,
        )

    with LoopbackSmtp() as first:
        channel = EmailChannel(SmtpTarget.parse(first.url))
        with channel.hold():
            channel.send(message(1))
            channel.send(message(2))
            assert first.handler.connections == 1
            first.stop()
            with LoopbackSmtp(port=first.controller.port) as second:  # the same port, a new server
                channel.send(message(3))
    assert [m.rcpt_tos[0] for m in first.messages] == ["c1@example.com", "c2@example.com"]
    assert [m.rcpt_tos[0] for m in second.messages] == ["c3@example.com"]
    assert second.handler.connections == 1


def test_a_batchs_outcomes_are_recorded_row_by_row_in_one_statement(jobs_env, shop_id, smtp):
    """``finish_many`` writes each row's own status, provider id, time and error, and its thread entry's, in one
    UPDATE each; a row claimed under another token (another relay's) is left alone and not reported moved."""
    from app.models.messaging import ConversationMessage
    from app.stores.outbox import Outcome

    _subscribed(jobs_env, shop_id, (11, 12, 13, 14))
    decide(jobs_env, *_reminders(shop_id, (11, 12, 13, 14)))
    ids = [r.id for r in _rows(jobs_env, shop_id)]
    with session_scope(jobs_env.database_url) as s:
        claimed = outbox_rows.claim_many(s, ids[:3], "mine", NOW)
        outbox_rows.claim_many(s, ids[3:], "theirs", NOW)
    assert [r.id for r in claimed] == ids[:3]
    assert {(r.status, r.claim_token, r.claimed_at, r.attempts) for r in claimed} == {
        ("sending", "mine", NOW, 1)
    }
    outcomes = [
        Outcome(shop_id, ids[0], "sent", provider_id="P-1"),
        Outcome(shop_id, ids[1], "sent", provider_id="P-2"),
        Outcome(shop_id, ids[2], "failed", error="PermanentError: refused"),
        Outcome(shop_id, ids[3], "sent", provider_id="P-4"),  # not ours: claimed under "theirs"
    ]
    with session_scope(jobs_env.database_url) as s:
        moved = outbox_store.finish_many(s, "mine", outcomes, NOW)
    assert moved == set(ids[:3])
    rows = {r.id: r for r in _rows(jobs_env, shop_id)}
    got = [(rows[i].status, rows[i].provider_id, rows[i].sent_at, rows[i].last_error) for i in ids]
    assert got == [
        ("sent", "P-1", NOW, None),
        ("sent", "P-2", NOW, None),
        ("failed", None, None, "PermanentError: refused"),
        ("sending", None, None, None),
    ]
    with session_scope(jobs_env.database_url) as s:
        thread = {
            m.outbox_id: (m.status, m.provider_id)
            for m in s.exec(select(ConversationMessage).where(ConversationMessage.shop_id == shop_id)).all()
        }
    assert [thread[i] for i in ids] == [("sent", "P-1"), ("sent", "P-2"), ("failed", None), ("queued", None)]
    with session_scope(jobs_env.database_url) as s:  # the other relay's outcome, under its own token
        assert outbox_store.finish_many(s, "theirs", [outcomes[3]], NOW) == {ids[3]}
    assert [(r.status, r.provider_id) for r in _rows(jobs_env, shop_id)] == [
        ("sent", "P-1"),
        ("sent", "P-2"),
        ("failed", None),
        ("sent", "P-4"),
    ]


def _reads(table: str):
    return lambda sql: f"FROM {table}" in sql


def test_a_run_reads_each_shops_settings_once_and_the_next_run_sees_a_change(
    jobs_env, shop_id, smtp, monkeypatch
):
    """Five rows in batches of two: one run, three batches, one read of the shop's e-mail setup and one of its
    allowed hours (not one a batch). The merchant turns e-mail off between runs: the next run sends nothing."""
    from app.models.messaging import ChannelConfig

    monkeypatch.setattr(relay, "BATCH_SIZE", 2)
    _subscribed(jobs_env, shop_id, (*SHOPPERS, 16))
    decide(jobs_env, *_reminders(shop_id))
    with (
        statements(jobs_env.database_url, _reads("channel_config")) as setups,
        statements(jobs_env.database_url, _reads("contact_policy")) as hours,
        statements(jobs_env.database_url, _reads("outbox_message")) as claims,
    ):
        assert relay.relay_due(shop_id, "email", now=NOW) == {"sent": 5}
    assert len(claims) >= 4  # three batches, then the empty read that ends the run
    assert (len(setups), len(hours)) == (1, 1)
    assert smtp.handler.connections == 1

    decide(jobs_env, *_reminders(shop_id, (16,)))
    with session_scope(jobs_env.database_url) as s:
        config = s.exec(
            select(ChannelConfig).where(ChannelConfig.shop_id == shop_id, ChannelConfig.channel == "email")
        ).one()
        config.enabled = False
        s.add(config)
    assert relay.relay_due(shop_id, "email", now=NOW) == {"failed": 1}
    (row,) = [r for r in _rows(jobs_env, shop_id) if r.customer_shopify_id == 16]
    assert "not set up" in row.last_error and len(smtp.messages) == 5


def test_the_row_keeps_its_recipients_zone_and_an_older_row_reads_its_decisions(jobs_env, shop_id, smtp):
    """Decided at 20:50 in New York, relayed at 21:30: the rows wait for 08:00 there, their zone read from the
    rows themselves. A row decided before rows kept a zone reads its decision's (still New York, not the
    shop's UTC, whose 08:00 would come five hours earlier)."""
    evening = datetime(2026, 12, 8, 1, 50, tzinfo=UTC)  # 20:50 in New York
    late, morning = evening + timedelta(minutes=40), datetime(2026, 12, 8, 13, 0, tzinfo=UTC)  # 08:00 there
    _subscribed(jobs_env, shop_id, (11, 12))
    window = {"earliest": evening, "latest": evening + timedelta(days=2)}
    decide(jobs_env, *_reminders(shop_id, (11, 12), **window), now=evening)
    rows = _rows(jobs_env, shop_id)
    assert [r.timezone for r in rows] == ["America/New_York"] * 2
    with statements(jobs_env.database_url, _reads("message_decision")) as decisions:
        assert relay.relay_due(shop_id, "email", now=late) == {"deferred": 2}
    assert decisions == []
    assert [(r.status, r.send_at) for r in _rows(jobs_env, shop_id)] == [("pending", morning)] * 2

    with session_scope(jobs_env.database_url) as s:  # the second as an older row, due again at 21:30
        older = s.get(OutboxMessage, rows[1].id)
        older.timezone, older.send_at = None, evening
        s.add(older)
    with statements(jobs_env.database_url, _reads("message_decision")) as decisions:
        assert relay.relay_due(shop_id, "email", now=late) == {"deferred": 1}
    assert len(decisions) == 1 and _rows(jobs_env, shop_id)[1].send_at == morning
    assert relay.relay_due(shop_id, "email", now=morning) == {"sent": 2}
    assert len(smtp.messages) == 2


def test_a_sent_batch_is_recorded_even_when_the_next_claim_fails(jobs_env, shop_id, smtp, monkeypatch):
    """The run records a sent batch in the next claim's transaction. When that claim fails (the database
    refused it), the transaction rolls back, the sent batch is recorded on its own and the error goes on: the
    two sent rows are ``sent`` with their provider ids, the third waits for the next run."""
    monkeypatch.setattr(relay, "BATCH_SIZE", 2)
    _subscribed(jobs_env, shop_id, (11, 12, 13))
    decide(jobs_env, *_reminders(shop_id, (11, 12, 13)))
    real, calls = relay._claim_in, []

    def failing_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database refused the claim")
        return real(*args, **kwargs)

    monkeypatch.setattr(relay, "_claim_in", failing_second)
    with pytest.raises(RuntimeError, match="refused the claim"):
        relay.relay_due(shop_id, "email", now=NOW)
    rows = _rows(jobs_env, shop_id)
    assert [r.status for r in rows] == ["sent", "sent", "pending"]
    assert all(r.provider_id for r in rows[:2]) and len(smtp.messages) == 2
    monkeypatch.setattr(relay, "_claim_in", real)
    assert relay.relay_due(shop_id, "email", now=NOW) == {"sent": 1}
    assert len(smtp.messages) == 3


def test_a_claim_reads_first_and_writes_last(jobs_env, shop_id, smtp, monkeypatch):
    """Each of the run's transactions reads its batch (the rows, their checks, each message prepared) before it
    writes anything (the sent batch's record, the claim), so SQLite's one writer lock is held for the writes
    alone while decisions wait for it."""
    from sqlalchemy import event

    from app.db import get_engine

    monkeypatch.setattr(relay, "BATCH_SIZE", 2)
    _subscribed(jobs_env, shop_id, (11, 12, 13))
    decide(jobs_env, *_reminders(shop_id, (11, 12, 13)))
    transactions: list[list[str]] = []
    engine = get_engine(jobs_env.database_url)

    def begin(conn) -> None:  # noqa: ANN001
        transactions.append([])

    def statement(conn, cursor, sql, params, context, executemany) -> None:  # noqa: ANN001
        if transactions:
            transactions[-1].append(sql.split(None, 1)[0].upper())

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        assert relay.relay_due(shop_id, "email", now=NOW) == {"sent": 3}
    finally:
        event.remove(engine, "begin", begin)
        event.remove(engine, "before_cursor_execute", statement)
    kinds = [t for t in transactions if "UPDATE" in t]
    assert len(kinds) == 3  # claim 2; record them and claim 1; record it (the run's last claim found none)
    for kind in kinds:
        first_write = kind.index("UPDATE")
        assert "SELECT" not in kind[first_write:], kind
