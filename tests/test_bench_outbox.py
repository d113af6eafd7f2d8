"""``attune bench outbox`` in miniature: a few messages per channel through the real pipeline (submit → outbox
row → a real ``attune worker`` → relay → loopback sinks) and through the peer, with what the sinks received
checked here on its own: every message exactly once, on its channel, and every outbox row ``sent``."""

from __future__ import annotations

import os

import click
import pytest
from sqlmodel import select

from app.bench.outbox import _exactly_once, run_peer, run_pipeline, start_workers, stop
from app.bench.outbox_setup import ACCOUNT, AUTH_TOKEN, build_world, peer_messages, utc_now
from app.bench.sinks import Sinks
from app.config import get_settings
from app.db import session_scope
from app.models.messaging import OutboxMessage


@pytest.fixture
def bench(jobs_env, monkeypatch):
    with Sinks({ACCOUNT: AUTH_TOKEN}) as sinks:
        monkeypatch.setenv("ATTUNE_TWILIO_API_URL", sinks.twilio_url)
        get_settings.cache_clear()
        settings = get_settings()
        world = build_world(settings, sinks.smtp_url, 8, utc_now())
        workers = start_workers(1, dict(os.environ))
        try:
            yield settings, world, sinks
        finally:
            stop(workers)


def _outbox_rows(settings, channel):
    with session_scope(settings.database_url) as s:
        return s.exec(
            select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.channel == channel)
        ).all()


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_each_message_reaches_the_sink_exactly_once_both_ways(bench, channel):
    settings, world, sinks = bench
    per_s, latencies = run_pipeline(settings, world, sinks, channel, range(1, 4))
    rows = _outbox_rows(settings, channel)
    assert len(rows) == 3 and {status for _, status in rows} == {"sent"}
    email, sms = sinks.keys()
    got, other = (email, sms) if channel == "email" else (sms, email)
    assert got == {outbox_id: 1 for outbox_id, _ in rows} and not other
    assert len(latencies) == 3 and per_s > 0

    run_peer(settings, world, sinks, channel, range(4, 7), first_id=900)
    email, sms = sinks.keys()
    got, other = (email, sms) if channel == "email" else (sms, email)
    assert got == {900: 1, 901: 1, 902: 1} and not other
    assert len(_outbox_rows(settings, channel)) == 3  # the peer writes no outbox rows

    # the check the bench relies on fails when the sink holds a message twice
    client, messages = peer_messages(settings, world, channel, range(4, 5), first_id=900)
    client.send(messages[0])
    with pytest.raises(click.ClickException, match="1 sent more than once"):
        _exactly_once(sinks, channel, {900, 901, 902})
