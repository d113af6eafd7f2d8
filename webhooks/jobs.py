"""Inbox worker jobs: process one event, sweep forgotten ones, replay failed ones.

``process_inbox`` applies the handler's effect and marks the row done in ONE transaction, so a retry
after a crash (or a duplicate job) finds either nothing applied or the row already done.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from redis.exceptions import RedisError
from sqlmodel import Session, select

from app.config import Settings, get_settings
from app.db import get_engine
from app.models.base import utcnow
from app.models.inbox import DONE, DROPPED, FAILED, PENDING, WebhookInbox
from app.models.shop import Shop
from app.queue import DEFAULT_RETRY, get_queue
from webhooks.handlers import COMPLIANCE_TOPICS, resolve

log = logging.getLogger(__name__)

PROCESS = "webhooks.jobs.process_inbox"
SWEEP_AFTER_S = 180
SWEEP_BATCH = 1000
# Tests only (ATTUNE_ENV=test): "<seconds>:<marker file>" makes a job pause after the handler ran and
# before its commit, writing the marker first, so a test can kill the worker mid-job.
TEST_PAUSE_ENV = "ATTUNE_TEST_PAUSE_BEFORE_COMMIT"
# Applied even when the shop is no longer installed (the ingress drops everything else).
ALWAYS_PROCESSED = COMPLIANCE_TOPICS | {"app/uninstalled"}


def job_id(inbox_id: int) -> str:
    return f"inbox-{inbox_id}"


def enqueue_inbox(settings: Settings, inbox_id: int, shop_id: int | None) -> bool:
    """Queue ``process_inbox`` in one Redis round trip; False (never an exception) when Redis is down:
    the row is durable and the sweeper enqueues it later."""
    try:
        queue = get_queue(settings.redis_url, "webhooks")
        with queue.connection.pipeline() as pipe:
            queue.enqueue(
                PROCESS,
                inbox_id,
                job_id=job_id(inbox_id),
                retry=DEFAULT_RETRY,
                meta={"shop_id": shop_id},
                pipeline=pipe,
            )
            pipe.execute()
        return True
    except RedisError as exc:
        log.warning("enqueue of inbox %s failed (Redis unavailable): %s", inbox_id, exc)
        return False


def process_inbox(inbox_id: int) -> str:
    """Apply one inbox event. Returns the row's final status; raises (for RQ's retry) when it failed."""
    settings = get_settings()
    engine = get_engine(settings.database_url)
    with Session(engine, expire_on_commit=False) as session:
        row = session.exec(select(WebhookInbox).where(WebhookInbox.id == inbox_id).with_for_update()).first()
        if row is None:
            return "missing"
        if row.status in (DONE, DROPPED):
            return row.status
        shop = session.get(Shop, row.shop_id) if row.shop_id is not None else None
        if shop is None:
            row.status, row.error, row.processed_at = DROPPED, "unknown shop", utcnow()
            session.add(row)
            session.commit()
            return DROPPED
        if not shop.is_installed and row.topic not in ALWAYS_PROCESSED:
            row.status, row.error, row.processed_at = DROPPED, "shop uninstalled", utcnow()
            session.add(row)
            session.commit()
            return DROPPED
        try:
            resolve(row.topic)(session, shop, row.body(), row)
            _test_pause()
            row.status, row.error, row.processed_at = DONE, None, utcnow()
            row.attempts += 1
            session.add(row)
            session.commit()
        except Exception as exc:
            session.rollback()
            _mark_failed(engine, inbox_id, exc)
            raise
    return DONE


def _mark_failed(engine, inbox_id: int, exc: BaseException) -> None:  # noqa: ANN001
    with Session(engine) as session:
        row = session.get(WebhookInbox, inbox_id)
        if row is None or row.status == DONE:
            return
        row.status = FAILED
        row.attempts += 1
        row.error = f"{exc.__class__.__name__}: {exc}"[:4000]
        session.add(row)
        session.commit()
    log.exception("webhook inbox %s failed", inbox_id, exc_info=exc)


def _test_pause() -> None:
    spec = os.environ.get(TEST_PAUSE_ENV)
    if not spec or get_settings().attune_env != "test":
        return
    seconds, marker = spec.split(":", 1)
    Path(marker).write_text(str(os.getpid()))
    time.sleep(float(seconds))


def sweep_inbox(older_than_s: int = SWEEP_AFTER_S) -> int:
    """Re-enqueue inbox rows still pending after ``older_than_s`` (Redis was down, a job was lost, a
    worker died). Returns how many were enqueued."""
    settings = get_settings()
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    with Session(get_engine(settings.database_url)) as session:
        rows = session.exec(
            select(WebhookInbox.id, WebhookInbox.shop_id)
            .where(WebhookInbox.status == PENDING, WebhookInbox.received_at <= cutoff)
            .order_by(WebhookInbox.id)
            .limit(SWEEP_BATCH)
        ).all()
    queued = sum(1 for inbox_id, shop_id in rows if enqueue_inbox(settings, inbox_id, shop_id))
    if rows:
        log.info("sweeper re-enqueued %d of %d pending inbox rows", queued, len(rows))
    return queued


def failed_events(session: Session, shop_id: int | None = None, limit: int = 100) -> list[WebhookInbox]:
    stmt = select(WebhookInbox).where(WebhookInbox.status == FAILED)
    if shop_id is not None:
        stmt = stmt.where(WebhookInbox.shop_id == shop_id)
    return list(session.exec(stmt.order_by(WebhookInbox.id.desc()).limit(limit)))  # type: ignore[union-attr]


def replay(inbox_ids: list[int], shop_id: int | None = None) -> list[int]:
    """Put failed events back to pending and enqueue them. Returns the ids replayed (scoped to
    ``shop_id`` when given; rows that are not failed are left alone)."""
    settings = get_settings()
    with Session(get_engine(settings.database_url)) as session:
        stmt = select(WebhookInbox).where(WebhookInbox.id.in_(inbox_ids), WebhookInbox.status == FAILED)  # type: ignore[attr-defined]
        if shop_id is not None:
            stmt = stmt.where(WebhookInbox.shop_id == shop_id)
        rows = list(session.exec(stmt))
        for row in rows:
            row.status, row.error = PENDING, None
            session.add(row)
        replayed = [(r.id, r.shop_id) for r in rows]
        session.commit()
    for inbox_id, row_shop in replayed:
        enqueue_inbox(settings, inbox_id, row_shop)
    return [i for i, _ in replayed]


def replay_all_failed(shop_id: int | None = None) -> list[int]:
    settings = get_settings()
    with Session(get_engine(settings.database_url)) as session:
        ids = [r.id for r in failed_events(session, shop_id, limit=100_000)]
    return replay(ids, shop_id)
