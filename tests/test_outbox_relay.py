"""The action layer against a real database and a real SMTP server on loopback (aiosmtpd): a decision and its
outbox row commit together, the relay sends each message once and records it, and the faults (SMTP down, a
relay killed after the server accepted, duplicate jobs, consent withdrawn) never send twice or to the wrong
shopper."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlmodel import select

from app import tasks
from app.channels.unsubscribe import BadToken, read_token
from app.config import get_settings
from app.db import session_scope
from app.jobs import outbox as relay
from app.models.commerce import Customer
from app.models.messaging import (
    ContactConsent,
    ConversationMessage,
    MessageDecision,
)
from app.orchestrator.proposal import Action, Content, Shopper
from app.stores import outbox as outbox_store
from app.stores.conversation import thread
from tests import email_support
from tests.conftest import TEST_API_SECRET
from tests.email_support import NOW, decide, kill_relay_mid_send, proposal, status

smtp = email_support.smtp  # fixtures
shop_id = email_support.shop_id
no_holdout = email_support.no_holdout
pytestmark = pytest.mark.usefixtures("no_holdout")  # every message is treated, none held out


def test_a_decision_commits_with_its_outbox_row_and_the_relay_sends_a_parsed_email(jobs_env, shop_id, smtp):
    (d,), (row,) = decide(jobs_env, proposal(shop_id))
    assert d.action is Action.SEND and row.status == "pending" and row.send_at == NOW
    assert relay.relay_message(row.id, now=NOW) == "sent"
    assert len(smtp.messages) == 1
    got = smtp.messages[0]
    msg = got.message
    assert got.rcpt_tos == ["ann@example.com"] and got.mail_from == "hello@mugs.test"
    sender = msg["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Mugs & Co", "hello@mugs.test")
    assert msg["To"] == "ann@example.com"
    assert msg["Subject"] == "Still thinking about the <b>Blue</b> mug?"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = msg["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://attune.test/unsubscribe/")
    assert read_token(TEST_API_SECRET, url.rsplit("/", 1)[1]).customer_id == 7
    with pytest.raises(BadToken):
        read_token(TEST_API_SECRET, url.rsplit("/", 1)[1][:-2] + "xx")
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "1 Harbour St, Portland ME 04101" in text and "1 Harbour St, Portland ME 04101" in html
    assert "<script>" not in html and "&lt;script&gt;" in html  # template data is escaped
    assert "<style" not in html and 'style="' in html  # CSS inlined
    assert "Blue mug" in text and "https://mugs.test/products/blue" in html
    done = status(jobs_env, row.id)
    assert (done.status, done.attempts, done.provider_id) == ("sent", 1, "LOOP1")
    with session_scope(jobs_env.database_url) as s:
        (entry,) = thread(s, shop_id, "customer:7")
        assert (entry.direction, entry.status, entry.agent, entry.channel) == (
            "out",
            "sent",
            "browse_abandonment",
            "email",
        )
        assert entry.reason == "viewed the Blue mug twice this week" and entry.provider_id == "LOOP1"
    assert (
        relay.relay_message(row.id, now=NOW) == "sent" and len(smtp.messages) == 1
    )  # a re-run sends nothing


def test_a_second_proposal_in_the_budget_is_suppressed_and_recorded(jobs_env, shop_id, smtp):
    low = proposal(shop_id, agent="replenishment", dedupe_key="rep:7", expected_value=0.2)
    high = proposal(shop_id)
    (d_low, d_high), rows = decide(jobs_env, low, high)
    assert d_high.action is Action.SEND and d_low.action is Action.SUPPRESS
    assert [r.agent for r in rows] == ["browse_abandonment"]
    with session_scope(jobs_env.database_url) as s:
        recorded = {r.agent: r for r in s.exec(select(MessageDecision)).all()}
    assert recorded["replenishment"].action == "suppress" and "budget" in recorded["replenishment"].reason
    # the next day's proposal sees the message already sent in the budget
    (d,), _ = decide(
        jobs_env,
        proposal(
            shop_id,
            dedupe_key="browse:7:43",
            earliest=NOW + timedelta(hours=2),
            latest=NOW + timedelta(hours=20),
        ),
        now=NOW + timedelta(hours=2),
    )
    assert d.action is Action.SUPPRESS and "budget" in d.reason
    # and the same dedupe key is never decided again
    (d,), _ = decide(
        jobs_env,
        proposal(shop_id, earliest=NOW + timedelta(days=3), latest=NOW + timedelta(days=4)),
        now=NOW + timedelta(days=3),
    )
    assert d.action is Action.SUPPRESS and "dedupe" in d.reason


def test_a_dedupe_key_is_taken_for_good_while_the_budget_forgets_after_a_week(jobs_env, shop_id, smtp):
    """The facts read only the shopper's messages with a wanted dedupe key or inside the budget's week: a key
    sent long ago still stops a repeat, and a message eight days old no longer counts toward the budget."""
    (d,), (row,) = decide(jobs_env, proposal(shop_id))
    assert d.action is Action.SEND and relay.relay_message(row.id, now=NOW) == "sent"
    year = NOW + timedelta(days=365)
    (d,), _ = decide(jobs_env, proposal(shop_id, earliest=year, latest=year + timedelta(days=1)), now=year)
    assert d.action is Action.SUPPRESS and "dedupe" in d.reason
    later = NOW + timedelta(days=8)
    fresh = proposal(shop_id, dedupe_key="browse:7:44", earliest=later, latest=later + timedelta(days=1))
    (d,), _ = decide(jobs_env, fresh, now=later)
    assert d.action is Action.SEND, d.reason
    within = NOW + timedelta(days=8, hours=2)
    (d,), _ = decide(
        jobs_env,
        proposal(shop_id, dedupe_key="browse:7:45", earliest=within, latest=within + timedelta(days=1)),
        now=within,
    )
    assert d.action is Action.SUPPRESS and "budget" in d.reason  # the one decided two hours before counts


def test_a_held_out_proposal_is_not_drawn_again(jobs_env, shop_id, smtp):
    """A key held out once stays taken (the same proposal must not get a second draw), while the shopper's other
    proposals are decided as usual."""
    with session_scope(jobs_env.database_url) as s:
        s.add(
            MessageDecision(
                shop_id=shop_id, agent="browse_abandonment", shopper_key="customer:7", customer_shopify_id=7,
                purpose="marketing", action="hold_out", arm="holdout", reason="held out",
                proposal_reason="viewed twice", expected_value=1.0, dedupe_key="browse:7:42",
                template="message", decided_at=NOW,
            )
        )  # fmt: skip
    (d,), rows = decide(jobs_env, proposal(shop_id))
    assert d.action is Action.SUPPRESS and "dedupe" in d.reason and rows == []
    (d,), _ = decide(jobs_env, proposal(shop_id, dedupe_key="browse:7:43"))
    assert d.action is Action.SEND, d.reason


def test_not_subscribed_shoppers_get_no_marketing(jobs_env, shop_id, smtp):
    with session_scope(jobs_env.database_url) as s:
        s.add(Customer(shop_id=shop_id, shopify_id=8, email="bob@example.com"))
        s.add(ContactConsent(shop_id=shop_id, customer_shopify_id=8, channel="email", state="UNSUBSCRIBED"))
    (d,), rows = decide(jobs_env, proposal(shop_id, shopper=Shopper(customer_id=8), dedupe_key="b"))
    assert d.action is Action.SUPPRESS and rows == []


def test_consent_withdrawn_before_a_deferred_send_cancels_it(jobs_env, shop_id, smtp):
    night = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 23:00 in New York
    (d,), (row,) = decide(
        jobs_env, proposal(shop_id, earliest=night, latest=night + timedelta(days=1)), now=night
    )
    assert d.action is Action.DEFER and row.send_at == datetime(2026, 12, 8, 13, 0, tzinfo=UTC)
    assert relay.relay_message(row.id, now=night) == "not due"
    with session_scope(jobs_env.database_url) as s:
        c = s.exec(select(ContactConsent).where(ContactConsent.customer_shopify_id == 7)).one()
        c.state = "UNSUBSCRIBED"
        s.add(c)
    assert relay.relay_message(row.id, now=row.send_at) == "cancelled"
    assert smtp.messages == [] and "consent" in status(jobs_env, row.id).last_error


def test_smtp_down_retries_with_backoff_then_fails_with_the_reason(jobs_env, shop_id, smtp):
    smtp.stop()  # connection refused from now on
    (_,), (row,) = decide(jobs_env, proposal(shop_id))
    at = NOW
    for attempt in range(1, relay.MAX_ATTEMPTS):
        assert relay.relay_message(row.id, now=at) == "pending"
        again = status(jobs_env, row.id)
        assert again.attempts == attempt and again.send_at > at and "unreachable" in again.last_error
        assert relay.relay_message(row.id, now=at) == "not due"  # the backoff holds
        at = again.send_at
    assert relay.relay_message(row.id, now=at) == "failed"
    failed = status(jobs_env, row.id)
    assert failed.status == "failed" and failed.last_error.startswith(
        f"gave up after {relay.MAX_ATTEMPTS} attempts"
    )
    with session_scope(jobs_env.database_url) as s:
        assert s.exec(select(ConversationMessage.status)).one() == "failed"


def test_a_4xx_reply_is_retried_and_a_5xx_reply_fails_at_once(jobs_env, shop_id, smtp):
    (_,), (row,) = decide(jobs_env, proposal(shop_id))
    smtp.handler.refuse = "451 4.3.0 try again later"
    assert relay.relay_message(row.id, now=NOW) == "pending"
    smtp.handler.refuse = "554 5.7.1 rejected"
    later = status(jobs_env, row.id).send_at
    assert relay.relay_message(row.id, now=later) == "failed"
    assert "554" in status(jobs_env, row.id).last_error


def test_duplicate_relay_jobs_send_one_email(jobs_env, shop_id, smtp):
    (_,), (row,) = decide(jobs_env, proposal(shop_id))
    results: list[str] = []
    barrier = threading.Barrier(4)

    def run():
        barrier.wait()
        results.append(relay.relay_message(row.id, now=NOW))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(smtp.messages) == 1
    assert results.count("sent") >= 1 and status(jobs_env, row.id).attempts == 1


def test_a_relay_killed_after_the_server_accepted_leaves_unknown_never_resent(jobs_env, shop_id, smtp):
    """SIGKILL the relay while the server holds its 250: the message arrived, the row stays 'sending'; the
    sweeper then calls it 'unknown' and nothing sends it again."""
    (_,), (row,) = decide(jobs_env, proposal(shop_id))
    kill_relay_mid_send(smtp, f"relay_message({row.id}, now=NOW)")
    assert len(smtp.messages) == 1
    stuck = status(jobs_env, row.id)
    assert stuck.status == "sending"
    assert relay.relay_message(row.id) == "sending"  # a retried job does not send it again
    soon = relay.sweep_outbox(now=stuck.claimed_at + timedelta(minutes=1))
    assert soon["unknown"] == 0 and status(jobs_env, row.id).status == "sending"
    swept = relay.sweep_outbox(now=stuck.claimed_at + outbox_store.CLAIM_TIMEOUT + timedelta(seconds=1))
    assert swept["unknown"] == 1 and swept["queued"] == 0
    assert status(jobs_env, row.id).status == "unknown"
    assert relay.relay_message(row.id) == "unknown"
    relay.sweep_outbox(now=stuck.claimed_at + timedelta(days=1))
    assert len(smtp.messages) == 1


def test_header_injection_in_the_subject_is_refused_not_sent(jobs_env, shop_id, smtp):
    evil = proposal(
        shop_id,
        content=Content(
            "message",
            {"subject": "Hi\r\nBcc: everyone@example.com", "heading": "x", "paragraphs": [], "products": []},
        ),
    )
    (_,), (row,) = decide(jobs_env, evil)
    assert relay.relay_message(row.id, now=NOW) == "failed"
    assert smtp.messages == [] and "subject" in status(jobs_env, row.id).last_error


def test_sweep_queues_deferred_messages_when_due(jobs_env, shop_id, smtp):
    night = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
    (_,), (row,) = decide(
        jobs_env, proposal(shop_id, earliest=night, latest=night + timedelta(days=1)), now=night
    )
    assert relay.sweep_outbox(now=night)["queued"] == 0
    assert relay.sweep_outbox(now=row.send_at)["queued"] == 1


def test_redis_down_when_the_decision_commits_loses_nothing_and_sends_once(
    jobs_env, shop_id, smtp, monkeypatch
):
    """The decision and its outbox row commit although the relay cannot be queued (Redis down); the sweeper
    queues it once Redis is back, and two sweeps plus a duplicate job still send one e-mail."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    get_settings.cache_clear()
    (d,), (row,) = decide(jobs_env, proposal(shop_id))
    assert d.action is Action.SEND and row.status == "pending"
    assert smtp.messages == []
    monkeypatch.setenv("REDIS_URL", jobs_env.redis_url)  # Redis is back
    get_settings.cache_clear()
    assert relay.sweep_outbox(now=NOW)["queued"] == 1
    assert relay.sweep_outbox(now=NOW)["queued"] == 1  # still waiting: the same job id, queued once
    assert Queue("default", connection=Redis.from_url(jobs_env.redis_url)).job_ids == [
        tasks.relay_job_id(shop_id, "email")
    ]
    assert relay.relay_message(row.id, now=NOW) == "sent"
    assert relay.relay_message(row.id, now=NOW) == "sent"  # the duplicate finds it sent
    assert len(smtp.messages) == 1


