"""carts/create, carts/update."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import upsert_cart
from app.models.inbox import WebhookInbox
from app.models.shop import Shop


def cart_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    upsert_cart(session, shop.id, payload)
