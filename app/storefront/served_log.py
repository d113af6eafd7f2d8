"""The served-list log that measurement reads: one entry per storefront answer, via Redis into ``served_list``.

``record_served`` appends each answer's entry to a Redis list (straight to the table when Redis is down),
and ``flush_served_log`` (a worker job) moves the entries into ``served_list`` in batches, deduplicated by
``serve_id``, so a retried or concurrent flush never stores an entry twice and a crash loses none. Web
workers batch the appends (``ServedLogBuffer``, turned on by ``ServingStore.buffer_log``): a background
thread pushes what accumulated every ``linger`` seconds and the worker's exit hook drains the rest, so the
request never waits for Redis. A worker killed outright loses at most ``linger`` seconds of its log entries
(never an answer). The flush side needs no serving cache: a worker imports this module alone.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import RedisError
from sqlmodel import Session, select

from app.db import get_engine
from app.models.serving import ServedList
from app.queue import get_redis
from app.storefront.holdout import AGENT

if TYPE_CHECKING:  # annotations only: the serving cache imports this module, never the reverse
    from app.storefront.cache import Rendered, ServingStore
    from app.storefront.lists import Served

log = logging.getLogger(__name__)

SERVED_LOG_KEY = "attune:served_log"


def new_serve_id() -> str:
    return secrets.token_hex(12)


def record_served(
    store: ServingStore,
    shop_id: int,
    served: Served | Rendered,
    *,
    subject_kind: str,
    subject: str,
    serve_id: str | None = None,
) -> None:
    """Append one served list to the log (Redis first; straight to the table if Redis is down)."""
    entry = {
        "serve_id": serve_id or getattr(served, "serve_id", ""),
        "shop_id": shop_id,
        "agent": AGENT,
        "placement": served.placement,
        "subject_kind": subject_kind,
        "subject": subject[:64],
        "list_id": served.list_id,
        "strategy": served.strategy,
        "variant": served.variant,
        "holdout": served.holdout,
        "product_ids": list(served.product_ids),
        "served_at": datetime.now(UTC).isoformat(),
    }
    if store.log_buffer is not None:
        store.log_buffer.add(entry)
        return
    _push_entries(store.database_url, store.redis_url, [entry])


def _push_entries(database_url: str, redis_url: str | None, entries: list[dict[str, Any]]) -> None:
    try:
        get_redis(redis_url).rpush(SERVED_LOG_KEY, *(orjson.dumps(e) for e in entries))
    except RedisError as exc:
        log.warning("served-list log: Redis unavailable (%s); writing the rows directly", exc)
        _insert_entries(database_url, entries)


class ServedLogBuffer:
    """Served-list log entries on their way to Redis: appended by requests, pushed in batches by a
    daemon thread every ``linger`` seconds, drained by ``flush`` (worker exit, and at interpreter exit)."""

    def __init__(self, database_url: str, redis_url: str | None, linger: float = 0.02) -> None:
        self.database_url, self.redis_url, self.linger = database_url, redis_url, linger
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._push_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        atexit.register(self.flush)

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            first = len(self._entries) == 1
        if first:
            if self._pid != os.getpid():  # started lazily, and again in a forked child
                self._start()
            self._wake.set()

    def flush(self) -> int:
        """Push everything buffered now; returns how many entries were pushed. Waits for a push already
        under way, so once it returns (the worker exit hook) nothing is left in flight."""
        with self._push_lock:
            with self._lock:
                entries, self._entries = self._entries, []
            if entries:
                _push_entries(self.database_url, self.redis_url, entries)
            return len(entries)

    def pending(self) -> int:
        with self._lock:
            return len(self._entries)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="served-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self.linger)  # let a batch gather
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the log must never take the worker down
                log.exception("served-list log: flush failed")


def _insert_entries(database_url: str, entries: list[dict[str, Any]]) -> int:
    """Insert log entries, skipping serve ids already stored (a retried flush never duplicates)."""
    if not entries:
        return 0
    with Session(get_engine(database_url)) as s:
        ids = [e["serve_id"] for e in entries]
        known = set(s.exec(select(ServedList.serve_id).where(ServedList.serve_id.in_(ids))).all())
        fresh = {e["serve_id"]: e for e in entries if e["serve_id"] not in known}
        for e in fresh.values():
            s.add(ServedList(**{**e, "served_at": datetime.fromisoformat(e["served_at"])}))
        s.commit()
        return len(fresh)


def flush_served_log(database_url: str, redis_url: str | None, batch: int = 1000) -> int:
    """Move logged entries from Redis into ``served_list``; idempotent and safe to run concurrently-ish.

    Entries are read, inserted (deduplicated by ``serve_id``), and only then trimmed from Redis, so a
    crash between the two re-inserts nothing and loses nothing.
    """
    redis = get_redis(redis_url)
    moved = 0
    while True:
        raw = redis.lrange(SERVED_LOG_KEY, 0, batch - 1)
        if not raw:
            return moved
        entries = []
        for item in raw:
            try:
                entries.append(json.loads(item))
            except ValueError:
                log.warning("served-list log: dropping a malformed entry")
        moved += _insert_entries(database_url, entries)
        redis.ltrim(SERVED_LOG_KEY, len(raw), -1)
        if len(raw) < batch:
            return moved
