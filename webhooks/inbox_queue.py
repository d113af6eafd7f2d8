"""Putting inbox rows on the queue: new rows (``enqueue_inbox_many``), and failed ones again (``replay``).

Events are queued as ``process_inbox_batch`` jobs of many ids (one RQ job per event would cost more than
the events), each id also marked in a Redis sorted set so the sweeper can tell a row never queued (its web
process died between the 200 and the background enqueue) from one waiting its turn. The web process
imports this module, never the worker's (``webhooks.inbox_jobs``, which imports the handlers).
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError
from rq import Queue
from sqlmodel import Session, select

from app import tasks
from app.config import Settings, get_settings
from app.db import get_engine
from app.models.inbox import FAILED, PENDING, WebhookInbox
from app.queue import DEFAULT_RETRY, get_queue

log = logging.getLogger(__name__)

PROCESS_BATCH = tasks.PROCESS_INBOX_BATCH
JOB_BATCH = 200  # inbox ids per job: a job costs RQ about as much as applying a few events
QUEUED_KEY = "attune:webhooks:inbox-queued"  # sorted set: inbox id -> when its job was queued
QUEUED_MEMORY_S = 600  # marks older than this are dropped (the sweeper's plain rule covers those rows)


def enqueue_inbox(settings: Settings, inbox_id: int, shop_id: int | None) -> bool:
    """Queue one inbox row; False (never an exception) when Redis is down: the row is durable and the
    sweeper enqueues it later."""
    return enqueue_inbox_many(settings.redis_url, [(inbox_id, shop_id)]) == 1


def enqueue_inbox_many(redis_url: str | None, rows: list[tuple[int, int | None]]) -> int:
    """Queue (inbox id, shop id) rows in ONE Redis transaction: a ``process_inbox_batch`` job per shop
    (up to ``JOB_BATCH`` ids each, ``meta['shop_id']`` set so an uninstall can cancel them), and each id
    marked in ``QUEUED_KEY`` for the sweeper. Returns how many rows were queued: 0 (never an exception)
    when Redis is down; the rows are durable and the sweeper enqueues them later."""
    by_shop: dict[int | None, list[int]] = {}
    for inbox_id, shop_id in dict.fromkeys(rows):
        by_shop.setdefault(shop_id, []).append(inbox_id)
    now = time.time()
    try:
        queue = get_queue(redis_url, "webhooks")
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(
                [
                    Queue.prepare_data(
                        PROCESS_BATCH,
                        (ids[i : i + JOB_BATCH],),
                        retry=DEFAULT_RETRY,
                        meta={"shop_id": shop_id},
                        description=f"inbox {ids[i]}… ({len(ids[i : i + JOB_BATCH])} events)",
                    )
                    for shop_id, ids in by_shop.items()
                    for i in range(0, len(ids), JOB_BATCH)
                ],
                pipeline=pipe,
            )
            pipe.zadd(QUEUED_KEY, {str(i): now for ids in by_shop.values() for i in ids})
            pipe.zremrangebyscore(QUEUED_KEY, "-inf", now - QUEUED_MEMORY_S)
            pipe.execute()
        return sum(len(ids) for ids in by_shop.values())
    except RedisError as exc:
        log.warning("enqueue of %d inbox rows failed (Redis unavailable): %s", len(rows), exc)
        return 0


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
    if replayed:
        enqueue_inbox_many(settings.redis_url, replayed)
    return [i for i, _ in replayed]


def replay_all_failed(shop_id: int | None = None) -> list[int]:
    settings = get_settings()
    with Session(get_engine(settings.database_url)) as session:
        ids = [r.id for r in failed_events(session, shop_id, limit=100_000)]
    return replay(ids, shop_id)
