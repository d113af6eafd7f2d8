"""The topic → handler registry. Handlers run in the worker inside the transaction that marks the event
done: ``handler(session, shop, payload, event)``; they never commit.

Names are dotted strings so the web process can check a topic without importing any handler.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from app.models.inbox import WebhookInbox
from app.models.shop import Shop

Handler = Callable[[Session, Shop, dict[str, Any], WebhookInbox], None]

COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})

HANDLERS: dict[str, str] = {
    "orders/create": "webhooks.handlers.orders:order_changed",
    "orders/paid": "webhooks.handlers.orders:order_changed",
    "orders/updated": "webhooks.handlers.orders:order_changed",
    "orders/cancelled": "webhooks.handlers.orders:order_changed",
    "refunds/create": "webhooks.handlers.refunds:refund_created",
    "carts/create": "webhooks.handlers.carts:cart_changed",
    "carts/update": "webhooks.handlers.carts:cart_changed",
    "checkouts/create": "webhooks.handlers.checkouts:checkout_changed",
    "checkouts/update": "webhooks.handlers.checkouts:checkout_changed",
    "checkouts/delete": "webhooks.handlers.checkouts:checkout_deleted",
    "customers/create": "webhooks.handlers.customers:customer_changed",
    "customers/update": "webhooks.handlers.customers:customer_changed",
    "customers/delete": "webhooks.handlers.customers:customer_deleted",
    "customers/purchasing_summary": "webhooks.handlers.customers:purchasing_summary",
    "customers_email_marketing_consent/update": "webhooks.handlers.consent:email_consent",
    "customers_marketing_consent/update": "webhooks.handlers.consent:sms_consent",
    "products/create": "webhooks.handlers.products:product_changed",
    "products/update": "webhooks.handlers.products:product_changed",
    "products/delete": "webhooks.handlers.products:product_deleted",
    "inventory_levels/update": "webhooks.handlers.inventory:level_changed",
    "app/uninstalled": "webhooks.handlers.app:uninstalled",
    "app/scopes_update": "webhooks.handlers.app:scopes_updated",
    "bulk_operations/finish": "webhooks.handlers.bulk:bulk_finished",
    "customers/data_request": "webhooks.handlers.compliance:data_request",
    "customers/redact": "webhooks.handlers.compliance:customer_redact",
    "shop/redact": "webhooks.handlers.compliance:shop_redact",
}

TOPICS = frozenset(HANDLERS)


def resolve(topic: str) -> Handler:
    """The handler function for ``topic`` (KeyError when none is registered)."""
    module_name, func_name = HANDLERS[topic].split(":")
    return getattr(importlib.import_module(module_name), func_name)
