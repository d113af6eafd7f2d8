"""The served-list log that measurement reads, request side: one entry per storefront answer, into Redis.

``record_served`` appends each answer's entry to a Redis list (straight to the table when Redis is down);
the job ``app.jobs.served_log.flush_served_log`` moves the entries into ``served_list``
(``app.stores.served_log``). Web
workers batch the appends (``ServedLogBuffer``, turned on by ``ServingStore.buffer_log``): a background
thread pushes what accumulated every ``linger`` seconds and the worker's exit hook drains the rest, so the
request never waits for Redis. A worker killed outright loses at most ``linger`` seconds of its log entries
(never an answer).
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from redis.exceptions import RedisError

from app.db import session_scope
from app.queue import get_redis
from app.storefront.holdout import AGENT
from app.stores.served_log import SERVED_LOG_KEY, insert_entries


class Answer(Protocol):
    """What the log records of one answer (``app.storefront.lists.Served`` or a cached ``Rendered``)."""

    placement: str
    list_id: int | None
    strategy: str
    variant: str
    holdout: bool
    product_ids: Sequence[Any]


class LogTarget(Protocol):
    """Where an entry goes (``app.storefront.cache.ServingStore``; this module never imports the cache)."""

    database_url: str
    redis_url: str | None
    log_buffer: ServedLogBuffer | None


log = logging.getLogger(__name__)


def new_serve_id() -> str:
    return secrets.token_hex(12)


def record_served(
    store: LogTarget,
    shop_id: int,
    served: Answer,
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
        with session_scope(database_url) as session:
            insert_entries(session, entries)


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
