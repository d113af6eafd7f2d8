"""The in-session incentive's second half, as RQ jobs (the first half, the approval and reservation on the
storefront request, is ``app.stores.nudge_offer``).

``deliver_nudge_offer(shop_id, key)``, queued by the nudge proxy after the commit that reserved the offer:

1. the code is made through the Admin API (``app.jobs.pricing.offer_for``: customer-specific, single use, 72 h,
   not combinable; idempotent per key, so a retry finds the same code). An Admin API error: the reservation is
   ``failed``, no message is proposed, the shopper sees nothing (never an error);
2. the nudge agent's on-site message (``app.agents.nudge.offer_proposal``) goes to the orchestrator with the
   code in it (``app.jobs.pricing.with_offer``), in the shopper's language; the relay writes the shopper's
   ``Nudge`` row, which the embed reads from ``GET /proxy/nudges``. A decision that does not send it (the
   shopper bought meanwhile, the card was switched off) leaves the code unused and marks the offer ``failed``,
   so it stops counting against the budget.

Idempotent: a key no longer ``pending`` is done. ``sweep_nudge_offers`` (every minute) re-queues reservations
older than a minute whose job was lost."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from app import tasks
from app.agents.nudge import offer_proposal
from app.config import get_settings
from app.db import get_engine, session_scope
from app.jobs.orchestrate import submit_new
from app.jobs.pricing import Ask, offer_for, with_offer
from app.models.base import utcnow
from app.models.messaging import OutboxMessage
from app.models.pricing import PricingOffer
from app.orchestrator.proposal import Shopper
from app.stores.pricing import offer_by_key
from app.stores.pricing_offers import release

log = logging.getLogger(__name__)
SWEEP_AFTER = timedelta(minutes=1)
SWEEP_WITHIN = timedelta(hours=2)  # an in-session offer older than this is no longer worth delivering


def deliver_nudge_offer(shop_id: int, key: str, now: datetime | None = None) -> dict[str, Any]:
    """RQ job: make the reserved offer's code and deliver it on site through the orchestrator."""
    settings = get_settings()
    now = now or utcnow()
    with Session(get_engine(settings.database_url)) as session:
        row = offer_by_key(session, shop_id, key)
        if row is None or row.status != "pending" or row.agent != "nudge" or row.customer_shopify_id is None:
            return {"shop_id": shop_id, "key": key, "status": row.status if row else "unknown"}
        if now - row.decided_at > SWEEP_WITHIN:  # the session is long over
            release(session, shop_id, key, "the in-session offer was not delivered in time")
            session.commit()
            return {"shop_id": shop_id, "key": key, "status": "expired"}
        shopper = Shopper(customer_id=row.customer_shopify_id)
        ask = Ask(key=key, agent="nudge", shopper=shopper, cart_value=row.cart_value, live_hesitation=True)
        offer = offer_for(session, settings, shop_id, ask, now)
        if offer.code is None:  # the Admin API failed: no offer, nothing shown
            session.commit()
            return {"shop_id": shop_id, "key": key, "status": "failed"}
        proposal = offer_proposal(shop_id, shopper, key, row.reason, (), row.decided_at)
        _, decisions = submit_new(session, shop_id, [proposal], now)
        sent = [d for d in decisions if d.creates_message]
        if sent:
            message = session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.shop_id == shop_id,
                    OutboxMessage.shopper_key == shopper.key,
                    OutboxMessage.dedupe_key == proposal.dedupe_key,
                )
            ).first()
            if message is not None:
                message.data = with_offer(message.data, offer)
                session.add(message)
        else:  # not delivered: the code stays unused and costs nothing
            fresh = offer_by_key(session, shop_id, key)
            if fresh is not None:
                why = decisions[0].reason if decisions else "already delivered"
                fresh.status, fresh.error = "failed", f"not delivered: {why}"[:280]
                session.add(fresh)
        session.commit()
    log.info("nudge offer: shop %s, %s %s", shop_id, key, "delivered" if sent else "not delivered")
    return {"shop_id": shop_id, "key": key, "status": "delivered" if sent else "not_delivered"}


def sweep_nudge_offers(now: datetime | None = None) -> int:
    """Every minute: queue the delivery of in-session offers still pending a minute after they were reserved
    (the proxy's enqueue was lost; one too old for its session is released by that job). Returns how many were
    queued."""
    settings = get_settings()
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        due = session.exec(
            select(PricingOffer.shop_id, PricingOffer.key).where(
                PricingOffer.agent == "nudge",
                PricingOffer.status == "pending",
                PricingOffer.decided_at <= now - SWEEP_AFTER,
            )
        ).all()
    for shop_id, key in due:
        tasks.deliver_nudge_offer(settings.redis_url, shop_id, key)
    return len(due)
