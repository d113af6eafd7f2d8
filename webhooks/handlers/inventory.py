"""inventory_levels/update."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import upsert_inventory_level
from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from app.tasks import catalog_changed


def level_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    upsert_inventory_level(session, shop.id, payload)
    catalog_changed(session, shop.id)
