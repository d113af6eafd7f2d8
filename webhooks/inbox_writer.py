"""Group commit for the webhook inbox: concurrent deliveries in one process share one transaction.

A request thread hands its row to the process's :class:`InboxWriter`. When no commit is in progress it
leads: it takes the rows waiting (up to ``max_batch``, its own among them) and inserts them with ONE
``INSERT … ON CONFLICT DO NOTHING RETURNING`` that also looks each row's shop up (autocommit: the
statement is the transaction, one round trip per batch) and, once that returns, wakes the waiters of the
batch, each with its own outcome (new row, or duplicate: the same shop + event id already stored, or
delivered twice in this batch). Otherwise it waits, and is
woken either with its outcome or as the next leader. There is no writer thread: a delivery that finds the
inbox idle commits on its own thread with no hand-off at all, and under load each delivery is woken once.
Nothing is acknowledged before its commit. When anything fails before the commit returns, every waiter
of that batch gets :class:`InboxUnavailable` (→ 503, Shopify retries; a row that committed in spite of
an error is then found as a duplicate). While one commit is in flight the next batch gathers.

On SQLite the writers of every process take an exclusive file lock (``flock``) around the INSERT, so they
queue in the kernel and run as soon as the lock is free, instead of polling in SQLite's busy handler
(which sleeps up to 100 ms between tries). The parameters are built before the lock: every step under it
that needs the GIL back waits behind this process's request threads, and the lock holds up every other
process's writer meanwhile.

Longer than about 400 lines on purpose: it is performance-critical (docs/architecture.md), and the leader
hand-off, the batch statement and the per-dialect commit are one protocol that must be read together.
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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy.engine import make_url

from app.db import get_engine, normalize_url
from app.models.inbox import DROPPED, PENDING, WebhookInbox
from webhooks.topics import COMPLIANCE_TOPICS, TOPICS

log = logging.getLogger(__name__)

_INBOX = WebhookInbox.__table__
_KEY = ["shop_domain", "event_id"]
WAIT_S = 4.5  # Shopify waits 5 s for an answer; a later 200 would count as a failure anyway
MAX_BATCH = 256
# The leader waits at most this long before taking a batch for deliveries already on their way (announced
# with ``expect``), so they share its commit: PostgreSQL's commit_delay, for the same reason (CPU). With
# none on the way it does not wait: every thread that could add a row is waiting for this commit.
LINGER_S = float(os.environ.get("ATTUNE_INBOX_LINGER_S", "0.002"))
IDLE_PING_S = 10.0  # a kept connection idle this long is checked before use
DUPLICATE = "duplicate"  # the status of a delivery whose event is stored already


class InboxUnavailable(Exception):
    """The row could not be committed (database down or failing, or no commit in time)."""


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
    """One waiting delivery: its lock is held until its outcome (or error) is known, or until its thread
    is made the leader (``lead``). ``gone``: its thread stopped waiting (timed out)."""

    __slots__ = ("row", "outcome", "error", "lock", "lead", "gone")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.outcome: Recorded | None = None
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.lock.acquire()
        self.lead = False
        self.gone = False


AfterCommit = Callable[[list[tuple[int, int | None]]], None]
BeforeBatch = Callable[[], None]


class InboxWriter:
    """One per process and database: ``record(row)`` returns once the row's batch has committed.

    ``after_commit`` gets the (inbox id, shop id) of every new pending row of each committed batch (the
    enqueuer); it runs on the leader's thread after the waiters are woken, and must not block for long.
    ``before_batch`` (None: nothing) runs on the leader's thread before it takes each batch; while it
    blocks, rows gather without a commit (tests use it to put deliveries in one batch).

    ``expect()`` announces a delivery on its way (it is being checked); its ``record(row, expected=True)``
    (or ``unexpect()`` when it is refused) ends that. A leader waits for announced deliveries, up to
    ``linger_s``, before it takes a batch, and never waits when none is announced.
    """

    def __init__(
        self,
        url: str,
        *,
        after_commit: AfterCommit | None = None,
        before_batch: BeforeBatch | None = None,
        max_batch: int = MAX_BATCH,
        wait_s: float = WAIT_S,
        linger_s: float = LINGER_S,
    ) -> None:
        self.url = url
        self.after_commit = after_commit
        self.before_batch = before_batch
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.linger_s = linger_s
        self.batches = 0  # committed batches, for tests and logs
        self.rows = 0  # rows in committed batches
        # Hand-offs kept cheap under load: a deque, a lock per waiter (a shared Condition would make every
        # waiter of a batch queue up for the same lock), and no writer thread: the leader is a request
        # thread, and the next leader is woken by the lock it was waiting on anyway.
        self._pending: deque[_Ticket] = deque()
        self._leader = threading.Lock()  # held by the thread that commits (passed on, never shared)
        self._mu = threading.Lock()  # orders a waiter giving up against being made the leader
        self._count = threading.Lock()  # guards ``_expected``
        self._expected = 0  # deliveries announced and not yet handed in (or refused)
        self._lingering = False  # a leader waits on ``_arrived`` for the announced ones
        self._arrived = threading.Event()
        self._closed = False
        parsed = make_url(normalize_url(url))
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"the webhook inbox needs SQLite or PostgreSQL, not {self.dialect}")
        db = parsed.database if self.dialect == "sqlite" else None
        self._lock_path = f"{db}-ingest.lock" if db and db != ":memory:" else None
        self._lock_fd: int | None = None
        self._conn: Any = None  # the leaders' DBAPI connection (from the engine's pool), kept between batches
        self._used = 0.0  # when it last committed (monotonic)
        self._sql = _Sql(get_engine(url).dialect)

    # --- request side -------------------------------------------------------------------------

    def expect(self) -> None:
        """A delivery is on its way: a leader about to commit may wait for it (up to ``linger_s``)."""
        with self._count:
            self._expected += 1

    def unexpect(self) -> None:
        """An announced delivery will not be recorded after all (it was refused)."""
        with self._count:
            self._expected -= 1
            arrived = self._expected <= 0
        if arrived and self._lingering:
            self._arrived.set()

    def record(self, row: dict[str, Any], *, expected: bool = False) -> Recorded:
        """Commit ``row`` (inbox columns but shop_id/status/error) with whatever else is waiting.
        ``expected``: the delivery was announced with ``expect`` (this ends it, whatever happens).

        The calling thread either commits itself (it found no commit in progress: it leads, and takes
        every row waiting along) or waits for the leader's commit, or to be made the next leader.
        Raises :class:`InboxUnavailable` when the commit failed or did not happen within ``wait_s``."""
        if self._closed:
            if expected:
                self.unexpect()
            raise InboxUnavailable("the inbox writer is closed")
        ticket = _Ticket(row)
        self._pending.append(ticket)
        if expected:
            self.unexpect()
        if self._leader.acquire(blocking=False):
            self._lead(ticket)
        elif not ticket.lock.acquire(timeout=self.wait_s):
            with self._mu:
                if not ticket.lead and ticket.outcome is None and ticket.error is None:
                    ticket.gone = True  # never made the leader now; its row may still be committed
                    raise InboxUnavailable(f"no commit within {self.wait_s} s")
            ticket.lock.acquire()  # woken just as it gave up: released already, or about to be
        if ticket.lead:
            self._lead(ticket)
        if ticket.error is not None:
            raise InboxUnavailable(str(ticket.error)) from ticket.error
        assert ticket.outcome is not None
        return ticket.outcome

    def waiting(self) -> int:
        """Rows handed in and not yet taken into a commit."""
        return len(self._pending)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is waiting, then stop; later ``record`` calls raise InboxUnavailable."""
        self._closed = True
        if self._leader.acquire(timeout=timeout):  # kept: nobody leads after this
            while self._pending:
                self._commit_next()
        if self.batches:
            log.info("inbox writer: %d rows in %d commits", self.rows, self.batches)
        self._drop_connection()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- the leader -----------------------------------------------------------------------------

    def _lead(self, mine: _Ticket) -> None:
        """Commit batches (holding ``_leader``) until ``mine`` has its outcome, then pass the lead to
        the first row still waiting, or let it go when none is."""
        while mine.outcome is None and mine.error is None:
            if self.before_batch is not None:
                self.before_batch()
            if self.linger_s > 0:
                self._gather()
            self._commit_next(mine)
        while True:
            with self._mu:
                # list() copies in one step under the GIL: iterating the deque itself while request
                # threads append to it would raise "deque mutated during iteration" and lose the lead
                for ticket in list(self._pending):
                    if not ticket.gone:
                        ticket.lead = True  # it wakes as the leader, and the lead is its own now
                        ticket.lock.release()
                        return
            if self._pending:  # only rows whose threads gave up: commit them here
                self._commit_next()
                continue
            self._leader.release()
            # A row handed in while the lead was held, after the look above, found it taken and waits:
            # take the lead back for it unless another thread has.
            if not self._pending or not self._leader.acquire(blocking=False):
                return

    def _gather(self) -> None:
        """Wait, up to ``linger_s``, until no announced delivery is still on its way (or a full batch
        waits), so they share the next commit. Without any on the way it returns at once."""
        deadline = time.monotonic() + self.linger_s
        while self._expected > 0 and len(self._pending) < self.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.clear()
            self._lingering = True
            try:
                if self._expected > 0:  # checked again: an arrival before the clear set nothing
                    self._arrived.wait(left)
            finally:
                self._lingering = False

    def _commit_next(self, mine: _Ticket | None = None) -> None:
        """Commit the next batch of waiting rows and wake their threads (not ``mine``: it is awake)."""
        tickets = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
        if not tickets:
            return
        new = self._commit(tickets)
        for ticket in tickets:
            if ticket is not mine:
                ticket.lock.release()
        if new and self.after_commit is not None:
            try:
                self.after_commit(new)
            except Exception:  # the rows are durable; the sweeper enqueues what this missed
                log.exception("after-commit hook of the inbox writer failed")

    def _commit(self, tickets: list[_Ticket]) -> list[tuple[int, int | None]]:
        try:
            outcomes = self._transaction([t.row for t in tickets])
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

    def _transaction(self, rows: list[dict[str, Any]]) -> list[Recorded]:
        """Insert and commit the batch with ONE statement on the leaders' own connection (kept between
        batches, in autocommit mode: the INSERT is its own transaction, durable when it returns; no BEGIN
        or COMMIT round trips). Any error drops the connection."""
        batch = self._prepare(rows)
        conn = self._connection()
        try:
            with self._write_lock():
                returned = self._insert(conn, batch)
        except Exception:
            self._drop_connection()
            raise
        self._used = time.monotonic()
        return batch.outcomes(returned)

    def _connection(self) -> Any:
        """The kept connection. One idle for more than ``IDLE_PING_S`` is checked first (the server may
        have dropped it meanwhile) and replaced when dead, so a retry never has to guess whether a failed
        INSERT committed."""
        if self._conn is not None and time.monotonic() - self._used > IDLE_PING_S:
            try:
                cur = self._conn.cursor()
                cur.execute("SELECT 1")
                cur.fetchall()
                cur.close()
            except Exception:  # noqa: BLE001 - any failure: open a new one
                self._drop_connection()
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> Any:
        """A connection of the engine's, taken out of its pool for good and put in autocommit mode."""
        conn = get_engine(self.url).raw_connection()
        conn.detach()  # never handed back to the pool in autocommit mode
        driver = conn.dbapi_connection
        if self.dialect == "sqlite":
            driver.isolation_level = None
        else:
            driver.autocommit = True
        return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # a broken connection may fail to close
                conn.close()  # detached from the pool: this closes the DBAPI connection

    def _prepare(self, rows: list[dict[str, Any]]) -> _Batch:
        """The batch's INSERT parameters, built before the write lock is taken (on SQLite the lock is
        shared by every process's writer, and any Python under it waits for the GIL behind this process's
        request threads). The same event twice in one batch: the first delivery stands for both."""
        batch = _Batch(keys=[(r["shop_domain"], r["event_id"]) for r in rows])
        for i, (row, key) in enumerate(zip(rows, batch.keys, strict=True)):
            if key not in batch.first:
                batch.first[key] = i
                batch.params.extend(self._sql.params(row))
        return batch

    def _insert(self, conn: Any, batch: _Batch) -> dict[tuple[str, str], Recorded]:
        """Insert the prepared batch (committed, in autocommit mode, once it returns); the new rows'
        outcomes by (shop domain, event id)."""
        cur = conn.cursor()
        try:
            cur.execute(self._sql.insert(len(batch.first)), batch.params)
            return {
                (domain, event): Recorded(inbox_id, status, error, shop_id)
                for inbox_id, domain, event, shop_id, status, error in cur.fetchall()
            }
        finally:
            cur.close()

    def _write_lock(self) -> Any:
        if self._lock_path is None:
            return nullcontext()
        if self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        return _flocked(self._lock_fd)


