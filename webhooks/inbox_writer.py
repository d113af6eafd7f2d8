"""Group commit for the webhook inbox: concurrent deliveries in one process share one transaction.

A request thread hands its row to the process's :class:`InboxWriter` and waits. The writer thread takes
the rows waiting (up to ``max_batch``), looks their shops up, inserts them with ONE
``INSERT … ON CONFLICT DO NOTHING RETURNING`` and commits; only after the commit returns does it wake the
waiters, each with its own outcome (new row, or duplicate: the same shop + event id already stored, or
delivered twice in this batch). Nothing is acknowledged before its commit. When anything fails before the
commit returns, every waiter of that batch gets :class:`InboxUnavailable` (→ 503, Shopify retries; a row
that committed in spite of an error is then found as a duplicate). No batching delay is added: while one
commit is in flight the next batch gathers, so a lone request commits at once.

On SQLite the writers of every process take an exclusive file lock (``flock``) around their write
transaction, so they queue in the kernel and run as soon as the lock is free, instead of polling in
SQLite's busy handler (which sleeps up to 100 ms between tries).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.engine import make_url

from app.db import get_engine, normalize_url
from app.models.inbox import DROPPED, PENDING, WebhookInbox
from webhooks.handlers import COMPLIANCE_TOPICS, TOPICS

log = logging.getLogger(__name__)

_INBOX = WebhookInbox.__table__
_KEY = ["shop_domain", "event_id"]
WAIT_S = 4.5  # Shopify waits 5 s for an answer; a later 200 would count as a failure anyway
MAX_BATCH = 256
# Under load (the last commit carried more than one row) the writer waits this long before taking the
# next batch, so more rows share each commit: PostgreSQL's commit_delay, for the same reason (CPU).
LINGER_S = float(os.environ.get("ATTUNE_INBOX_LINGER_S", "0.002"))


class InboxUnavailable(Exception):
    """The row could not be committed (database down or failing, or no commit in time)."""


class _StaleConnection(Exception):
    """A kept connection failed before its commit was sent."""


@dataclass(slots=True, frozen=True)
class Recorded:
    """What happened to one delivery: ``inbox_id`` is None for a duplicate."""

    inbox_id: int | None
    status: str
    reason: str | None
    shop_id: int | None


def classify(shop: Any, topic: str) -> tuple[str, str | None]:
    """(status, reason) for a delivery to ``shop`` (a row with ``access_token_enc`` and
    ``uninstalled_at``, or None when unknown)."""
    if shop is None:
        return DROPPED, "unknown shop"
    if (shop.access_token_enc is None or shop.uninstalled_at is not None) and topic not in COMPLIANCE_TOPICS:
        return DROPPED, "shop uninstalled"
    if topic not in TOPICS:
        return DROPPED, "no handler for topic"
    return PENDING, None


class _Ticket:
    """One waiting delivery: its lock is held until the writer has its outcome (or error)."""

    __slots__ = ("row", "outcome", "error", "lock")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.outcome: Recorded | None = None
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.lock.acquire()


AfterCommit = Callable[[list[tuple[int, int | None]]], None]


class InboxWriter:
    """One per process and database: ``record(row)`` returns once the row's batch has committed.

    ``after_commit`` gets the (inbox id, shop id) of every new pending row of each committed batch (the
    enqueuer); it runs on the writer thread after the waiters are woken, and must not block for long.
    """

    def __init__(
        self,
        url: str,
        *,
        after_commit: AfterCommit | None = None,
        max_batch: int = MAX_BATCH,
        wait_s: float = WAIT_S,
        linger_s: float = LINGER_S,
    ) -> None:
        self.url = url
        self.after_commit = after_commit
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.linger_s = linger_s
        self._last_batch = 0
        self.batches = 0  # committed batches, for tests and logs
        self.rows = 0  # rows in committed batches
        # Hand-offs kept cheap under load: a deque, one wake-up event for the writer, a lock per waiter
        # (a shared Condition would make every waiter of a batch queue up for the same lock).
        self._pending: deque[_Ticket] = deque()
        self._work = threading.Event()
        self._start_lock = threading.Lock()
        self._held = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        parsed = make_url(normalize_url(url))
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"the webhook inbox needs SQLite or PostgreSQL, not {self.dialect}")
        db = parsed.database if self.dialect == "sqlite" else None
        self._lock_path = f"{db}-ingest.lock" if db and db != ":memory:" else None
        self._lock_fd: int | None = None
        self._conn: Any = None  # the writer thread's own DBAPI connection (from the engine's pool)
        self._sql = _Sql(get_engine(url).dialect)

    # --- request side -------------------------------------------------------------------------

    def record(self, row: dict[str, Any]) -> Recorded:
        """Commit ``row`` (inbox columns but shop_id/status/error) with whatever else is waiting.

        Raises :class:`InboxUnavailable` when the commit failed or did not happen within ``wait_s``."""
        if self._closed:
            raise InboxUnavailable("the inbox writer is closed")
        if self._thread is None:
            self._start()
        ticket = _Ticket(row)
        self._pending.append(ticket)
        if not self._work.is_set():
            self._work.set()
        if not ticket.lock.acquire(timeout=self.wait_s):
            raise InboxUnavailable(f"no commit within {self.wait_s} s")
        if ticket.error is not None:
            raise InboxUnavailable(str(ticket.error)) from ticket.error
        assert ticket.outcome is not None
        return ticket.outcome

    def waiting(self) -> int:
        """Rows handed in and not yet taken by the writer thread."""
        return len(self._pending)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Let rows gather without committing until the block ends (tests; maintenance)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            self._work.set()

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is waiting, then stop; later ``record`` calls raise InboxUnavailable."""
        self._closed = True
        self._work.set()
        if self.batches:
            log.info("inbox writer: %d rows in %d commits", self.rows, self.batches)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._drop_connection(broken=False)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- writer thread ------------------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._work.wait()
            self._work.clear()  # before taking rows: a row handed in after this sets it again
            while self._held and not self._closed:
                time.sleep(0.005)
            if self.linger_s > 0 and self._last_batch > 1 and len(self._pending) < self.max_batch:
                time.sleep(self.linger_s)  # under load, let a few more rows join this commit
            while self._pending:
                tickets = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
                new = self._commit(tickets)
                self._last_batch = len(tickets)
                for ticket in tickets:
                    ticket.lock.release()
                if new and self.after_commit is not None:
                    try:
                        self.after_commit(new)
                    except Exception:  # the rows are durable; the sweeper enqueues what this missed
                        log.exception("after-commit hook of the inbox writer failed")
            if self._closed:
                return

    def _commit(self, tickets: list[_Ticket]) -> list[tuple[int, int | None]]:
        rows = [t.row for t in tickets]
        try:
            with self._write_lock():
                try:
                    outcomes = self._transaction(rows, fresh=self._conn is None)
                except _StaleConnection:  # an idle connection the server dropped: one more try
                    outcomes = self._transaction(rows, fresh=True)
        except Exception as exc:  # noqa: BLE001 - every waiter must get an answer, never hang
            for ticket in tickets:
                ticket.error = exc
            log.error("webhook inbox batch of %d not committed: %s", len(tickets), exc.__class__.__name__)
            return []
        for ticket, outcome in zip(tickets, outcomes, strict=True):
            ticket.outcome = outcome
        self.batches += 1
        self.rows += len(outcomes)
        return [(o.inbox_id, o.shop_id) for o in outcomes if o.inbox_id is not None and o.status == PENDING]

    def _transaction(self, rows: list[dict[str, Any]], *, fresh: bool) -> list[Recorded]:
        """Write and commit on the writer's own connection (kept between batches: no pool checkout or
        ping per batch). Any error drops the connection. Raises _StaleConnection when a kept connection
        failed before the commit was sent (nothing can have been committed: safe to try again)."""
        if self._conn is None:
            self._conn = get_engine(self.url).raw_connection()
        conn, committing = self._conn, False
        try:
            outcomes = self._write(conn, rows)
            committing = True
            conn.commit()
            return outcomes
        except Exception as exc:
            self._drop_connection(broken=True)
            dbapi = get_engine(self.url).dialect.loaded_dbapi
            if (
                not fresh
                and not committing
                and isinstance(exc, dbapi.OperationalError | dbapi.InterfaceError)
            ):
                raise _StaleConnection from exc
            raise

    def _drop_connection(self, *, broken: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # a broken connection may fail to roll back or close
                if broken:
                    conn.invalidate()
                else:
                    conn.rollback()
                conn.close()

    def _write(self, conn: Any, rows: list[dict[str, Any]]) -> list[Recorded]:
        """Look the shops up and insert the batch on the DBAPI connection ``conn`` (not committed).

        Plain DBAPI with SQL written once per batch size: SQLAlchemy's per-statement work (cache keys over
        every bound value of a multi-row VALUES) cost more CPU than the rest of a request. Values go through
        the columns' own SQLAlchemy bind processors, so rows are stored exactly as the ORM stores them."""
        sql = self._sql
        cur = conn.cursor()
        try:
            domains = sorted({r["shop_domain"] for r in rows})
            cur.execute(sql.shops(len(domains)), domains)
            shops = {d: _Shop(i, token, gone) for d, i, token, gone in cur.fetchall()}
            first: dict[tuple[str, str], int] = {}
            params: list[Any] = []
            decided = []
            for i, row in enumerate(rows):
                shop = shops.get(row["shop_domain"])
                status, reason = classify(shop, row["topic"])
                shop_id = shop.id if shop is not None else None
                decided.append((status, reason, shop_id))
                key = (row["shop_domain"], row["event_id"])
                if key not in first:  # the same event twice in one batch: the first delivery stands for both
                    first[key] = i
                    params.extend(sql.params({**row, "shop_id": shop_id, "status": status, "error": reason}))
            cur.execute(sql.insert(len(first)), params)
            ids = {(d, e): i for i, d, e in cur.fetchall()}
        finally:
            cur.close()
        return [
            Recorded(ids.get(key) if first[key] == i else None, *decided[i])
            for i, key in enumerate((r["shop_domain"], r["event_id"]) for r in rows)
        ]

    def _write_lock(self) -> Any:
        if self._lock_path is None:
            return nullcontext()
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        return _flocked(self._lock_fd)


class _Shop(NamedTuple):
    id: int
    access_token_enc: str | None
    uninstalled_at: Any


class _Sql:
    """The batch statements for one dialect, with the inbox columns' bind processors."""

    def __init__(self, dialect: Any) -> None:
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.columns = [c.name for c in _INBOX.columns if c.name != "id"]
        procs = {c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in _INBOX.columns}
        self._procs = [(name, procs[name]) for name in self.columns]
        self._row = "(" + ", ".join([self.mark] * len(self.columns)) + ")"
        self._inserts: dict[int, str] = {}

    def params(self, row: dict[str, Any]) -> list[Any]:
        return [row[name] if proc is None else proc(row[name]) for name, proc in self._procs]

    def shops(self, n: int) -> str:
        marks = ", ".join([self.mark] * n)
        return f"SELECT domain, id, access_token_enc, uninstalled_at FROM shop WHERE domain IN ({marks})"

    def insert(self, n: int) -> str:
        sql = self._inserts.get(n)
        if sql is None:
            sql = self._inserts[n] = (
                f"INSERT INTO {_INBOX.name} ({', '.join(self.columns)}) VALUES "
                + ", ".join([self._row] * n)
                + f" ON CONFLICT ({', '.join(_KEY)}) DO NOTHING RETURNING id, shop_domain, event_id"
            )
        return sql


@contextmanager
def _flocked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
