"""The live customer profile: one row per shopper per shop."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field


class CustomerProfile(SQLModel, table=True):
    """Sections as JSON (explicit, behavioural, contextual, derived; ``working`` is the update state that
    keeps incremental folding exact) plus indexed scalars for listing by segment or score.

    ``customer_key`` is the shopper's identity root (``customer:123`` once known, else ``client:…``);
    ``version`` guards concurrent writers (compare-and-set on update).
    """

    __tablename__ = "customer_profile"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_key", name="uq_customer_profile_shop_key"),
        Index("ix_customer_profile_shop_intent", "shop_id", "intent"),
        Index("ix_customer_profile_shop_clv", "shop_id", "clv"),
        Index("ix_customer_profile_shop_churn", "shop_id", "churn_risk"),
        Index("ix_customer_profile_shop_segment", "shop_id", "rfm_segment"),
        Index("ix_customer_profile_shop_seen", "shop_id", "last_seen_at"),
        Index("ix_customer_profile_shop_customer", "shop_id", "customer_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    customer_key: str = Field(max_length=160)
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True, index=True)
    explicit: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    behavioural: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    contextual: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    derived: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    working: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    intent: float | None = None
    clv: float | None = None
    churn_risk: float | None = None
    rfm_segment: str | None = Field(default=None, max_length=32)
    event_count: int = 0
    last_seen_at: datetime | None = ts_field()
    version: int = 0
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)
