"""Inbox worker jobs: process events, sweep forgotten ones.

``process_inbox_batch`` applies a batch's effects and marks its rows done in ONE transaction (``process_inbox``
does the same for one event, the fallback when an event of the batch fails), so a retry after a crash (or a
duplicate job) finds either nothing applied or the rows already done. Rows are queued
(and failed ones replayed) by ``webhooks.inbox_queue``, as ``process_inbox_batch`` jobs of many ids; the
sweeper tells a row never queued from one waiting its turn by the marks that module keeps in Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlmodel import Session, select

from app.config import get_settings
from app.db import get_engine
from app.models.base import utcnow
from app.models.inbox import DONE, DROPPED, FAILED, PENDING, WebhookInbox
from app.models.shop import Shop
from app.queue import get_redis
from webhooks.handlers import resolve
from webhooks.inbox_queue import QUEUED_KEY, enqueue_inbox_many
from webhooks.topics import COMPLIANCE_TOPICS

log = logging.getLogger(__name__)

SWEEP_AFTER_S = 180
UNQUEUED_AFTER_S = 15  # a row with no job this long after its commit was never enqueued
SWEEP_BATCH = 1000
# Applied even when the shop is no longer installed (the ingress drops everything else).
ALWAYS_PROCESSED = COMPLIANCE_TOPICS | {"app/uninstalled"}


def _nothing(row: WebhookInbox) -> None:
    """The default ``before_commit``."""


# Called with the row after its handler ran, just before the commit: a test replaces it in the worker
# process it starts, to stop a job there and kill the worker mid-job.
before_commit: Callable[[WebhookInbox], None] = _nothing

# Events per transaction. One commit serves many events, but a transaction holds SQLite's only write lock from
# its first write to its commit, and the ingress must commit each webhook within ``inbox_writer.WAIT_S`` (4.5 s): a
# job's 200 events in one transaction held it for seconds on a busy 2-core box, and the ingress answered 503
# (benchmarks/freshness.md, 2026-12-07).
TOGETHER = 20


def process_inbox_batch(inbox_ids: list[int]) -> dict[str, int]:
    """Apply the batch's events ``TOGETHER`` at a time, each group in ONE transaction, each event's effect with
    its row marked done (one commit per group, not one per event). When an event of a group fails, that
    group's transaction is rolled back and each of its events is applied in its own transaction with
    ``process_inbox``, so the failing one is marked failed and the rest are applied; after the last group this
    raises, for RQ's retry (a retry skips the ones already done). Returns counts by status."""
    ids = list(dict.fromkeys(inbox_ids))
    counts: dict[str, int] = {}
    failed: list[int] = []
    for lo in range(0, len(ids), TOGETHER):
        group = ids[lo : lo + TOGETHER]
        try:
            for status, n in _apply_together(group).items():
                counts[status] = counts.get(status, 0) + n
            continue
        except Exception as exc:  # noqa: BLE001 - each event again alone: the failing one is marked and logged
            log.info("inbox group of %d events failed together (%s): applying each alone", len(group), exc)
        for inbox_id in group:
            try:
                status = process_inbox(inbox_id)
            except Exception:  # noqa: BLE001 - marked failed and logged by process_inbox; the rest still run
                failed.append(inbox_id)
                continue
            counts[status] = counts.get(status, 0) + 1
    if failed:
        raise InboxEventsFailed(f"{len(failed)} of {len(ids)} inbox events failed: {failed[:20]}")
    return counts


def _apply_together(inbox_ids: list[int]) -> dict[str, int]:
    """Every event of ``inbox_ids`` in one transaction, rows locked in id order; raises on the first failure
    (nothing is committed then)."""
    settings = get_settings()
    counts: dict[str, int] = {}
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        found = session.exec(
            select(WebhookInbox)
            .where(WebhookInbox.id.in_(inbox_ids))  # type: ignore[union-attr]
            .order_by(WebhookInbox.id)
            .with_for_update()
        ).all()
        rows = {row.id: row for row in found}
        shops: dict[int, Shop | None] = {}
        for inbox_id in inbox_ids:
            row = rows.get(inbox_id)
            status = "missing" if row is None else row.status
            if row is not None and row.status not in (DONE, DROPPED):
                if row.shop_id is not None and row.shop_id not in shops:
                    shops[row.shop_id] = session.get(Shop, row.shop_id)
                status = _apply(session, row, shops.get(row.shop_id) if row.shop_id is not None else None)
            counts[status] = counts.get(status, 0) + 1
        session.commit()
    return counts


def _apply(session: Session, row: WebhookInbox, shop: Shop | None) -> str:
    """One event's effect and its row's new status, in the caller's transaction (raises when it fails)."""
    if shop is None:
        row.status, row.error, row.processed_at = DROPPED, "unknown shop", utcnow()
    elif not shop.is_installed and row.topic not in ALWAYS_PROCESSED:
        row.status, row.error, row.processed_at = DROPPED, "shop uninstalled", utcnow()
    else:
        resolve(row.topic)(session, shop, row.body(), row)
        before_commit(row)
        row.status, row.error, row.processed_at = DONE, None, utcnow()
        row.attempts += 1
    session.add(row)
    return row.status


class InboxEventsFailed(Exception):
    """Some events of a batch job failed (each is marked failed with its error)."""


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
        try:
            status = _apply(session, row, shop)
            session.commit()
        except Exception as exc:
            session.rollback()
            _mark_failed(engine, inbox_id, exc)
            raise
    return status


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


def sweep_inbox(
    older_than_s: int = SWEEP_AFTER_S,
    unqueued_after_s: int = UNQUEUED_AFTER_S,
    *,
    now: datetime | None = None,
) -> int:
    """Queue inbox rows still pending: every one older than ``older_than_s`` (a job was lost, a worker
    died, Redis was down), and those older than ``unqueued_after_s`` that have no job in Redis (the web
    process died between its 200 and its background enqueue). Ages are taken at ``now`` (default: the
    current time). Returns how many were enqueued."""
    settings = get_settings()
    now = now or utcnow()
    cutoff = now - timedelta(seconds=older_than_s)
    young_cutoff = now - timedelta(seconds=min(unqueued_after_s, older_than_s))
    with Session(get_engine(settings.database_url)) as session:
        rows = session.exec(
            select(WebhookInbox.id, WebhookInbox.shop_id, WebhookInbox.received_at)
            .where(WebhookInbox.status == PENDING, WebhookInbox.received_at <= young_cutoff)
            .order_by(WebhookInbox.id)
            .limit(SWEEP_BATCH)
        ).all()
    due = [(i, shop) for i, shop, at in rows if at <= cutoff]
    young = [(i, shop) for i, shop, at in rows if at > cutoff]
    if young:
        try:
            marks = get_redis(settings.redis_url).zmscore(QUEUED_KEY, [str(i) for i, _ in young])
        except RedisError as exc:
            log.warning("sweeper cannot read Redis: %s", exc)
            return 0
        due += [row for row, mark in zip(young, marks, strict=True) if mark is None]
    count = enqueue_inbox_many(settings.redis_url, due) if due else 0
    if due:
        log.info("sweeper enqueued %d of %d pending inbox rows", count, len(rows))
    return count
