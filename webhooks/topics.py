"""The webhook topics Attune handles: plain facts the web process checks deliveries against, without
importing any handler (``webhooks.handlers.HANDLERS`` maps exactly these topics to their functions)."""

from __future__ import annotations

# Shopify's mandatory compliance topics: recorded and applied even for a shop that uninstalled the app.
COMPLIANCE_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})

TOPICS = frozenset(
    {
        "orders/create",
        "orders/paid",
        "orders/updated",
        "orders/cancelled",
        "refunds/create",
        "carts/create",
        "carts/update",
        "checkouts/create",
        "checkouts/update",
        "checkouts/delete",
        "customers/create",
        "customers/update",
        "customers/delete",
        "customers/purchasing_summary",
        "customers_email_marketing_consent/update",
        "customers_marketing_consent/update",
        "products/create",
        "products/update",
        "products/delete",
        "inventory_levels/update",
        "inventory_items/update",
        "app/uninstalled",
        "app/scopes_update",
        "bulk_operations/finish",
    }
    | COMPLIANCE_TOPICS
)
