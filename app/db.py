"""Database engine and sessions. One engine per URL per process; sessions are short-lived."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlmodel import Session, create_engine

T = TypeVar("T")
LOST_RACE_ATTEMPTS = 4


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the short forms Heroku and friends hand out."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


# A pooled connection idle longer than this is pinged before use (one round trip), as SQLAlchemy's
# ``pool_pre_ping`` does for every checkout: the server may have closed it meanwhile (a restart, an idle
# timeout). One used moments ago is handed out as it is: a ping per transaction was a round trip in every
# decision batch and two in every relay batch (benchmarks/outbox-postgresql.md). A connection that broke within
# the interval fails its statement; SQLAlchemy then invalidates the pool and the next checkout reconnects.
IDLE_PING_S = 10.0


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["connect_args"] = {"connect_timeout": 1}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "checkin", _checked_in)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    return engine


def _checked_in(_dbapi_conn: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Before a pooled connection idle for ``IDLE_PING_S`` (or never used) is handed out, check it still
    answers; one that does not is discarded and the pool connects afresh (``DisconnectionError``)."""
    last = record.info.get("checked_in_at")
    if last is not None and time.monotonic() - last < IDLE_PING_S:
        return
    try:
        dialect.do_ping(dbapi_conn)
    except Exception as exc:
        raise DisconnectionError("the pooled connection no longer answers") from exc


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's current transaction commits (never on rollback).

    Used to enqueue jobs only after the rows they read are visible to workers.
    """
    pending: list[Callable[[], None]] = session.info.setdefault("after_commit", [])
    pending.append(callback)
    if not session.info.get("after_commit_hooked"):
        session.info["after_commit_hooked"] = True

        @event.listens_for(session, "after_commit")
        def _run(sess: Session) -> None:
            callbacks = sess.info.pop("after_commit", [])
            for cb in callbacks:
                cb()

        @event.listens_for(session, "after_rollback")
        def _drop(sess: Session) -> None:
            sess.info.pop("after_commit", None)


def retry_lost_race(
    work: Callable[[], T], *, also: tuple[type[BaseException], ...] = (), attempts: int = LOST_RACE_ATTEMPTS
) -> T:
    """Run ``work`` (one whole transaction) again when another writer got there first.

    A unique-key conflict (two workers inserting the same row) or one of ``also`` (e.g. an optimistic
    version check) means our read was stale, not that the job failed: recompute from the new state a few
    times before letting the job's own retry policy take over.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except (IntegrityError, *also):
            if attempt == attempts:
                raise
            time.sleep(0.02 * attempt)
    raise AssertionError("unreachable")
