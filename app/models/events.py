"""Storefront pixel events (recorded at ingress, folded into profiles by a job) and identity links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field


class PixelEvent(SQLModel, table=True):
    """One event from the web pixel. Unique on (shop, event id): a re-sent batch stores nothing twice.

    ``processed_at`` is set, in the same transaction that updates the profile, by the job that folds the
    event in; rows still NULL after a while are picked up by the sweeper.

    ``customer_shopify_id`` is what the batch *claims* (its ``customerId``, or the checkout's): an unverified
    hint, since anyone holding the shop's public pixel key can send any id. It is kept (a customer's erasure
    removes the events that name them) but never identifies anyone: the fold ignores it for stitching.
    """

    __tablename__ = "pixel_event"
    __table_args__ = (
        UniqueConstraint("shop_id", "event_id", name="uq_pixel_event_shop_event"),
        Index("ix_pixel_event_shop_client", "shop_id", "client_id"),
        Index("ix_pixel_event_shop_pending", "shop_id", "processed_at"),
        Index("ix_pixel_event_shop_customer", "shop_id", "customer_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    event_id: str = Field(max_length=128)
    client_id: str = Field(max_length=128)
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True, index=True)
    name: str = Field(max_length=64)
    occurred_at: datetime = ts_field(nullable=False)
    received_at: datetime = ts_field(nullable=False, default_now=True)
    context: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    processed_at: datetime | None = ts_field()


class IdentityLink(SQLModel, table=True):
    """One identifier (``client:…``, ``cart:…``, ``checkout:…``, ``customer:…``) and the shopper it belongs to.

    Flat union-find: ``root`` is always the set's root (a root points at itself), so a shopper's
    identifiers are ``WHERE shop_id = ? AND root = ?``.
    """

    __tablename__ = "identity_link"
    __table_args__ = (
        UniqueConstraint("shop_id", "node", name="uq_identity_link_shop_node"),
        Index("ix_identity_link_shop_root", "shop_id", "root"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    node: str = Field(max_length=160)
    root: str = Field(max_length=160)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)
