"""refunds/create: the refund and its lines, each against the order line it returns."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import insert_refund
from app.models.inbox import WebhookInbox
from app.models.shop import Shop


def refund_created(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    insert_refund(session, shop.id, payload)
