"""Attune's writes back to Shopify, one row per customer and kind (``consent_email``, ``metafields``): what
was asked, and whether it was done, skipped (the shop has not granted the scope) or failed, with the reason.

A skipped write is replayed when the merchant grants the scope (``app/scopes_update``). Customer-linked:
GDPR export and erasure find the rows by ``customer_shopify_id``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field

# shopify_writeback.status
WB_PENDING, WB_DONE, WB_SKIPPED, WB_FAILED = "pending", "done", "skipped", "failed"
CONSENT_EMAIL, METAFIELDS = "consent_email", "metafields"


class ShopifyWriteback(SQLModel, table=True):
    __tablename__ = "shopify_writeback"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_shopify_id", "kind", name="uq_shopify_writeback_kind"),
        Index("ix_shopify_writeback_shop_status", "shop_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    customer_shopify_id: int = Field(sa_type=BigInteger, nullable=False)
    kind: str = Field(max_length=16)
    status: str = Field(default=WB_PENDING, max_length=16)
    detail: str = Field(default="", sa_type=Text)
    attempts: int = 0
    requested_at: datetime = ts_field(nullable=False, default_now=True)
    done_at: datetime | None = ts_field()
    updated_at: datetime = ts_field(nullable=False, default_now=True)
