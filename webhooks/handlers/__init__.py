"""The topic → handler table. Handlers run in the worker inside the transaction that marks the event
done: ``handler(session, shop, payload, event)``; they never commit.

Only the worker imports this package; the web process checks topics against ``webhooks.topics``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from app.models.inbox import WebhookInbox
from app.models.shop import Shop
from webhooks.handlers.app import scopes_updated, uninstalled
from webhooks.handlers.bulk import bulk_finished
from webhooks.handlers.carts import cart_changed
from webhooks.handlers.checkouts import checkout_changed, checkout_deleted
from webhooks.handlers.compliance import customer_redact, data_request, shop_redact
from webhooks.handlers.consent import email_consent, sms_consent
from webhooks.handlers.costs import item_changed
from webhooks.handlers.customers import customer_changed, customer_deleted, purchasing_summary
from webhooks.handlers.inventory import level_changed
from webhooks.handlers.orders import order_changed
from webhooks.handlers.products import product_changed, product_deleted
from webhooks.handlers.refunds import refund_created

Handler = Callable[[Session, Shop, dict[str, Any], WebhookInbox], None]

HANDLERS: dict[str, Handler] = {
    "orders/create": order_changed,
    "orders/paid": order_changed,
    "orders/updated": order_changed,
    "orders/cancelled": order_changed,
    "refunds/create": refund_created,
    "carts/create": cart_changed,
    "carts/update": cart_changed,
    "checkouts/create": checkout_changed,
    "checkouts/update": checkout_changed,
    "checkouts/delete": checkout_deleted,
    "customers/create": customer_changed,
    "customers/update": customer_changed,
    "customers/delete": customer_deleted,
    "customers/purchasing_summary": purchasing_summary,
    "customers_email_marketing_consent/update": email_consent,
    "customers_marketing_consent/update": sms_consent,
    "products/create": product_changed,
    "products/update": product_changed,
    "products/delete": product_deleted,
    "inventory_levels/update": level_changed,
    "inventory_items/update": item_changed,
    "app/uninstalled": uninstalled,
    "app/scopes_update": scopes_updated,
    "bulk_operations/finish": bulk_finished,
    "customers/data_request": data_request,
    "customers/redact": customer_redact,
    "shop/redact": shop_redact,
}


def resolve(topic: str) -> Handler:
    """The handler function for ``topic`` (KeyError when none is registered)."""
    return HANDLERS[topic]
