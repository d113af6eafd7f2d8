"""What the shop's catalogue is about and what the merchant asked for: inferred interests, pins and excludes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field

RULE_KINDS = ("pin", "exclude")
ALL_PLACEMENTS = "all"  # an exclude for every placement


class ShopInterest(SQLModel, table=True):
    """One interest (use case) inferred from the shop's product clusters (``app.recommend.interests``).

    Rewritten whole per shop by ``app.jobs.interests.infer_for_shop``; ``product_ids`` are Shopify product
    ids as strings, most central first.
    """

    __tablename__ = "shop_interest"
    __table_args__ = (UniqueConstraint("shop_id", "key", name="uq_shop_interest_key"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    key: str = Field(max_length=64)
    name: str = Field(max_length=120)
    terms: list[str] = Field(default_factory=list, sa_type=JSON)
    product_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    size: int = 0
    score: float = 0.0
    sources: list[str] = Field(default_factory=list, sa_type=JSON)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    computed_at: datetime = ts_field(nullable=False, default_now=True)


class MerchantRule(SQLModel, table=True):
    """A merchant's pin (shown first, in ``position`` order) or exclude (never shown) for one placement.

    ``placement`` is one with precomputed lists (``app.stores.merchant_rules.RULE_PLACEMENTS``: product, fbt, home,
    buy_again); an exclude may also use ``"all"``.
    """

    __tablename__ = "merchant_rule"
    __table_args__ = (
        UniqueConstraint("shop_id", "placement", "kind", "product_shopify_id", name="uq_merchant_rule"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    placement: str = Field(max_length=32)
    kind: str = Field(max_length=16)
    product_shopify_id: int = Field(sa_type=BigInteger, nullable=False)
    position: int = 0
    created_at: datetime = ts_field(nullable=False, default_now=True)