@dataclass(slots=True)
class _Batch:
    """One batch ready to insert: its rows' keys, the row index of the first delivery of each key, and
    the parameters of those first deliveries."""

    keys: list[tuple[str, str]]
    first: dict[tuple[str, str], int] = field(default_factory=dict)
    params: list[Any] = field(default_factory=list)

    def outcomes(self, returned: dict[tuple[str, str], Recorded]) -> list[Recorded]:
        """Each row's outcome; a key stored by an earlier batch (nothing returned now) or repeated in
        this one is a duplicate."""
        return [
            returned.get(key, _DUPLICATE) if self.first[key] == i else _DUPLICATE
            for i, key in enumerate(self.keys)
        ]


_DUPLICATE = Recorded(None, DUPLICATE, None, None)


class _Shop(NamedTuple):
    id: int
    access_token_enc: str | None
    uninstalled_at: Any


# What ``classify`` sees for a shop that is installed, and for one that is not: the INSERT picks between
# their outcomes (and the unknown shop's) by the shop row's state, with ``_LIVE_SQL``, ``classify``'s test.
_INSTALLED = _Shop(0, "token", None)
_GONE = _Shop(0, None, None)
_LIVE_SQL = "access_token_enc IS NOT NULL AND uninstalled_at IS NULL"


