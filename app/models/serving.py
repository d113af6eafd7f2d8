"""What the storefront is served: precomputed lists, holdout policy, the served-list log, wishlists, nudges.

Storefront reads come from these rows (and caches over them); the request path never computes a
recommendation. Every served list is logged with its strategy, variant and holdout flag, so lift can be
measured against the holdout group later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field

LIST_SCOPES = ("customer", "product", "placement", "client")
SUBJECT_KINDS = ("customer", "client")


class RecommendationList(SQLModel, table=True):
    """One precomputed list: per shop × scope (customer | product | placement) × subject × placement.

    ``items`` holds ``{"product_id", "variant_id", "score", "reason"}`` dicts in rank order; the
    storefront joins product details at refresh time, so serving is a single row read. A customer's lists also
    say which ranker built them (``model_version``, ``model_note``).
    """

    __tablename__ = "recommendation_list"
    __table_args__ = (
        UniqueConstraint("shop_id", "scope", "subject", "placement", name="uq_recommendation_list_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    scope: str = Field(max_length=16)
    subject: str = Field(default="", max_length=64)
    placement: str = Field(max_length=32)
    strategy: str = Field(max_length=64)
    variant: str = Field(default="A", max_length=32)
    items: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    inputs_hash: str = Field(default="", max_length=64)
    computed_at: datetime = ts_field(nullable=False, default_now=True)
    # personal lists: the ranker that built the list (``ranker_model.version``; None when not a stored one) and
    # which model that is: kind, training time and size, or the fallback and why
    model_version: int | None = Field(default=None)
    model_note: str = Field(default="", max_length=512)


class HoldoutPolicy(SQLModel, table=True):
    """The share of a shop's shoppers held out from one agent (they get the non-personalised control)."""

    __tablename__ = "holdout_policy"
    __table_args__ = (UniqueConstraint("shop_id", "agent", name="uq_holdout_policy_agent"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    agent: str = Field(max_length=32)
    share: float = Field(default=0.1)
    salt: str = Field(default="", max_length=32)
    updated_at: datetime = ts_field(nullable=False, default_now=True)


class ServedList(SQLModel, table=True):
    """One list shown to one shopper: the raw material of lift measurement."""

    __tablename__ = "served_list"
    __table_args__ = (Index("ix_served_list_shop_served_at", "shop_id", "served_at"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    serve_id: str = Field(max_length=32, unique=True)
    agent: str = Field(max_length=32)
    placement: str = Field(max_length=32)
    subject_kind: str = Field(max_length=16)
    subject: str = Field(max_length=64)
    list_id: int | None = Field(default=None)
    strategy: str = Field(max_length=64)
    variant: str = Field(max_length=32)
    holdout: bool = Field(default=False)
    product_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    served_at: datetime = ts_field(nullable=False, default_now=True)


class WishlistItem(SQLModel, table=True):
    """A product a shopper saved; ``owner`` is ``customer:<id>`` or ``client:<client id>``."""

    __tablename__ = "wishlist_item"
    __table_args__ = (UniqueConstraint("shop_id", "owner", "product_id", name="uq_wishlist_item"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    owner: str = Field(max_length=80, index=True)
    product_id: int = Field(sa_type=BigInteger)
    variant_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = ts_field(nullable=False, default_now=True)


class Nudge(SQLModel, table=True):
    """A message for one shopper (or every shopper) of a shop, shown on site by the storefront assistant.

    The on-site channel's message table. The storefront reads it (``app.storefront.shopper_data.active_nudges``
    behind ``GET /proxy/nudges``); the outbox relay's on-site channel (``app.channels.onsite``) writes it, one
    row per outbox message (``outbox_id``), so a repeated send finds the row it wrote.
    """

    __tablename__ = "nudge"
    __table_args__ = (
        Index("ix_nudge_shop_target", "shop_id", "customer_id", "client_id"),
        UniqueConstraint("shop_id", "outbox_id", name="uq_nudge_outbox"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    customer_id: int | None = Field(default=None, sa_type=BigInteger)
    client_id: str | None = Field(default=None, max_length=64)
    agent: str = Field(max_length=32)
    kind: str = Field(default="message", max_length=32)
    text: str = Field(max_length=280)
    url: str | None = Field(default=None, max_length=512)
    reason: str = Field(default="", max_length=280)
    priority: int = Field(default=0)
    starts_at: datetime | None = ts_field()
    expires_at: datetime | None = ts_field()
    dismissed_at: datetime | None = ts_field()
    outbox_id: int | None = Field(default=None)  # the outbox message it delivers (the on-site channel's)
    created_at: datetime = ts_field(nullable=False, default_now=True)
