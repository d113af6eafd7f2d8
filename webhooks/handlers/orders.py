"""orders/create, orders/paid, orders/updated, orders/cancelled: one version-guarded order upsert."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import upsert_order
from app.models.inbox import WebhookInbox
from app.models.shop import Shop


def order_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    upsert_order(session, shop.id, payload)
