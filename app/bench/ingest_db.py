"""What the ingest bench sets up and checks outside the servers: a private Redis, the bench shop, the
inbox rows it stored and the jobs queued for them, and the database's own commit latency and durability."""

from __future__ import annotations

import statistics
import time
import uuid

SHOP = "attune-ingest-bench.myshopify.com"


def prepare_db(url: str) -> int:
    """Migrate ``url`` and make sure the bench shop is installed there; its id."""
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.migrate import upgrade
    from app.models.base import utcnow
    from app.models.shop import Shop

    upgrade(url)
    with Session(get_engine(url)) as s:
        shop = s.exec(select(Shop).where(Shop.domain == SHOP)).first()
        if shop is None:
            shop = Shop(domain=SHOP, access_token_enc="bench", installed_at=utcnow(), scopes="read_orders")
            s.add(shop)
            s.commit()
            s.refresh(shop)
        return shop.id


def stored_rows(url: str, shop_id: int, prefix: str) -> dict[str, int]:
    """The bench shop's inbox rows whose event id starts with ``prefix-``: {event id: inbox id}."""
    from sqlmodel import Session, select

    from app.db import get_engine
    from app.models.inbox import WebhookInbox

    with Session(get_engine(url)) as s:
        rows = s.exec(
            select(WebhookInbox.event_id, WebhookInbox.id).where(
                WebhookInbox.shop_id == shop_id,
                WebhookInbox.event_id.startswith(prefix + "-"),  # type: ignore[attr-defined]
            )
        )
        return {event_id: inbox_id for event_id, inbox_id in rows}


def queued_jobs(redis_url: str) -> tuple[int, set[int]]:
    """(jobs in the webhooks queue, the inbox ids they carry)."""
    from redis import Redis
    from rq import Queue

    jobs = Queue("webhooks", connection=Redis.from_url(redis_url)).jobs
    return len(jobs), {i for job in jobs for i in job.args[0]}


def commit_latency(url: str, body: bytes, n: int = 200) -> float:
    """Median time of one durable inbox commit on its own (one writer, batches of one, no HTTP/HMAC/Redis),
    in ms: what every delivery would pay without group commit."""
    from app.models.base import utcnow
    from webhooks.inbox_writer import InboxWriter

    writer = InboxWriter(url)
    payload, times = body.decode(), []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            writer.record(
                {
                    "shop_domain": SHOP,
                    "event_id": f"commit-{uuid.uuid4()}",
                    "webhook_id": None,
                    "topic": "bench/commit-timing",  # no handler: recorded as dropped, never queued
                    "api_version": None,
                    "triggered_at": None,
                    "payload": payload,
                    "attempts": 0,
                    "received_at": utcnow(),
                    "processed_at": None,
                }
            )
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        writer.close()
    return statistics.median(times)


def durability(url: str) -> str:
    """The database's commit durability setting, as the server processes see it."""
    from sqlalchemy import text

    from app.db import get_engine

    engine = get_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            level = conn.execute(text("PRAGMA synchronous")).scalar()
            mode = conn.execute(text("PRAGMA journal_mode")).scalar()
            name = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, str(level))
            return f"SQLite journal_mode={mode}, synchronous={name}"
        value = conn.execute(text("SHOW synchronous_commit")).scalar()
        fsync = conn.execute(text("SHOW fsync")).scalar()
        return f"PostgreSQL synchronous_commit={value}, fsync={fsync}"


def cleanup(url: str, shop_id: int) -> None:
    """Remove the bench shop (and its inbox rows) from a database that outlives the run."""
    from sqlalchemy import delete

    from app.db import get_engine
    from app.models.inbox import WebhookInbox
    from app.models.shop import Shop

    with get_engine(url).begin() as conn:
        conn.execute(delete(WebhookInbox).where(WebhookInbox.shop_id == shop_id))
        conn.execute(delete(Shop).where(Shop.id == shop_id))
