"""Mandatory compliance topics: customers/data_request, customers/redact, shop/redact.

Each acts on the shop named by the verified ``X-Shopify-Shop-Domain`` header (the payload's
``shop_domain`` is informational) and touches no other shop.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from app import tasks
from app.commerce.privacy import erase_customer, erase_shop, export_customer, export_json
from app.commerce.values import shopify_id
from app.models.commerce import GdprExport
from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from app.stores.back_in_stock import redact_address
from app.stores.privacy import erase_customer as erase_profile
from app.stores.privacy import export_customer as export_profile


def _who(payload: dict[str, Any], orders_key: str) -> tuple[int | None, str | None, list[int]]:
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    orders = [o for o in (shopify_id(x) for x in payload.get(orders_key) or []) if o is not None]
    return shopify_id(customer.get("id")), customer.get("email") or None, orders


def _phone(payload: dict[str, Any]) -> str | None:
    customer = payload.get("customer")
    phone = customer.get("phone") if isinstance(customer, dict) else None
    return phone if isinstance(phone, str) else None


def data_request(
    session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox
) -> GdprExport | None:
    """Build and store the JSON export; a replay of the same request replaces its export."""
    customer_id, email, orders = _who(payload, "orders_requested")
    if customer_id is None:
        return None
    request_id = shopify_id((payload.get("data_request") or {}).get("id"))
    doc = export_customer(session, shop.id, customer_id, email=email, phone=_phone(payload), order_ids=orders)
    doc["customer_model"] = export_profile(session, shop.id, customer_id)
    doc["data_request_id"] = request_id
    export = None
    if request_id is not None:
        export = session.exec(
            select(GdprExport).where(GdprExport.shop_id == shop.id, GdprExport.data_request_id == request_id)
        ).first()
    export = export or GdprExport(
        shop_id=shop.id, customer_shopify_id=customer_id, data_request_id=request_id, document=""
    )
    export.document = export_json(doc)
    session.add(export)
    return export


def customer_redact(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    customer_id, email, orders = _who(payload, "orders_to_redact")
    if customer_id is not None:
        erase_profile(session, shop.id, customer_id)  # first: it follows identity links to anonymous history
        erase_customer(session, shop.id, customer_id, email=email, phone=_phone(payload), order_ids=orders)
        # The stored ranker still holds the customer's baskets (its neighbour pool): retrain without them.
        tasks.train_ranker_after_commit(session, shop.id)
    # back-in-stock requests made with the customer's e-mail or phone, signed in or not
    redact_address(session, shop.id, email, _phone(payload))


def shop_redact(session: Session, shop: Shop, payload: dict[str, Any], event: WebhookInbox) -> None:
    erase_shop(session, shop.id, keep_inbox_id=event.id)
    shop.access_token_enc = shop.refresh_token_enc = None
    shop.scopes = ""
    shop.touch()
    session.add(shop)
