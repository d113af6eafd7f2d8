"""One shop's catalogue as the models see it: the live products, their texts, and their stored vectors
(one per live product and embedder, rewritten only when the product's text changed). No commits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, or_
from sqlmodel import Session, delete, select

from app.catalog.embed_jobs import EmbedRow, embed_changed
from app.catalog.embedder import Embedder
from app.catalog.search import load_vectors
from app.catalog.text import product_text
from app.models.base import utcnow
from app.models.catalog import ProductEmbedding
from app.models.commerce import Product


@dataclass(frozen=True, slots=True)
class EmbedReport:
    embedded: int  # products whose vector was (re)written
    texts_embedded: int  # distinct texts sent to the model
    unchanged: int
    deleted: int

    @property
    def changed(self) -> bool:
        return bool(self.embedded or self.deleted)


def live_products(session: Session, shop_id: int) -> list[Product]:
    """Products a shopper can see: not deleted, active (or of unknown status)."""
    return list(
        session.exec(
            select(Product).where(
                Product.shop_id == shop_id,
                Product.deleted_at.is_(None),
                or_(Product.status.is_(None), Product.status == "active"),
            )
        ).all()
    )


def text_of(p: Product) -> str:
    return product_text(
        p.title, product_type=p.product_type, vendor=p.vendor, tags=p.tags, description_html=p.body_html
    )


def _rows(session: Session, shop_id: int, product_ids: list[int]) -> list[ProductEmbedding]:
    out: list[ProductEmbedding] = []
    for start in range(0, len(product_ids), 500):
        out.extend(
            session.exec(
                select(ProductEmbedding).where(
                    ProductEmbedding.shop_id == shop_id,
                    ProductEmbedding.product_shopify_id.in_(product_ids[start : start + 500]),
                )
            ).all()
        )
    return out


def sync_embeddings(session: Session, shop_id: int, embedder: Embedder) -> EmbedReport:
    """Bring the shop's stored vectors in line with its live products (caller commits)."""
    products = live_products(session, shop_id)
    stored = dict(
        session.exec(
            select(ProductEmbedding.product_shopify_id, ProductEmbedding.content_hash).where(
                ProductEmbedding.shop_id == shop_id
            )
        ).all()
    )
    rows = [EmbedRow(p.shopify_id, text_of(p), stored.get(p.shopify_id)) for p in products]
    result = embed_changed(rows, embedder, batch_size=getattr(embedder, "batch_size", 256))
    existing = {
        row.product_shopify_id: row
        for row in _rows(session, shop_id, [pid for pid in result.product_ids if pid in stored])
    }
    now = utcnow()
    for pid, vector, digest in zip(result.product_ids, result.vectors, result.hashes, strict=True):
        row = existing.get(pid) or ProductEmbedding(
            shop_id=shop_id, product_shopify_id=pid, content_hash=digest, model="", dim=0, vector=b""
        )
        row.content_hash, row.model, row.dim = digest, embedder.name, int(vector.shape[0])
        row.vector, row.updated_at = ProductEmbedding.pack(vector), now
        session.add(row)
    gone = set(stored) - {p.shopify_id for p in products}
    gone_ids = sorted(gone)
    for start in range(0, len(gone_ids), 500):
        session.exec(
            delete(ProductEmbedding).where(
                ProductEmbedding.shop_id == shop_id,
                ProductEmbedding.product_shopify_id.in_(gone_ids[start : start + 500]),
            )
        )
    return EmbedReport(len(result), result.texts_embedded, len(result.skipped), len(gone))


def stored_vectors(session: Session, shop_id: int) -> tuple[list[int], np.ndarray] | None:
    """The shop's stored product vectors of its most used embedder (None when it has none yet)."""
    models = session.exec(
        select(ProductEmbedding.model, func.count(ProductEmbedding.id))
        .where(ProductEmbedding.shop_id == shop_id)
        .group_by(ProductEmbedding.model)
    ).all()
    if not models:
        return None
    model = max(models, key=lambda m: (m[1], m[0]))[0]
    ids, matrix = load_vectors(session, shop_id, model)
    return (ids, matrix) if ids else None