@lru_cache(maxsize=512)
def _outcomes(topic: str) -> tuple[tuple[str, str | None], ...]:
    """(status, reason) for ``topic`` at an installed shop, an uninstalled one and an unknown one."""
    return classify(_INSTALLED, topic), classify(_GONE, topic), classify(None, topic)


class _Sql:
    """The batch INSERT for one dialect, with the inbox columns' bind processors.

    Each row looks its shop up inside the statement: ``shop_id`` and the (status, error) that
    ``classify`` gives for the shop's state come from scalar subqueries on ``shop.domain`` (unique), so a
    batch is one statement and one round trip, and the shop's state is read in the transaction that
    stores the row."""

    def __init__(self, dialect: Any) -> None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.columns = [c.name for c in _INBOX.columns if c.name != "id"]
        procs = {c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in _INBOX.columns}
        self._procs = [(name, procs[name]) for name in self.columns]
        pick = (
            f"CASE (SELECT CASE WHEN {_LIVE_SQL} THEN 1 ELSE 0 END FROM shop WHERE domain = {mark}) "
            f"WHEN 1 THEN {mark} WHEN 0 THEN {mark} ELSE {mark} END"
        )
        value = {"shop_id": f"(SELECT id FROM shop WHERE domain = {mark})", "status": pick, "error": pick}
        self._row = "(" + ", ".join(value.get(name, mark) for name in self.columns) + ")"
        self._inserts: dict[int, str] = {}

    def params(self, row: dict[str, Any]) -> list[Any]:
        installed, gone, unknown = _outcomes(row["topic"])
        domain = row["shop_domain"]
        out: list[Any] = []
        for name, proc in self._procs:
            if name == "shop_id":
                out.append(domain)
            elif name == "status":
                out += [domain, installed[0], gone[0], unknown[0]]
            elif name == "error":
                out += [domain, installed[1], gone[1], unknown[1]]
            else:
                out.append(row[name] if proc is None else proc(row[name]))
        return out

    def insert(self, n: int) -> str:
        sql = self._inserts.get(n)
        if sql is None:
            sql = self._inserts[n] = (
                f"INSERT INTO {_INBOX.name} ({', '.join(self.columns)}) VALUES "
                + ", ".join([self._row] * n)
                + f" ON CONFLICT ({', '.join(_KEY)}) DO NOTHING"
                " RETURNING id, shop_domain, event_id, shop_id, status, error"
            )
        return sql


@contextmanager
def _flocked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