def test_a_relay_that_runs_late_never_sends_in_quiet_hours(jobs_env, shop_id, smtp):
    """Decided at 20:50 in New York, the relay only runs at 21:30 (Redis was down, retries backed off): the
    e-mail waits for 08:00, and goes then; one whose window closes before 08:00 is cancelled."""
    evening = datetime(2026, 12, 8, 1, 50, tzinfo=UTC)  # 20:50 in New York
    late = evening + timedelta(minutes=40)
    (d,), (row,) = decide(
        jobs_env, proposal(shop_id, earliest=evening, latest=evening + timedelta(days=2)), now=evening
    )
    assert d.action is Action.SEND and d.timezone == "America/New_York"
    assert relay.relay_message(row.id, now=late) == "deferred"
    waiting = status(jobs_env, row.id)
    assert waiting.status == "pending" and waiting.send_at == datetime(
        2026, 12, 8, 13, 0, tzinfo=UTC
    )  # 08:00
    assert relay.relay_message(row.id, now=late + timedelta(minutes=5)) == "not due" and smtp.messages == []
    assert relay.relay_message(row.id, now=waiting.send_at) == "sent" and len(smtp.messages) == 1

    # three days later, the same late relay for a message whose window closes at 22:50: cancelled, never sent
    evening = evening + timedelta(days=3)
    short = proposal(shop_id, dedupe_key="browse:7:99", earliest=evening, latest=evening + timedelta(hours=2))
    (d,), rows = decide(jobs_env, short, now=evening)
    (row2,) = [r for r in rows if r.dedupe_key == "browse:7:99"]
    assert d.action is Action.SEND and row2.send_at == evening
    assert relay.relay_message(row2.id, now=evening + timedelta(minutes=40)) == "cancelled"
    cancelled = status(jobs_env, row2.id)
    assert cancelled.status == "cancelled" and "quiet hours" in cancelled.last_error
    assert len(smtp.messages) == 1
