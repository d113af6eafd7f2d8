"""Shopify resources mirrored per shop: customers, catalogue, inventory, orders, refunds, carts, checkouts.

Every row carries ``shop_id`` and the Shopify id (64-bit). Rows are written only through the
version-guarded upserts in ``app.commerce.upserts``: ``shopify_updated_at`` (then ``content_hash`` on a tie)
decides which version wins, so any delivery order converges. Deletions are tombstones (``deleted_at``)
that a late, older update cannot undo.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, shopify_id_field, ts_field


def money_field() -> Any:
    return Field(default=None, sa_type=Numeric(18, 2), nullable=True)


def big_ref(index: bool = True) -> Any:
    """A nullable reference to another Shopify resource by its Shopify id."""
    return Field(default=None, sa_type=BigInteger, nullable=True, index=index)


def json_field() -> Any:
    return Field(default=None, sa_type=JSON, nullable=True)


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_id", name="uq_customer_shop_shopify"),
        Index("ix_customer_shop_email", "shop_id", "email"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopify_id: int = shopify_id_field()
    email: str | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=64)
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    state: str | None = Field(default=None, max_length=32)
    tags: str | None = Field(default=None, max_length=4000)
    currency: str | None = Field(default=None, max_length=8)
    note: str | None = Field(default=None, max_length=4000)
    default_address: dict | None = json_field()
    locale: str | None = Field(
        default=None, max_length=16
    )  # the customer's language in Shopify (en, de-CH …)
    email_consent_state: str | None = Field(default=None, max_length=32)
    email_consent_opt_in_level: str | None = Field(default=None, max_length=64)
    email_consent_updated_at: datetime | None = ts_field()
    sms_consent_state: str | None = Field(default=None, max_length=32)
    sms_consent_opt_in_level: str | None = Field(default=None, max_length=64)
    sms_consent_updated_at: datetime | None = ts_field()
    # customers/purchasing_summary (Shopify's own totals; the record also computes them from orders)
    summary_orders_count: int | None = None
    summary_amount_spent: Decimal | None = money_field()
    summary_occurred_at: datetime | None = ts_field()
    shopify_created_at: datetime | None = ts_field()
    shopify_updated_at: datetime | None = ts_field()
    content_hash: str | None = Field(default=None, max_length=32)
    deleted_at: datetime | None = ts_field()


class Product(SQLModel, table=True):
    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("shop_id", "shopify_id", name="uq_product_shop_shopify"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopify_id: int = shopify_id_field()
    title: str | None = Field(default=None, max_length=512)
    handle: str | None = Field(default=None, max_length=512)
    product_type: str | None = Field(default=None, max_length=255)
    vendor: str | None = Field(default=None, max_length=255)
    status: str | None = Field(default=None, max_length=32)
    tags: str | None = Field(default=None, max_length=4000)
    body_html: str | None = None
    published_at: datetime | None = ts_field()
    shopify_created_at: datetime | None = ts_field()
    shopify_updated_at: datetime | None = ts_field()
    content_hash: str | None = Field(default=None, max_length=32)
    deleted_at: datetime | None = ts_field()


class ProductVariant(SQLModel, table=True):
    """Variants follow their product's version: a winning product version replaces its variant set."""

    __tablename__ = "product_variant"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_id", name="uq_variant_shop_shopify"),
        Index("ix_variant_shop_product", "shop_id", "product_shopify_id"),
        Index("ix_variant_shop_item", "shop_id", "inventory_item_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopify_id: int = shopify_id_field()
    product_shopify_id: int = shopify_id_field()
    title: str | None = Field(default=None, max_length=512)
    sku: str | None = Field(default=None, max_length=255)
    price: Decimal | None = money_field()
    compare_at_price: Decimal | None = money_field()
    position: int | None = None
    inventory_item_id: int | None = big_ref()
    inventory_quantity: int | None = None
    shopify_updated_at: datetime | None = ts_field()


class InventoryLevel(SQLModel, table=True):
    __tablename__ = "inventory_level"
    __table_args__ = (
        UniqueConstraint(
            "shop_id", "inventory_item_id", "location_id", name="uq_inventory_level_item_location"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    inventory_item_id: int = shopify_id_field()
    location_id: int = shopify_id_field(index=False)
    available: int | None = None
    shopify_updated_at: datetime | None = ts_field()


class Order(SQLModel, table=True):
    __tablename__ = "shop_order"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_id", name="uq_order_shop_shopify"),
        Index("ix_order_shop_customer", "shop_id", "customer_shopify_id"),
        Index("ix_order_shop_processed", "shop_id", "processed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopify_id: int = shopify_id_field()
    customer_shopify_id: int | None = big_ref()
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)  # as Shopify sent it (a phone-only guest's match)
    name: str | None = Field(default=None, max_length=64)
    currency: str | None = Field(default=None, max_length=8)
    total_price: Decimal | None = money_field()
    subtotal_price: Decimal | None = money_field()
    total_discounts: Decimal | None = money_field()
    financial_status: str | None = Field(default=None, max_length=32)
    fulfillment_status: str | None = Field(default=None, max_length=32)
    cart_token: str | None = Field(default=None, max_length=255)
    checkout_token: str | None = Field(default=None, max_length=255)
    source_name: str | None = Field(default=None, max_length=64)
    tags: str | None = Field(default=None, max_length=4000)
    test: bool = False
    # the order status page (Shopify's signed link for the buyer) and its fulfilments: status, carrier, tracking
    # number and link (``app.commerce.upserts.fulfillments``), what the support agent may tell about an order
    status_url: str | None = Field(default=None, max_length=1024)
    fulfillments: list[dict[str, Any]] | None = json_field()
    cancelled_at: datetime | None = ts_field()
    processed_at: datetime | None = ts_field(index=True)
    shopify_created_at: datetime | None = ts_field()
    shopify_updated_at: datetime | None = ts_field()
    content_hash: str | None = Field(default=None, max_length=32)


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_line"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_id", name="uq_order_line_shop_shopify"),
        Index("ix_order_line_shop_order", "shop_id", "order_shopify_id"),
        Index("ix_order_line_shop_product", "shop_id", "product_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopify_id: int = shopify_id_field()
    order_shopify_id: int = shopify_id_field()
    product_shopify_id: int | None = big_ref()
    variant_shopify_id: int | None = big_ref(index=False)
    title: str | None = Field(default=None, max_length=512)
    sku: str | None = Field(default=None, max_length=255)
    quantity: int = 0
    price: Decimal | None = money_field()
    total_discount: Decimal | None = money_field()


class Refund(SQLModel, table=True):
    """A refund (return) of an order. ``amount`` is the money it gave back (its successful refund transactions)
    in ``currency``, the shop's; None until a version that shows it arrives. Which products came back is in
    its ``RefundLine`` rows. Versions merge (``app.commerce.upserts.insert_refund``)."""

    __tablename__ = "refund"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_id", name="uq_refund_shop_shopify"),
        Index("ix_refund_shop_order", "shop_id", "order_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopify_id: int = shopify_id_field()
    order_shopify_id: int = shopify_id_field()
    note: str | None = Field(default=None, max_length=4000)
    restock: bool | None = None
    amount: Decimal | None = money_field()
    currency: str | None = Field(default=None, max_length=8)
    shopify_created_at: datetime | None = ts_field()
    processed_at: datetime | None = ts_field()


class RefundLine(SQLModel, table=True):
    """One refunded quantity of one order line (``order_line_shopify_id`` is the line it returns)."""

    __tablename__ = "refund_line"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_id", name="uq_refund_line_shop_shopify"),
        Index("ix_refund_line_shop_order", "shop_id", "order_shopify_id"),
        Index("ix_refund_line_shop_refund", "shop_id", "refund_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    shopify_id: int = shopify_id_field()
    refund_shopify_id: int = shopify_id_field()
    order_shopify_id: int = shopify_id_field()
    order_line_shopify_id: int = shopify_id_field()
    product_shopify_id: int | None = big_ref(index=False)
    variant_shopify_id: int | None = big_ref(index=False)
    quantity: int = 0
    subtotal: Decimal | None = money_field()
    restock_type: str | None = Field(default=None, max_length=32)


class Cart(SQLModel, table=True):
    __tablename__ = "cart"
    __table_args__ = (UniqueConstraint("shop_id", "token", name="uq_cart_shop_token"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    token: str = Field(max_length=255)
    note: str | None = Field(default=None, max_length=4000)
    line_items: list | None = json_field()
    total_price: Decimal | None = money_field()
    item_count: int = 0
    shopify_created_at: datetime | None = ts_field()
    shopify_updated_at: datetime | None = ts_field()
    content_hash: str | None = Field(default=None, max_length=32)


class Checkout(SQLModel, table=True):
    __tablename__ = "checkout"
    __table_args__ = (
        UniqueConstraint("shop_id", "token", name="uq_checkout_shop_token"),
        Index("ix_checkout_shop_customer", "shop_id", "customer_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    token: str = Field(max_length=255)
    shopify_id: int | None = big_ref()
    cart_token: str | None = Field(default=None, max_length=255, index=True)
    customer_shopify_id: int | None = big_ref()
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    currency: str | None = Field(default=None, max_length=8)
    total_price: Decimal | None = money_field()
    line_items: list | None = json_field()
    abandoned_checkout_url: str | None = Field(default=None, max_length=2048)
    buyer_accepts_marketing: bool | None = None
    buyer_accepts_sms_marketing: bool | None = None
    sms_marketing_phone: str | None = Field(default=None, max_length=64)  # as Shopify sent it
    country_code: str | None = Field(default=None, max_length=8)  # the shipping address's, else billing's
    province_code: str | None = Field(default=None, max_length=16)
    completed_at: datetime | None = ts_field()
    shopify_created_at: datetime | None = ts_field()
    shopify_updated_at: datetime | None = ts_field()
    content_hash: str | None = Field(default=None, max_length=32)
    deleted_at: datetime | None = ts_field()


class GdprExport(SQLModel, table=True):
    """A customers/data_request answered: everything stored about one customer in one shop, as JSON."""

    __tablename__ = "gdpr_export"

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    customer_shopify_id: int = shopify_id_field()
    data_request_id: int | None = big_ref(index=False)
    document: str
    created_at: datetime = ts_field(nullable=False, default_now=True)


class SyncRun(SQLModel, table=True):
    """One backfill or reconciliation of a shop: what it has read so far, shown in the admin."""

    __tablename__ = "sync_run"

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    kind: str = Field(default="manual", max_length=16)
    status: str = Field(default="running", max_length=16)
    resource: str | None = Field(default=None, max_length=32)
    counts: dict | None = json_field()
    error: str | None = Field(default=None, max_length=4000)
    started_at: datetime = ts_field(nullable=False, default_now=True)
    finished_at: datetime | None = ts_field()
