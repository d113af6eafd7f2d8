"""inventory_levels/update: the level (version-guarded by its ``updated_at``: an older update arriving late changes
nothing), and the day's stock for the inventory agent's censored demand history. An ``available`` that is not a
whole number or beyond ±10,000,000 is refused with a logged reason (the event is recorded, nothing stored). A level
change in a shop with waiting back-in-stock requests (or unsent back-in-stock messages) queues their job after the
commit: it re-reads the stock."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from app.commerce.upserts import upsert_inventory_level
from app.modelling.inventory import InventoryInputError
from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from app.stores.back_in_stock_batches import has_waiting
from app.stores.inventory import check_level, record_level_day
from app.tasks import back_in_stock_after_commit, catalog_changed

log = logging.getLogger(__name__)


def level_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    try:
        check_level(payload.get("available"))
    except InventoryInputError as exc:
        log.warning("inventory_levels/update for shop %s refused: %s", shop.id, exc)
        return
    level = upsert_inventory_level(session, shop.id, payload)
    if level is not None:
        record_level_day(session, shop.id, level)
        if has_waiting(
            session, shop.id
        ):  # a restock someone waits for, or a sell-out a deferred message must not outlive
            back_in_stock_after_commit(session, shop.id)
    catalog_changed(session, shop.id)
