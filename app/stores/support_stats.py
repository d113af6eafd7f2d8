"""The support agent's figures for the admin (``app.measurement.support_resolution``): one shop's support turns
of the last days, loaded for the pure computation. No commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from app.measurement.support_resolution import FOLLOW_UP, SupportTurn, resolution
from app.models.base import utcnow
from app.models.feedback import SupportMessage
from app.stores.support import HOLDOUT

MAX_DAYS = 365


def support_resolution(
    session: Session, shop_id: int, days: int = 30, now: datetime | None = None
) -> dict[str, Any]:
    """The resolution figures of the conversations that started in the last ``days`` days (and the turns of the
    follow-up window after them)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days: a whole number from 1 to {MAX_DAYS}")
    now = now or utcnow()
    since = now - timedelta(days=days)
    started = select(SupportMessage.conversation).where(
        SupportMessage.shop_id == shop_id, SupportMessage.created_at >= since
    )
    rows = session.exec(
        select(SupportMessage).where(
            SupportMessage.shop_id == shop_id,
            (SupportMessage.conversation.in_(started))  # type: ignore[attr-defined]
            | (SupportMessage.created_at >= since - FOLLOW_UP),
        )
    ).all()
    # held-out shoppers' questions went straight to a person: not the assistant's to resolve
    held = {r.conversation for r in rows if r.handoff == HOLDOUT}
    turns = [
        SupportTurn(
            r.conversation,
            f"customer:{r.customer_shopify_id}" if r.customer_shopify_id else f"client:{r.client_id}",
            r.role,
            r.text,
            r.created_at,
            r.escalated,
            r.abstained,
            r.helpful,
        )
        for r in rows
        if (r.created_at >= since or r.role == "shopper") and r.conversation not in held
    ]
    return {"days": days, **resolution(turns, now)}
