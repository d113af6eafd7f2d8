"""Pooled connections: one idle past ``IDLE_PING_S`` is pinged before use and replaced when it no longer
answers; one used moments ago is handed out without a ping (a round trip saved in every transaction)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app import db
from app.db import get_engine, session_scope


def _break_a_pooled_connection(url: str) -> None:
    """Leave one connection in the pool whose driver connection is closed underneath it, as a server restart
    or an idle timeout would leave it."""
    engine = get_engine(url)
    engine.dispose()
    with engine.connect() as conn:
        dbapi_conn = conn.connection.dbapi_connection
    assert engine.pool.checkedin() == 1
    dbapi_conn.close()


def test_an_idle_connection_that_no_longer_answers_is_replaced(settings, monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_S", 0.0)  # every pooled connection counts as idle
    _break_a_pooled_connection(settings.database_url)
    with session_scope(settings.database_url) as s:
        assert s.exec(text("SELECT 1")).one()[0] == 1


def test_a_connection_used_moments_ago_is_not_pinged(settings, monkeypatch):
    engine = get_engine(settings.database_url)
    with session_scope(settings.database_url) as s:  # a fresh, pinged connection, now back in the pool
        s.exec(text("SELECT 1")).one()
    calls: list[object] = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: calls.append(conn) or True)
    for _ in range(3):
        with session_scope(settings.database_url) as s:
            s.exec(text("SELECT 1")).one()
    assert calls == []
    monkeypatch.setattr(db, "IDLE_PING_S", 0.0)
    with session_scope(settings.database_url) as s:
        s.exec(text("SELECT 1")).one()
    assert len(calls) == 1


def test_a_connection_broken_within_the_interval_fails_once_then_the_pool_reconnects(settings):
    _break_a_pooled_connection(settings.database_url)
    with pytest.raises(Exception), session_scope(settings.database_url) as s:  # noqa: B017, PT011
        s.exec(text("SELECT 1")).one()
    with session_scope(settings.database_url) as s:
        assert s.exec(text("SELECT 1")).one()[0] == 1
