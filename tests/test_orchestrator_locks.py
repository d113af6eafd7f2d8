"""Deciders of the same shoppers are serialised on PostgreSQL: ``lock_shoppers`` takes one advisory lock per
shopper in one statement, in sorted order, held until the transaction ends. A second decider of any of those
shoppers waits; a decider of other shoppers does not. (SQLite has one writer at a time: nothing to lock.)"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from app.db import session_scope
from app.stores.orchestrator import lock_shoppers


def _waiting_advisory_locks(url: str) -> int:
    with session_scope(url) as s:
        return int(
            s.exec(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).one()[0]
        )


def _lock_in_thread(url: str, shop_id: int, keys: list[str], done: threading.Event) -> threading.Thread:
    def run() -> None:
        with session_scope(url) as s:
            lock_shoppers(s, shop_id, keys)
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_second_decider_of_a_shopper_waits_for_the_first_to_commit(settings):
    url = settings.database_url
    if not url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's; SQLite serialises writers itself")
    first_done, other_done, same_done = threading.Event(), threading.Event(), threading.Event()
    with session_scope(url) as first:
        lock_shoppers(first, 1, ["customer:2", "customer:1", "customer:2", "customer:3"])
        other = _lock_in_thread(url, 1, ["customer:4"], other_done)  # nobody holds customer:4
        assert other_done.wait(10)
        elsewhere = _lock_in_thread(url, 2, ["customer:1"], first_done)  # the same key in another shop
        assert first_done.wait(10)
        same = _lock_in_thread(url, 1, ["customer:3", "customer:9"], same_done)
        deadline = time.monotonic() + 10
        while _waiting_advisory_locks(url) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _waiting_advisory_locks(url) == 1 and not same_done.is_set()
    # the first transaction ended: its locks are gone, and the waiting decider gets through
    assert same_done.wait(10)
    for thread in (other, elsewhere, same):
        thread.join(10)
    assert _waiting_advisory_locks(url) == 0


def test_no_shoppers_takes_no_lock(session):
    lock_shoppers(session, 1, [])  # no statement with an empty array, on either database
