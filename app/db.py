"""Database engine and sessions. One engine per URL per process; sessions are short-lived."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
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


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["connect_args"] = {"connect_timeout": 1}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


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
