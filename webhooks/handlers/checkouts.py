"""checkouts/create, checkouts/update, checkouts/delete."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.commerce.upserts import delete_checkout, upsert_checkout
from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from app.tasks import customer_changed


def checkout_changed(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    checkout = upsert_checkout(session, shop.id, payload)
    if checkout is not None:
        # a checkout is in the profile, not in what the ranker reads: the lists stay as they are
        customer_changed(session, shop.id, checkout.customer_shopify_id, lists=False)


def checkout_deleted(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    delete_checkout(session, shop.id, payload)
