"""What one recipient would get from a newsletter, for the admin's preview: the campaign's words with their first
name, their own products, their send hour, in their language, and the variant the bandit would pick now (or the
one asked for). Nothing is decided, recorded or sent. No commits."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.agents.newsletter import Newsletter, agent_name, propose
from app.channels.copy import localize
from app.channels.i18n import negotiate
from app.models.campaigns import Campaign
from app.models.commerce import Order
from app.orchestrator.proposal import Content
from app.orchestrator.variants import apply
from app.stores import campaigns as store
from app.stores import locales
from app.stores.variants import load_variants, with_variants


def newsletter_of(row: Campaign) -> Newsletter:
    assert row.id is not None
    return Newsletter(row.id, row.subject, row.body, row.products)


def shop_aov(session: Session, shop_id: int) -> float:
    """The shop's average order value (what a newsletter's conversion is worth before the shopper's own)."""
    value = session.exec(
        select(func.avg(Order.total_price)).where(
            Order.shop_id == shop_id,
            Order.test.is_(False),  # type: ignore[attr-defined]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
        )
    ).one()
    return float(value or 0)


def preview(
    session: Session, shop_id: int, campaign_id: int, customer_id: int, variant: str | None, now: datetime
) -> dict[str, Any] | None:
    """The message data as the e-mail renders it, its send time and reason; None when the campaign or the
    recipient (subscribed, with an address) is not this shop's; ``{"error": ...}`` for an unknown variant."""
    row = store.get(session, shop_id, campaign_id)
    if row is None:
        return None
    shop_name, people = store.recipients(session, shop_id, now, only=[customer_id])
    if not people:
        return None
    proposal = propose(shop_id, shop_name, newsletter_of(row), people[0], now, shop_aov(session, shop_id))
    own = locales.customer_locales(session, shop_id, [customer_id]).get(customer_id)
    data = localize(proposal.content.data, negotiate(own, locales.shop_locale(session, shop_id)))
    if variant is not None:
        chosen = {v.key: v for v in load_variants(session, shop_id, [proposal.agent]).get(proposal.agent, [])}
        if variant not in chosen:
            return {"error": "unknown_variant"}
        data = apply(data, chosen[variant])
    else:
        (picked,) = with_variants(
            session, shop_id, [replace(proposal, content=Content("message", data))], now
        )
        data = dict(picked.content.data)
    return {
        "campaign": campaign_id,
        "agent": agent_name(campaign_id),
        "customer": customer_id,
        "subject": data.get("subject"),
        "variant": data.get("variant"),
        "data": data,
        "send_at": proposal.earliest.isoformat(),
        "reason": proposal.reason,
    }
