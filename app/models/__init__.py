"""All tables. Importing this package registers every table on ``SQLModel.metadata``."""

from app.models.commerce import (
    Cart,
    Checkout,
    Customer,
    GdprExport,
    InventoryLevel,
    Order,
    OrderLine,
    Product,
    ProductVariant,
    Refund,
    RefundLine,
    SyncRun,
)
from app.models.inbox import WebhookInbox
from app.models.shop import Shop

__all__ = [
    "Cart",
    "Checkout",
    "Customer",
    "GdprExport",
    "InventoryLevel",
    "Order",
    "OrderLine",
    "Product",
    "ProductVariant",
    "Refund",
    "RefundLine",
    "Shop",
    "SyncRun",
    "WebhookInbox",
]
