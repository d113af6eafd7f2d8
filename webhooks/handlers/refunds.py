"""refunds/create: the refund and its lines, each against the order line it returns."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from app.commerce.upserts import insert_refund
from app.models.commerce import Order
from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from app.tasks import customer_changed


def refund_created(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    refund = insert_refund(session, shop.id, payload)
    if refund is not None:
        order = session.exec(
            select(Order).where(Order.shop_id == shop.id, Order.shopify_id == refund.order_shopify_id)
        ).first()
        customer_changed(session, shop.id, order.customer_shopify_id if order else None)
