"""The pricing agent's tables (issue 20): one shop's offer settings, every offer decision with its code and
outcome, and the bandit's per-arm statistics (aggregates only), and the unit costs the margin floor uses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Index, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, shopify_id_field, ts_field
from app.models.commerce import big_ref, money_field


class PricingSettings(SQLModel, table=True):
    __tablename__ = "pricing_settings"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_pricing_settings_shop"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class PricingOffer(SQLModel, table=True):
    """One decision per asking proposal (``key``), offer or not, and what became of it."""

    __tablename__ = "pricing_offer"
    __table_args__ = (
        UniqueConstraint("shop_id", "key", name="uq_pricing_offer_key"),
        Index("ix_pricing_offer_shop_shopper", "shop_id", "shopper_key"),
        Index("ix_pricing_offer_shop_code", "shop_id", "code"),
        Index("ix_pricing_offer_shop_decided", "shop_id", "decided_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    key: str = Field(max_length=128)
    agent: str = Field(max_length=32)
    shopper_key: str = Field(max_length=80)
    customer_shopify_id: int | None = big_ref(index=False)
    arm: str = Field(max_length=24)
    control: bool = False
    eligible: bool = True  # passed the shopper's guardrails (first hesitation, waits for codes, 30 days)
    trial: bool = False
    reason: str = Field(max_length=280)
    cart_value: float = 0.0
    cart_cost: float = 0.0
    discount: Decimal | None = money_field()  # what the code takes off this cart
    predicted_incremental: float | None = None
    context: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    status: str = Field(default="no_offer", max_length=16)  # no_offer | pending | created | failed
    code: str | None = Field(default=None, max_length=64)
    code_gid: str | None = Field(default=None, max_length=128)
    error: str | None = Field(default=None, max_length=280)
    expires_at: datetime | None = ts_field()
    decided_at: datetime = ts_field(nullable=False)
    redeemed_order_id: int | None = big_ref(index=False)
    redeemed_at: datetime | None = ts_field()
    redeemed_discount: Decimal | None = money_field()
    settled_at: datetime | None = ts_field()
    margin: float | None = None  # gross margin of the shopper's orders within 14 days (after discounts)
    revenue: float | None = None
    orders: int | None = None


class PricingArmStats(SQLModel, table=True):
    __tablename__ = "pricing_arm_stats"
    __table_args__ = (UniqueConstraint("shop_id", "arm", name="uq_pricing_arm_stats"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    arm: str = Field(max_length=24)
    stats: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class VariantCost(SQLModel, table=True):
    """What pricing keeps per variant beside the mirror: ``InventoryItem.unitCost`` (the margin floor) and the
    barcode (GTIN) from product webhooks (competitor matching)."""

    __tablename__ = "pricing_variant_cost"
    __table_args__ = (UniqueConstraint("shop_id", "variant_id", name="uq_pricing_variant_cost"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    variant_id: int = shopify_id_field(index=False)
    unit_cost: Decimal | None = money_field()
    barcode: str | None = Field(default=None, max_length=64)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class PriceHistory(SQLModel, table=True):
    """Each variant's price (and compare-at price) from when it was first seen in force: the Omnibus check's
    30-day lowest price."""

    __tablename__ = "pricing_price_history"
    __table_args__ = (Index("ix_price_history_shop_variant", "shop_id", "variant_id", "observed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    variant_id: int = shopify_id_field(index=False)
    price: Decimal | None = money_field()
    compare_at_price: Decimal | None = money_field()
    observed_at: datetime = ts_field(nullable=False)


class PriceChange(SQLModel, table=True):
    """The change log: every price change asked for (suggested, or the merchant's own), checked, applied or
    refused with its reasons."""

    __tablename__ = "pricing_price_change"
    __table_args__ = (Index("ix_price_change_shop_variant", "shop_id", "variant_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    variant_id: int = shopify_id_field(index=False)
    product_id: int = shopify_id_field(index=False)
    old_price: Decimal | None = money_field()
    new_price: Decimal | None = money_field()
    compare_at_price: Decimal | None = money_field()
    source: str = Field(default="merchant", max_length=16)  # merchant | suggestion
    reason: str = Field(default="", max_length=280)
    status: str = Field(default="approved", max_length=16)  # approved | applied | refused | failed
    refusals: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    flags: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    error: str | None = Field(default=None, max_length=280)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    applied_at: datetime | None = ts_field()


class CompetitorPrice(SQLModel, table=True):
    """One line of a competitor's feed (Google Merchant Center format), and the variant it matched."""

    __tablename__ = "pricing_competitor_price"
    __table_args__ = (
        UniqueConstraint("shop_id", "competitor", "item_id", name="uq_competitor_item"),
        Index("ix_competitor_shop_variant", "shop_id", "variant_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    competitor: str = Field(max_length=64)
    item_id: str = Field(max_length=128)
    price: Decimal | None = money_field()
    currency: str | None = Field(default=None, max_length=8)
    gtin: str | None = Field(default=None, max_length=14)
    mpn: str | None = Field(default=None, max_length=128)
    title: str | None = Field(default=None, max_length=255)
    link: str | None = Field(default=None, max_length=2048)
    variant_id: int | None = big_ref(index=False)
    matched_by: str | None = Field(default=None, max_length=8)  # gtin | sku | title
    # a title match is only a suggestion until the merchant confirms it: suggested | confirmed | rejected
    match_status: str | None = Field(default=None, max_length=16)
    match_score: float | None = None  # the title match's cosine similarity
    imported_at: datetime = ts_field(nullable=False, default_now=True)


class CompetitorFeed(SQLModel, table=True):
    """One competitor of a shop: its feed URL (None for a file the merchant uploads), the undercut alert threshold,
    and the last refresh's outcome (counts and each rejected line)."""

    __tablename__ = "pricing_competitor_feed"
    __table_args__ = (UniqueConstraint("shop_id", "competitor", name="uq_competitor_feed"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    competitor: str = Field(max_length=64)
    url: str | None = Field(default=None, max_length=2048)
    alert_pct: float = 5.0
    last_fetched_at: datetime | None = ts_field()
    last_status: str | None = Field(default=None, max_length=16)  # ok | partial | failed
    last_error: str | None = Field(default=None, max_length=500)
    last_report: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    created_at: datetime = ts_field(nullable=False, default_now=True)


class CompetitorAlert(SQLModel, table=True):
    """An undercut the merchant was told about: once per competitor item, variant and pair of prices (a further
    drop, or a change of the shop's own price, is news again)."""

    __tablename__ = "pricing_competitor_alert"
    __table_args__ = (
        UniqueConstraint(
            "shop_id",
            "competitor",
            "item_id",
            "variant_id",
            "our_price",
            "their_price",
            name="uq_competitor_alert",
        ),
        Index("ix_competitor_alert_shop_created", "shop_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    competitor: str = Field(max_length=64)
    item_id: str = Field(max_length=128)
    variant_id: int = shopify_id_field(index=False)
    our_price: Decimal = Field(sa_type=Numeric(18, 2), nullable=False)
    their_price: Decimal = Field(sa_type=Numeric(18, 2), nullable=False)
    gap: float = 0.0  # (ours − theirs) / theirs
    created_at: datetime = ts_field(nullable=False, default_now=True)
    mailed_at: datetime | None = ts_field()
