"""customers/create, customers/update, customers/delete, customers/purchasing_summary."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import delete_customer, update_purchasing_summary, upsert_customer
from app.models.inbox import WebhookInbox
from app.models.shop import Shop


def customer_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    upsert_customer(session, shop.id, payload)


def customer_deleted(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    delete_customer(session, shop.id, payload)


def purchasing_summary(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    update_purchasing_summary(session, shop.id, payload)
