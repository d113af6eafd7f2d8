"""The consent mirror: each customer's marketing consent per channel (``contact_consent``).

Filled from Shopify (customer records, the customers and consent webhooks, the bulk backfill) through
``app.commerce.upserts``, and by Attune itself (an unsubscribe, a push opt-in) with ``source`` attune. A write
wins only when its ``consent_updated_at`` is newer (then its state, on a tie), so the mirror converges whatever
the delivery order. No commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Select, bindparam
from sqlmodel import Session, select

from app.models.base import utcnow
from app.models.messaging import ContactConsent
from app.stores.bulk import any_of, execute, prebuilt

CONSENT_CHANNELS = ("email", "sms", "push")
EPOCH_KEY = datetime(1970, 1, 1, tzinfo=UTC)


def normalise_state(state: str | None) -> str | None:
    """Shopify's state in upper case (webhooks say ``not_subscribed``, GraphQL ``NOT_SUBSCRIBED``)."""
    state = (state or "").strip().upper()
    return state[:32] or None


def record_consent(
    session: Session,
    shop_id: int,
    customer_id: int,
    channel: str,
    state: str | None,
    *,
    updated_at: datetime | None,
    opt_in_level: str | None = None,
    source: str = "shopify",
) -> bool:
    """Store one consent when it is newer than the stored one; True when it was stored."""
    if channel not in CONSENT_CHANNELS:
        raise ValueError(f"consent channel must be one of {CONSENT_CHANNELS}")
    state = normalise_state(state)
    if state is None:
        return False
    row = session.exec(
        select(ContactConsent)
        .where(
            ContactConsent.shop_id == shop_id,
            ContactConsent.customer_shopify_id == customer_id,
            ContactConsent.channel == channel,
        )
        .with_for_update()
    ).first()
    if row is not None and (updated_at or EPOCH_KEY, state) <= (
        row.consent_updated_at or EPOCH_KEY,
        row.state,
    ):
        return False
    if row is None:
        row = ContactConsent(shop_id=shop_id, customer_shopify_id=customer_id, channel=channel, state=state)
    row.state, row.consent_updated_at, row.source = state, updated_at, source
    row.opt_in_level = (opt_in_level or None) and opt_in_level[:64]
    row.updated_at = utcnow()
    session.add(row)
    return True


def consents_for(session: Session, shop_id: int, customer_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Customer id → channel → state, for the given customers of one shop."""
    ids = sorted(set(customer_ids))
    out: dict[int, dict[str, str]] = defaultdict(dict)
    if not ids:
        return out
    params = {"shop_id": shop_id, "ids": ids}
    for customer_id, channel, state in execute(session, _consents(session), params).all():
        out[customer_id][channel] = state
    return out


@prebuilt
def _consents(dialect: str) -> Select:
    c = ContactConsent.__table__.c  # type: ignore[attr-defined]
    return select(c.customer_shopify_id, c.channel, c.state).where(
        c.shop_id == bindparam("shop_id"), any_of(dialect, c.customer_shopify_id, "ids")
    )
