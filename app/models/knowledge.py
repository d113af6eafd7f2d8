"""The support agent's knowledge per shop: passages of the shop's policies, pages, products, reviews and FAQ
(``app.knowledge.passages``) with their vectors, and the merchant's own FAQ entries."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import BigInteger, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, ts_field
from app.models.catalog import ProductEmbedding


class KnowledgePassage(SQLModel, table=True):
    """One sentence window of one source. ``source_key`` names the source (``policy:REFUND_POLICY``,
    ``page:12``, ``product:123:description``, ``review:<key>``, ``faq:7``): a re-sync replaces a source's
    passages together. ``digest`` is the text's hash: an unchanged passage keeps its vectors. ``vector`` (and
    ``question_vector`` for an FAQ entry) hold ``dim`` little-endian float32s under embedder ``model``."""

    __tablename__ = "knowledge_passage"
    __table_args__ = (
        UniqueConstraint("shop_id", "source_key", "position", name="uq_knowledge_passage_shop_source_pos"),
        Index("ix_knowledge_passage_shop_product", "shop_id", "product_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    source_key: str = Field(max_length=128)
    position: int = Field(nullable=False)
    kind: str = Field(max_length=16)
    title: str = Field(default="", max_length=255)
    text: str = Field(sa_type=Text, nullable=False)
    question: str | None = Field(default=None, sa_type=Text, nullable=True)
    url: str | None = Field(default=None, max_length=1024)
    product_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    # a review's author: ``app.commerce.privacy`` erases the customer's passages with the rest of their rows
    customer_shopify_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    digest: str = Field(max_length=64)
    model: str = Field(max_length=64)
    dim: int = Field(nullable=False)
    vector: bytes = Field(sa_type=LargeBinary, nullable=False)
    question_vector: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)

    pack = staticmethod(ProductEmbedding.pack)  # the same little-endian float32 layout

    def unpack(self) -> np.ndarray:
        return np.frombuffer(self.vector, dtype="<f4", count=self.dim)

    def unpack_question(self) -> np.ndarray:
        if self.question_vector is None:
            return np.zeros(self.dim, dtype=np.float32)
        return np.frombuffer(self.question_vector, dtype="<f4", count=self.dim)


class SupportFaq(SQLModel, table=True):
    """A question and answer the merchant wrote in the admin's FAQ editor."""

    __tablename__ = "support_faq"

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    question: str = Field(sa_type=Text, nullable=False)
    answer: str = Field(sa_type=Text, nullable=False)
    created_at: datetime = ts_field(nullable=False, default_now=True)
    updated_at: datetime = ts_field(nullable=False, default_now=True)
