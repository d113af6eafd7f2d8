"""Checkout rescue as RQ jobs: every ten minutes, each installed shop's abandoned checkouts (mirrored from
``checkouts/create|update``: customers' and guests') and known customers' carts that never reached checkout
(the pixel's cart events, ``app.stores.rescue_sources``) are proposed their recovery sequence (``app.agents.rescue``), and the orchestrator
decides and records it with its outbox rows in this job's transaction (holdout drawn first, consent, quiet
hours, the contact budget). A checkout with a sold-out variant in it waits until that variant is back. A
purchase stops the sequence: the orchestrator suppresses a proposal made before the last purchase and the relay
cancels a pending message when the shopper bought since it was proposed.

The last reminder asks the pricing agent (``app.jobs.pricing.attach_offers``) whether an incentive pays for
this shopper; if one does, its single-use code is written into that message.

Idempotent: a second run (or a retry) finds every message of a checkout already decided (dedupe keys
``rescue:<checkout token>:<step>``) and records nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app import tasks
from app.agents.rescue import MAX_MESSAGES, AbandonedCheckout, propose, step_key
from app.catalog.stock import sold_out_variants
from app.config import get_settings
from app.db import get_engine
from app.jobs.fan_out import for_each_installed_shop
from app.jobs.orchestrate import count_actions, submit_new
from app.jobs.pricing import Ask, attach_offers
from app.models.base import utcnow
from app.models.shop import Shop
from app.stores.rescue import abandoned_checkouts, shop_label
from app.stores.rescue_sources import abandoned_carts, guest_checkouts

log = logging.getLogger(__name__)


def run_rescue(shop_id: int, now: datetime | None = None) -> dict[str, Any]:
    """RQ job: propose this shop's recovery sequences and let the orchestrator decide them."""
    settings = get_settings()
    now = now or utcnow()
    with Session(get_engine(settings.database_url)) as session:
        shop = session.get(Shop, shop_id)
        if shop is None:
            return {"shop_id": shop_id, "proposals": 0}
        checkouts = [
            *abandoned_checkouts(session, shop_id, now),
            *guest_checkouts(session, shop_id, now),
            *abandoned_carts(session, shop_id, now),
        ]
        name = shop_label(session, shop)
        sold_out = sold_out_variants(session, shop_id, (ln.variant_id for c in checkouts for ln in c.lines
                                                         if ln.variant_id))  # fmt: skip
        proposals = [
            p for c in checkouts for p in propose(shop_id, name, shop.domain, c, now, sold_out=sold_out)
        ]
        proposals, decisions = submit_new(session, shop_id, proposals, now)
        offers = attach_offers(session, settings, shop_id, decisions, _asks(checkouts), now)
        session.commit()
    counts = count_actions(decisions)
    log.info("rescue: shop %s, %s proposals %s", shop_id, len(proposals), counts)
    return {
        "shop_id": shop_id,
        "checkouts": len(checkouts),
        "sources": {k: sum(c.source == k for c in checkouts) for k in ("checkout", "guest", "cart")},
        "proposals": len(proposals),
        "offers": offers,
        **counts,
    }


def _asks(checkouts: list[AbandonedCheckout]) -> dict[str, Ask]:
    """The last reminder of each sequence asks the pricing agent for an incentive (it decides whether one pays,
    never on a first hesitation)."""
    return {
        step_key(c.token, MAX_MESSAGES): Ask(
            key=step_key(c.token, MAX_MESSAGES),
            agent="rescue",
            shopper=c.shopper,
            cart_value=c.total,
            lines=[(ln.variant_id, ln.quantity) for ln in c.lines if ln.quantity > 0],
            features=dict(c.features),
        )  # fmt: skip
        for c in checkouts
        if c.shopper.customer_id is not None  # a guest has no account to offer a personal code to
    }


def run_all_rescue() -> int:
    """Every ten minutes: queue the job for every installed shop. Returns how many were queued."""
    return for_each_installed_shop(tasks.run_rescue)
