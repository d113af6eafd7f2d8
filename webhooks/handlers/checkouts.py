"""checkouts/create, checkouts/update, checkouts/delete."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import delete_checkout, upsert_checkout
from app.models.inbox import WebhookInbox
from app.models.shop import Shop


def checkout_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    upsert_checkout(session, shop.id, payload)


def checkout_deleted(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    delete_checkout(session, shop.id, payload)
