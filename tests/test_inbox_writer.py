"""The inbox writer: a delivery that finds the inbox idle commits on its own thread; a waiter that gives
up is never left holding the lead; many concurrent deliveries all get their own outcome, each row stored
once, in fewer commits than rows; the one-statement INSERT classifies rows exactly as ``classify`` does;
a kept connection that died while idle is replaced."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import select
from webhook_support import Gate, make_shop

from app.models.base import utcnow
from app.models.inbox import PENDING, WebhookInbox
from app.models.shop import Shop
from webhooks.inbox_writer import InboxUnavailable, InboxWriter, classify

SHOP = "alpha.myshopify.com"


def _row(event_id: str | None = None, *, shop: str = SHOP, topic: str = "orders/create") -> dict:
    return {
        "shop_domain": shop,
        "event_id": event_id or str(uuid.uuid4()),
        "webhook_id": None,
        "topic": topic,
        "api_version": None,
        "triggered_at": None,
        "payload": '{"id": 1}',
        "attempts": 0,
        "received_at": utcnow(),
        "processed_at": None,
    }


def _stored(session) -> list[str]:
    session.expire_all()
    events = sorted(r.event_id for r in session.exec(select(WebhookInbox)))
    session.rollback()
    return events


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def writer(settings, session, gate):
    make_shop(session, SHOP)
    w = InboxWriter(settings.database_url, wait_s=0.3, before_batch=gate)
    yield w
    w.close()


def test_a_lone_delivery_commits_on_its_own_thread(writer, session):
    threads = threading.active_count()
    outcome = writer.record(_row("lone"))
    assert outcome.inbox_id is not None and outcome.status == PENDING
    assert threading.active_count() == threads  # no writer thread was started
    assert writer.batches == 1 and writer.waiting() == 0
    assert _stored(session) == ["lone"]


def test_a_waiter_that_gave_up_never_keeps_the_lead(writer, gate, session):
    results: dict[str, object] = {}

    def record(name: str) -> None:
        try:
            results[name] = writer.record(_row(name))
        except InboxUnavailable as exc:
            results[name] = exc

    leader = threading.Thread(target=record, args=("leader",))
    with gate.closed():
        leader.start()
        deadline = time.monotonic() + 10
        while writer.waiting() < 1:  # the leader's row waits: the leader is held at the gate
            assert time.monotonic() < deadline, "the leader committed through the closed gate"
            time.sleep(0.005)
        follower = threading.Thread(target=record, args=("follower",))
        follower.start()
        follower.join(5)
        assert isinstance(results["follower"], InboxUnavailable)  # gave up after wait_s: a 503
    leader.join(5)
    assert results["leader"].inbox_id is not None
    # The row of the waiter that gave up was committed with the leader's batch (Shopify's retry of it
    # will be a duplicate), and the lead is free: the next delivery commits at once.
    assert _stored(session) == ["follower", "leader"]
    assert writer.record(_row("next")).inbox_id is not None
    assert _stored(session) == ["follower", "leader", "next"]


def test_many_concurrent_deliveries_each_get_their_own_outcome(writer, session):
    writer.wait_s = 10.0
    names = [f"evt-{i}" for i in range(400)] + ["evt-7"] * 5  # five repeats of one event
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(lambda name: writer.record(_row(name)), names))
    new = [o for o in outcomes if o.inbox_id is not None]
    assert len(new) == 400 and len({o.inbox_id for o in new}) == 400
    assert sum(1 for o in outcomes if o.inbox_id is None) == 5
    assert _stored(session) == sorted(set(names))
    assert writer.batches < len(names)  # concurrent deliveries shared commits
    assert writer.waiting() == 0
    assert writer.record(_row("after")).inbox_id is not None  # nobody kept the lead


def test_the_insert_classifies_every_row_as_classify_does(writer, session):
    gone = make_shop(session, "gone.myshopify.com")
    gone.uninstalled_at = utcnow()
    session.add(gone)
    session.commit()
    no_token = make_shop(session, "tokenless.myshopify.com", installed=False)
    shops = {
        SHOP: session.exec(select(Shop).where(Shop.domain == SHOP)).one(),
        gone.domain: gone,
        no_token.domain: no_token,
        "nobody.myshopify.com": None,
    }
    session.expunge_all()
    session.rollback()
    topics = ["orders/create", "customers/redact", "shop/redact", "app/uninstalled", "no/such-topic"]
    cases = [(domain, topic) for domain in shops for topic in topics]
    writer.wait_s = 10.0
    with ThreadPoolExecutor(8) as pool:  # several batches, some rows sharing one
        outcomes = list(pool.map(lambda c: writer.record(_row(shop=c[0], topic=c[1])), cases))
    for (domain, topic), outcome in zip(cases, outcomes, strict=True):
        shop = shops[domain]
        assert (outcome.status, outcome.reason) == classify(shop, topic), (domain, topic)
        assert outcome.shop_id == (shop.id if shop is not None else None)
        assert outcome.inbox_id is not None
    session.expire_all()
    stored = {r.id: r for r in session.exec(select(WebhookInbox))}
    for outcome in outcomes:  # what was answered is what was stored
        row = stored[outcome.inbox_id]
        assert (row.status, row.error, row.shop_id) == (outcome.status, outcome.reason, outcome.shop_id)


def test_a_kept_connection_that_died_while_idle_is_replaced(writer, session):
    assert writer.record(_row("first")).inbox_id is not None
    writer._conn.dbapi_connection.close()  # as if the server dropped it
    writer._used -= 60  # idle for a minute
    assert writer.record(_row("second")).inbox_id is not None
    assert _stored(session) == ["first", "second"]


# --- the leader waits for deliveries announced on their way, and only for them ----------------------


def test_a_leader_waits_for_an_announced_delivery_and_they_share_one_commit(settings, session):
    make_shop(session, SHOP)
    writer = InboxWriter(settings.database_url, linger_s=60.0)
    try:
        writer.expect()  # a delivery is being checked on another thread
        leader = threading.Thread(target=writer.record, args=(_row("first"),))
        leader.start()
        deadline = time.monotonic() + 10
        while writer.waiting() == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)  # the leader has had every chance to commit alone; it must still be waiting
        assert writer.batches == 0 and leader.is_alive()
        writer.record(_row("second"), expected=True)  # arrives: both go in one commit, nobody waits on
        leader.join(10)
        assert not leader.is_alive()
        assert writer.batches == 1 and writer.rows == 2
        assert _stored(session) == ["first", "second"]
    finally:
        writer.close()


def test_a_refused_announced_delivery_releases_the_waiting_leader(settings, session):
    make_shop(session, SHOP)
    writer = InboxWriter(settings.database_url, linger_s=60.0)
    try:
        writer.expect()
        leader = threading.Thread(target=writer.record, args=(_row("only"),))
        leader.start()
        deadline = time.monotonic() + 10
        while writer.waiting() == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        writer.unexpect()  # the announced delivery failed its checks (401, 400 …)
        leader.join(10)
        assert not leader.is_alive()  # it did not wait out the 60 s linger
        assert writer.batches == 1 and _stored(session) == ["only"]
    finally:
        writer.close()


def test_without_an_announced_delivery_the_leader_commits_at_once(settings, session):
    make_shop(session, SHOP)
    writer = InboxWriter(settings.database_url, linger_s=60.0)
    try:
        for name in ("a", "b", "c"):  # one after another: each commits alone, none waits out the linger
            done = threading.Thread(target=writer.record, args=(_row(name),))
            done.start()
            done.join(10)
            assert not done.is_alive()
        assert writer.batches == 3 and _stored(session) == ["a", "b", "c"]
    finally:
        writer.close()


def test_a_closed_writer_refuses_an_announced_delivery_and_forgets_it(settings, session):
    make_shop(session, SHOP)
    writer = InboxWriter(settings.database_url, linger_s=60.0)
    writer.close()
    writer.expect()
    with pytest.raises(InboxUnavailable):
        writer.record(_row("late"), expected=True)
    assert writer._expected == 0
