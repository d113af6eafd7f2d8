"""products/create, products/update, products/delete."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import delete_product, upsert_product
from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from app.tasks import catalog_changed


def product_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    upsert_product(session, shop.id, payload)
    catalog_changed(session, shop.id)


def product_deleted(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    delete_product(session, shop.id, payload)
    catalog_changed(session, shop.id)
