"""In-session rescue: one row per storefront session that sent hesitation signals, and one per shop for the
nudge's settings and its learned risk layer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field


class NudgeSession(SQLModel, table=True):
    """A live storefront session as the nudge endpoint folds it.

    ``session_key`` is a hash of the shop, the shopper (signed-in customer or client id) and the browser's
    session id, so a session id sent by another shopper names another (empty) row. ``state`` is the fold of the
    signals (with the ids already seen, for dedupe); ``features`` what the risk model reads. The arm is drawn
    when the row is created, before any decision; ``rung`` / ``action`` / ``reason`` are the one decision.
    """

    __tablename__ = "nudge_session"
    __table_args__ = (
        UniqueConstraint("shop_id", "session_key", name="uq_nudge_session_shop_key"),
        Index("ix_nudge_session_shop_decided", "shop_id", "decided_at"),
        Index("ix_nudge_session_shop_client", "shop_id", "client_id"),
        Index("ix_nudge_session_shop_customer", "shop_id", "customer_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    session_key: str = Field(max_length=64)
    client_id: str | None = Field(default=None, max_length=64)
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    cart_token: str | None = Field(default=None, max_length=255)
    holdout: bool = False
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    features: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    risk: float | None = None
    cart_value: float = 0.0
    events: int = 0
    action: str | None = Field(default=None, max_length=16)  # show | hold_out | none
    rung: str | None = Field(
        default=None, max_length=16
    )  # help | compare | incentive (intended when held out)
    reason: str | None = Field(default=None, sa_type=Text)
    decided_at: datetime | None = ts_field()
    started_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class NudgeShop(SQLModel, table=True):
    """A shop's nudge settings (shipping facts the help rung quotes) and its per-shop risk layer."""

    __tablename__ = "nudge_shop"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_nudge_shop_shop"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    risk_layer: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    version: int = 1
    updated_at: datetime = ts_field(nullable=False, default_now=True)
