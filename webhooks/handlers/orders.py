"""orders/create, orders/paid, orders/updated, orders/cancelled: one version-guarded order upsert; an order
that used one of the pricing agent's codes marks that offer redeemed."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import upsert_order
from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from app.stores.pricing import record_redemption
from app.tasks import customer_changed


def order_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    order = upsert_order(session, shop.id, payload)
    if order is not None:
        record_redemption(session, shop.id, payload)
        customer_changed(session, shop.id, order.customer_shopify_id)
