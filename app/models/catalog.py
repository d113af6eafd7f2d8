"""Stored product embeddings: one float32 vector per live product, rewritten only when its text changes."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import shop_fk, shopify_id_field, ts_field


class ProductEmbedding(SQLModel, table=True):
    """The vector of one product's text (``app.catalog.text.product_text``) under one embedder.

    ``content_hash`` is the text's hash salted with the embedder's name (``app.catalog.text.content_hash``):
    the catalogue job re-embeds a product only when it differs. ``vector`` holds ``dim`` little-endian float32s.
    """

    __tablename__ = "product_embedding"
    __table_args__ = (
        UniqueConstraint("shop_id", "product_shopify_id", name="uq_product_embedding_shop_product"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: int = shop_fk()
    product_shopify_id: int = shopify_id_field(index=False)
    content_hash: str = Field(max_length=64, nullable=False)
    model: str = Field(max_length=64, nullable=False)
    dim: int = Field(nullable=False)
    vector: bytes = Field(sa_type=LargeBinary, nullable=False)
    updated_at: datetime = ts_field(nullable=False, default_now=True)

    @staticmethod
    def pack(vector: np.ndarray) -> bytes:
        return np.ascontiguousarray(vector, dtype="<f4").tobytes()

    def unpack(self) -> np.ndarray:
        return np.frombuffer(self.vector, dtype="<f4", count=self.dim)
