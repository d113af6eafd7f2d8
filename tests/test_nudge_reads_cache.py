"""The nudge endpoint's per-session read cache (``app.stores.nudge_live.READS_TTL_S``): a session's later signals
reuse the intent prior and the pixel's checkout steps read by its first request (no database query), a return
from checkout re-reads the steps at once, and the cache expires; the rate limit and the live fold share one
Redis round trip, and with Redis down the endpoint still answers from the database."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from sqlalchemy import event
from sqlmodel import select

from app.db import get_engine
from app.models.events import PixelEvent
from app.models.nudge import NudgeSession
from app.stores import nudge_live
from tests import test_nudge_proxy as nudge_proxy
from tests.test_nudge_proxy import HESITATION, body, persist_live, post

demo = nudge_proxy.demo  # fixture


def _count_queries(settings):
    seen: list[str] = []
    engine = get_engine(settings.database_url)

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


def _step(session, demo, name: str, seconds_ago: int) -> None:
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    session.add(PixelEvent(shop_id=demo.shop_id, event_id=name, client_id="cid-c", name=name, occurred_at=at))
    session.commit()


def test_later_signals_reuse_the_sessions_reads_and_a_return_from_checkout_rereads_steps(
    client, demo, session, settings
):
    first = post(client, body(signals=HESITATION[:1]), client_id="cid-c")
    assert first.status_code == 200
    seen, stop = _count_queries(settings)
    try:
        assert post(client, body(signals=HESITATION[1:2]), client_id="cid-c").status_code == 200
    finally:
        stop()
    assert not any("pixel_event" in q or "customer_profile" in q for q in seen)  # served from the cache

    _step(session, demo, "checkout_started", 300)  # the shopper went to checkout meanwhile
    cached = post(client, body(signals=HESITATION[2:3]), client_id="cid-c").json
    assert "stalled in checkout" not in cached["why"]  # within the cache's life, no return reported: not seen
    back = post(client, body(signals=[{"id": "b1", "kind": "checkout_back"}]), client_id="cid-c").json
    assert "stalled in checkout" in back["why"]  # the return from checkout re-reads the steps
    persist_live(settings)
    row = session.exec(select(NudgeSession).where(NudgeSession.client_id == "cid-c")).one()
    assert row.features["checkout_step"] == 1


def test_the_cache_expires(client, demo, session, settings, monkeypatch):
    assert post(client, body(signals=HESITATION[:1]), client_id="cid-c").status_code == 200
    _step(session, demo, "checkout_started", 300)
    monkeypatch.setattr(nudge_live, "READS_TTL_S", 0)  # as if a minute had passed
    answer = post(client, body(signals=HESITATION[1:2]), client_id="cid-c").json
    assert "stalled in checkout" in answer["why"]


def test_without_redis_the_endpoint_answers_from_the_database(client, demo, session, monkeypatch):
    from redis import Redis

    import app.web.proxy_nudge as proxy_nudge

    monkeypatch.setattr(proxy_nudge, "get_redis", lambda url: Redis.from_url("redis://127.0.0.1:1/0"))
    answer = post(client, body(), client_id="cid-nr")
    assert answer.status_code == 200 and answer.json["nudge"]["rung"] == "help"
    row = session.exec(select(NudgeSession).where(NudgeSession.client_id == "cid-nr")).one()
    assert row.action == "show"  # the fold lived on the database row


def _count_round_trips(monkeypatch):
    """Redis round trips (one per command or pipeline sent), counted at the connection."""
    import redis.connection as rc

    sent = [0]
    cls = rc.AbstractConnection if hasattr(rc, "AbstractConnection") else rc.Connection
    original = cls.send_packed_command

    def counted(self, *args, **kwargs):
        sent[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "send_packed_command", counted)
    return sent


@pytest.mark.parametrize("facts", [False, True], ids=["steps-from-db", "steps-from-pixel-facts"])
def test_the_request_path_costs_a_bounded_number_of_statements_and_round_trips(
    client, demo, session, settings, monkeypatch, facts
):
    """The bench's three-request session, counted (a machine-independent figure of the request path's cost): a
    new session reads the pixel's steps and the intent prior (2 statements), a later signal none, the deciding
    request re-reads the steps (a return from checkout), checks for a stored row and writes the row, with its
    decision already on it, and the decision: 4 statements, no UPDATE. Two Redis round trips each. Once the
    pixel's checkout-step facts in Redis reach back over the lookback (``facts``), the steps come with the rate
    limit's round trip and cost no statement: 1, 0 and 3."""
    if facts:
        Redis.from_url(settings.redis_url).set(nudge_live.STEPS_SINCE, time.time() - 3 * 3600)
    steps = [HESITATION[:1], HESITATION[1:3], HESITATION[3:]]
    for signals in steps:  # the per-process caches (the ladder's evidence, in-stock alternatives) warm
        post(client, body("sess-warm-1", signals), client_id="cid-w")
    sent = _count_round_trips(monkeypatch)
    counts = []
    for signals in steps:
        seen, stop = _count_queries(settings)
        before = sent[0]
        try:
            answer = post(client, body("sess-cost-1", signals), client_id="cid-k")
        finally:
            stop()
        assert answer.status_code == 200
        counts.append((len(seen), sent[0] - before, seen, answer.json))
    expected = [(1, 2), (0, 2), (3, 2)] if facts else [(2, 2), (0, 2), (4, 2)]
    assert [c[:2] for c in counts] == expected, [(c[2], c[3]) for c in counts]
    assert not any(q.lstrip().upper().startswith("UPDATE") for q in counts[2][2])
    assert not facts or not any("pixel_event" in q for c in counts for q in c[2])
    assert answer.json["nudge"]["rung"] == "help"
    row = session.exec(select(NudgeSession).where(NudgeSession.client_id == "cid-k")).one()
    assert row.action == "show" and row.rung == "help" and row.decided_at is not None and row.events == 6
