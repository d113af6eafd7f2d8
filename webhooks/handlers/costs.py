"""inventory_items/update: the item's ``cost`` (``InventoryItem.unitCost``) becomes the unit cost of every variant
stocked as that item, the pricing agent's margin floor. A cost that is not an amount changes nothing (logged)."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from app.stores.prices import item_cost_changed

log = logging.getLogger(__name__)


def item_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    item = payload.get("id")
    if isinstance(item, bool) or not isinstance(item, int) or "cost" not in payload:
        log.warning("inventory_items/update for shop %s without an item id or cost: ignored", shop.id)
        return
    item_cost_changed(session, shop.id, item, payload.get("cost"))
