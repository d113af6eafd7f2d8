"""Back-in-stock requests (issue 19, "notify me"): one row per shop, variant, channel and address, scoped by
shop with (shop_id, key) indexes.

A request is the shopper's explicit consent for that one message (``consent_text`` records what they agreed
to, ``requested_at`` when). Its ``status`` moves ``waiting`` → ``notified`` (a message was decided and queued:
``outbox_id``), ``held_out`` (the shopper was in the agent's or the global holdout: recorded, never sent),
``suppressed`` (the orchestrator refused it ``MAX_SUPPRESSIONS`` times, ``last_reason`` says why) or
``expired`` (no restock within the request's life). ``converted_at`` is set when the shopper ordered the
variant within the attribution window after the message. A message deferred by quiet hours and still unsent
when the variant sells out again is recalled: the outbox row is cancelled and the request goes back in line
(same place, next ``round_no``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, shopify_id_field, ts_field

WAITING, NOTIFIED, HELD_OUT, SUPPRESSED, EXPIRED = "waiting", "notified", "held_out", "suppressed", "expired"
WITHDRAWN = "withdrawn"  # the address unsubscribed before it was told


class BackInStockRequest(SQLModel, table=True):
    __tablename__ = "back_in_stock_request"
    __table_args__ = (
        UniqueConstraint(
            "shop_id", "variant_shopify_id", "channel", "address", name="uq_back_in_stock_request_contact"
        ),
        Index("ix_back_in_stock_request_shop_status", "shop_id", "status", "variant_shopify_id"),
        Index("ix_back_in_stock_request_shop_shopper", "shop_id", "shopper_key", "requested_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    variant_shopify_id: int = shopify_id_field(index=False)
    product_shopify_id: int = shopify_id_field(index=False)
    channel: str = Field(max_length=16)  # email | sms | push
    address: str = Field(
        max_length=320
    )  # the e-mail (lower case), the E.164 phone, or the shopper key (push)
    shopper_key: str = Field(max_length=80)  # customer:<id>, else client:<id>
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    client_id: str | None = Field(default=None, max_length=64)
    source: str = Field(default="theme", max_length=16)  # theme | assistant
    consent_text: str = Field(default="", max_length=500)
    locale: str | None = Field(default=None, max_length=16)
    status: str = Field(default=WAITING, max_length=16)
    suppressions: int = 0
    round_no: int = (
        0  # bumped when a request goes back in line (its deferred message recalled): a new dedupe key
    )
    last_reason: str | None = Field(default=None, max_length=280)
    requested_at: datetime = ts_field(nullable=False, default_now=True)
    notified_at: datetime | None = ts_field()
    outbox_id: int | None = Field(default=None, nullable=True)
    converted_at: datetime | None = ts_field()
    updated_at: datetime = ts_field(nullable=False, default_now=True)
