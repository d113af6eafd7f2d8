"""products/create, products/update, products/delete; a new price or compare-at price goes into the price
history (the Omnibus check's 30-day lowest price), and the variants' barcodes are kept for competitor matching. A
variant with stock in a shop with waiting back-in-stock requests queues their job after the commit."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import delete_product, upsert_product
from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from app.stores.back_in_stock_batches import has_waiting
from app.stores.competitors import record_barcodes
from app.stores.prices import record_prices
from app.tasks import back_in_stock_after_commit, catalog_changed


def product_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    product = upsert_product(session, shop.id, payload)
    if product is not None:
        session.flush()
        variants = [v for v in payload.get("variants") or [] if isinstance(v, dict)]
        record_prices(session, shop.id, [v["id"] for v in variants if isinstance(v.get("id"), int)])
        record_barcodes(session, shop.id, variants)
        stocked = any(
            isinstance(v.get("inventory_quantity"), int) and v["inventory_quantity"] > 0 for v in variants
        )
        if stocked and has_waiting(session, shop.id):  # the job re-reads the stock of the variants waited for
            back_in_stock_after_commit(session, shop.id)
    catalog_changed(session, shop.id)


def product_deleted(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    delete_product(session, shop.id, payload)
    catalog_changed(session, shop.id)
