"""Profile jobs: fold pixel event batches into profiles, refresh a profile from commerce data, sweep.

``process_pixel_batch`` claims its events (``processed_at``) in the same transaction that writes the
profiles, so a retried or duplicated job folds nothing twice; profile writes are compare-and-set on
``version`` (``app.stores.profiles``), so concurrent jobs on one shopper fail and retry instead of losing an
update.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, get_current_job
from sqlalchemy import update
from sqlmodel import Session, select

from app import tasks
from app.config import get_settings
from app.db import after_commit, retry_lost_race, session_scope
from app.identity import node
from app.jobs.profile_refresh import refresh_in_session
from app.models.base import utcnow
from app.models.events import PixelEvent
from app.profiles.derived import derive_many
from app.profiles.journey import stage_of
from app.profiles.state import ProfileEvent, apply_events
from app.queue import DEFAULT_RETRY, enqueue
from app.stores.identity import link_identifiers
from app.stores.journey import forget_shoppers, save_stages
from app.stores.profiles import StaleProfile, load_profiles, merge_into, save_profile, state_of
from app.stores.shop_models import load_scorers

log = logging.getLogger(__name__)
SWEEP_AFTER = timedelta(seconds=60)
SWEEP_BATCH = 500
FOLD_LIMIT = 500  # events folded per job run


# --- pixel batches ------------------------------------------------------------------------------


def _tokens(event: PixelEvent) -> list[str | None]:
    """The cart and checkout tokens this event ties to its browser.

    The batch's ``customerId`` (and ``checkout.customerId``) is deliberately not among them: anyone holding
    the shop's public pixel key can send any customer id, so the claim stays on the event row as an
    unverified hint and never links a browser to a customer. Only verified sources do that: the app proxy's
    signed ``logged_in_customer_id`` (``POST /proxy/identify``) and Shopify's order and checkout webhooks,
    which name these tokens next to the customer (``app.stores.customer_records.stitch_orders``).
    """
    data = event.data or {}
    checkout = data.get("checkout") if isinstance(data.get("checkout"), dict) else {}
    cart = data.get("cart") if isinstance(data.get("cart"), dict) else {}
    return [node("cart", cart.get("id")), node("checkout", checkout.get("token"))]


def to_profile_event(row: PixelEvent) -> ProfileEvent:
    return ProfileEvent(
        event_id=row.event_id,
        name=row.name,
        ts=row.occurred_at,
        client_id=row.client_id,
        data=row.data or {},
        context=row.context or {},
    )


def fold_pixel_events(
    session: Session, shop_id: int, event_ids: Sequence[int], *, pending_limit: int = 0
) -> dict[str, int]:
    """Claim the unprocessed events among ``event_ids`` (plus up to ``pending_limit`` other unprocessed
    events of the shop, oldest first), stitch identities, and fold them into profiles.

    The claim is ``UPDATE … WHERE processed_at IS NULL RETURNING id``: a concurrent job gets the rows
    this one did not, never the same ones. No commit: the caller's transaction makes the claim and the
    profile writes visible together.
    """
    wanted = set(event_ids)
    if pending_limit:
        wanted |= set(
            session.exec(
                select(PixelEvent.id)
                .where(PixelEvent.shop_id == shop_id, PixelEvent.processed_at.is_(None))  # type: ignore[union-attr]
                .order_by(PixelEvent.id)
                .limit(pending_limit)
            ).all()
        )
    if not wanted:
        return {"events": 0, "profiles": 0, "merges": 0}
    table = PixelEvent.__table__  # type: ignore[attr-defined]
    claimed = [
        r[0]
        for r in session.execute(
            update(table)
            .where(table.c.shop_id == shop_id, table.c.id.in_(sorted(wanted)), table.c.processed_at.is_(None))
            .values(processed_at=utcnow())
            .returning(table.c.id)
        )
    ]
    if not claimed:
        return {"events": 0, "profiles": 0, "merges": 0}
    rows = session.exec(
        select(PixelEvent)
        .where(PixelEvent.id.in_(claimed))  # type: ignore[union-attr]
        .order_by(PixelEvent.occurred_at, PixelEvent.event_id)
    ).all()

    by_client: dict[str, list[PixelEvent]] = defaultdict(list)
    for row in rows:
        by_client[row.client_id].append(row)
    groups: dict[str, list[ProfileEvent]] = defaultdict(list)
    merges = 0
    for client_id, events in by_client.items():
        client_node = node("client", client_id)
        assert client_node is not None
        identifiers: list[str | None] = [client_node]
        for event in events:
            identifiers.extend(_tokens(event))
        result = link_identifiers(session, shop_id, identifiers)
        for merge in result.merges:
            merge_into(session, shop_id, merge.root, merge.absorbed)
            forget_shoppers(session, shop_id, [merge.absorbed])
            merges += 1
        # Every event of a browser belongs to the browser's shopper: its own anonymous profile, or the
        # customer it was verifiably stitched to. What the batch claims about the customer routes nothing.
        groups[result.roots[client_node]].extend(to_profile_event(event) for event in events)

    pending = []
    rows_by_key = load_profiles(session, shop_id, list(groups))  # one query for every touched profile
    for root, events in groups.items():
        row = rows_by_key.get(root)
        pending.append((root, row, apply_events(state_of(row), events)))
    # derived scores for every touched profile in one pass, with the shop's stored (cached) parameters
    derived = derive_many([p[2] for p in pending], utcnow(), load_scorers(session, shop_id))
    now = utcnow()
    for (root, row, state), scores in zip(pending, derived, strict=True):
        state["derived"] = scores
        save_profile(session, shop_id, root, row, state)
    save_stages(session, shop_id, [(root, stage_of(state, now)) for root, _, state in pending], now)
    return {"events": len(rows), "profiles": len(groups), "merges": merges}


def process_pixel_batch(shop_id: int, event_ids: list[int]) -> dict[str, int]:
    """RQ job enqueued after ingress commits: folds ``event_ids`` and the shop's other pending events
    (up to FOLD_LIMIT per run; a fuller backlog re-queues itself). Idempotent."""
    settings = get_settings()
    with contextlib.suppress(RedisError):
        tasks.pixel_fold_started(settings.redis_url, shop_id)  # later events queue a new run
    with session_scope(settings.database_url) as session:
        result = fold_pixel_events(session, shop_id, event_ids, pending_limit=FOLD_LIMIT)
        if result["events"] >= FOLD_LIMIT:
            after_commit(session, lambda: _continue_backlog(settings.redis_url, shop_id))
    return result


def _continue_backlog(redis_url: str | None, shop_id: int) -> None:
    """More events are pending: queue the next run on the queue this job came from."""
    job = get_current_job()
    if job is None or not job.origin:
        tasks.fold_pixel_events(redis_url, shop_id, [])
        return
    Queue(job.origin, connection=job.connection).enqueue(
        tasks.FOLD_PIXEL_EVENTS, shop_id, [], retry=DEFAULT_RETRY
    )


def sweep_pixel_events(*, now: datetime | None = None) -> int:
    """Periodic: re-enqueue events a lost job never folded (older than a minute). Returns how many."""
    settings = get_settings()
    cutoff = (now or utcnow()) - SWEEP_AFTER
    with session_scope(settings.database_url) as session:
        rows = session.exec(
            select(PixelEvent.shop_id, PixelEvent.id)
            .where(PixelEvent.processed_at.is_(None), PixelEvent.received_at < cutoff)  # type: ignore[union-attr]
            .order_by(PixelEvent.id)
            .limit(SWEEP_BATCH)
        ).all()
    per_shop: dict[int, list[int]] = defaultdict(list)
    for shop_id, event_id in rows:
        per_shop[shop_id].append(event_id)
    for shop_id, ids in per_shop.items():
        enqueue(settings.redis_url, tasks.FOLD_PIXEL_EVENTS, shop_id, ids, queue="low")
    return len(rows)


def refresh_profile(shop_id: int, customer_key: str) -> dict[str, Any]:
    """RQ job: stitch the customer's order/checkout tokens, rebuild the explicit section from commerce
    tables and recompute derived scores. Idempotent (it recomputes those sections from their sources)."""
    settings = get_settings()

    def work() -> dict[str, Any]:
        with session_scope(settings.database_url) as session:
            return refresh_in_session(session, shop_id, customer_key)

    # another worker may write this profile between our read and our write: recompute from the new row
    return retry_lost_race(work, also=(StaleProfile,))
