"""What the journey agent reads about one shop: its buyers' stages and profiles, their order lines (for the
interest timing model), e-mail subscriptions and spend ranks. No commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from app.models.commerce import Order, OrderLine
from app.models.journey import JourneyStage
from app.models.messaging import ContactConsent
from app.models.profiles import CustomerProfile
from app.orchestrator.proposal import SUBSCRIBED

HISTORY = timedelta(days=730)


def customer_rows(session: Session, shop_id: int) -> list[tuple[int, str, dict[str, Any], dict[str, Any]]]:
    """(customer id, stage, explicit section, derived section) of every known customer with a stage."""
    rows = session.exec(
        select(
            CustomerProfile.customer_shopify_id,
            JourneyStage.stage,
            CustomerProfile.explicit,
            CustomerProfile.derived,
        )
        .join(
            JourneyStage,
            (JourneyStage.shop_id == CustomerProfile.shop_id)
            & (JourneyStage.shopper_key == CustomerProfile.customer_key),
        )
        .where(CustomerProfile.shop_id == shop_id, CustomerProfile.customer_shopify_id.is_not(None))  # type: ignore[union-attr]
    ).all()
    return [(int(c), stage, explicit or {}, derived or {}) for c, stage, explicit, derived in rows]


def order_lines(session: Session, shop_id: int, now: datetime) -> list[tuple[str, float, str]]:
    """(customer id, order day, product id) of the shop's live orders in the last two years (days since epoch)."""
    rows = session.exec(
        select(Order.customer_shopify_id, Order.processed_at, OrderLine.product_shopify_id)
        .join(
            OrderLine, (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id)
        )
        .where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            Order.processed_at >= now - HISTORY,  # type: ignore[operator]
            Order.test.is_(False),  # type: ignore[attr-defined]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            OrderLine.product_shopify_id.is_not(None),  # type: ignore[union-attr]
        )
    ).all()
    return [(str(c), at.timestamp() // 86400, str(p)) for c, at, p in rows if at is not None]


def subscriptions(session: Session, shop_id: int, customer_ids: Iterable[int]) -> dict[int, datetime]:
    """When each customer subscribed to e-mail marketing (those subscribed now, with a known time)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = session.exec(
        select(ContactConsent.customer_shopify_id, ContactConsent.consent_updated_at).where(
            ContactConsent.shop_id == shop_id,
            ContactConsent.customer_shopify_id.in_(ids),  # type: ignore[attr-defined]
            ContactConsent.channel == "email",
            ContactConsent.state == SUBSCRIBED,
        )
    ).all()
    return {int(c): at for c, at in rows if at is not None}
