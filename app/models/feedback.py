"""What shoppers told the shop in words: product reviews (imported) and support conversations (the assistant).

Both carry ``customer_shopify_id`` where the person is known, so ``app.commerce.privacy`` exports and erases
them with the customer; support messages of anonymous visitors carry ``client_id`` and are followed through
identity links by ``app.stores.privacy``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field


class ProductReview(SQLModel, table=True):
    """One product review by one customer of the shop, imported from a CSV export or a review app.

    ``review_key`` makes re-imports idempotent: the export's review id when it has one, else a digest of
    (product, reviewer, created at). A re-import updates the rating and text in place.
    """

    __tablename__ = "product_review"
    __table_args__ = (
        UniqueConstraint("shop_id", "review_key", name="uq_product_review_shop_key"),
        Index("ix_product_review_shop_customer", "shop_id", "customer_shopify_id"),
        Index("ix_product_review_shop_product", "shop_id", "product_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    review_key: str = Field(max_length=64)
    source: str = Field(default="csv", max_length=32)
    customer_shopify_id: int = Field(sa_type=BigInteger, nullable=False)
    product_shopify_id: int = Field(sa_type=BigInteger, nullable=False)
    rating: int
    title: str | None = Field(default=None, max_length=255)
    body: str | None = Field(default=None, sa_type=Text, nullable=True)
    reviewed_at: datetime | None = ts_field()
    imported_at: datetime = ts_field(nullable=False, default_now=True)


class SupportMessage(SQLModel, table=True):
    """One turn of a support conversation on the storefront assistant: the shopper's question or the answer.

    ``conversation`` groups the turns of one conversation of one shopper (a new one starts after a pause);
    ``escalated`` marks an answer that handed the question to a person, open until ``resolved_at``; the merchant
    may leave a ``resolution_note`` (their reply) when resolving it. ``abstained``, ``handoff`` and ``source``
    say how the support agent answered (``app.agents.support``, ``app.agents.support_handoff``).
    """

    __tablename__ = "support_message"
    __table_args__ = (
        Index("ix_support_message_shop_customer", "shop_id", "customer_shopify_id"),
        Index("ix_support_message_shop_client", "shop_id", "client_id"),
        Index("ix_support_message_shop_conversation", "shop_id", "conversation"),
        Index("ix_support_message_shop_product", "shop_id", "product_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    conversation: str = Field(max_length=32)
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    client_id: str | None = Field(default=None, max_length=64)
    role: str = Field(max_length=16)  # shopper | assistant
    topic: str = Field(default="other", max_length=32)
    text: str = Field(sa_type=Text)
    escalated: bool = False
    abstained: bool = False  # the shop's knowledge had no confident answer (two in a conversation hand off)
    handoff: str | None = Field(default=None, max_length=32)  # the hand-off rule that fired, if one did
    source: str | None = Field(default=None, max_length=160)  # the passage a knowledge answer quoted
    resolved_at: datetime | None = ts_field()
    resolution_note: str | None = Field(default=None, sa_type=Text, nullable=True)
    helpful: bool | None = Field(default=None, nullable=True)  # the shopper's 👍 / 👎 on an answer
    confidence: float | None = Field(default=None, nullable=True)  # a knowledge answer's confidence
    product_shopify_id: int | None = Field(
        default=None, sa_type=BigInteger, nullable=True
    )  # asked on its page
    created_at: datetime = ts_field(nullable=False, default_now=True)


class ReviewImport(SQLModel, table=True):
    """One uploaded review file, imported by a worker job (``app.jobs.reviews.run_review_import``), never by
    the request that received it.

    ``status``: queued → done (``result`` holds what was stored, updated and rejected) or failed (``error``).
    The file itself (``body``) is kept only until the import ran: it is cleared when the job finishes, so a
    reviewer's words live on only in ``product_review``, where erasure finds them.
    """

    __tablename__ = "review_import"

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    source: str = Field(default="csv", max_length=32)
    status: str = Field(default="queued", max_length=16)  # queued | done | failed
    body: str | None = Field(default=None, sa_type=Text, nullable=True)
    result: dict | None = Field(default=None, sa_type=JSON, nullable=True)
    error: str | None = Field(default=None, sa_type=Text, nullable=True)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    finished_at: datetime | None = ts_field()
