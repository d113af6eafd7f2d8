"""One shop's catalogue as the models and the storefront see it: the live products, their texts, their stored
vectors (one per live product and embedder, rewritten only when the product's text changed), and the cards a
storefront list shows (price in the shop's currency, the first sellable variant). No commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, or_
from sqlmodel import Session, delete, select

from app.catalog.embed_jobs import EmbedRow, embed_changed
from app.catalog.embedder import Embedder
from app.catalog.search import load_vectors
from app.catalog.stock import variant_availability
from app.catalog.text import product_text
from app.models.base import utcnow
from app.models.catalog import ProductEmbedding
from app.models.commerce import Order, Product, ProductVariant
from app.stores.inventory import selling_out
from app.stores.inventory_live import overstocked


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


DEFAULT_CURRENCY = "USD"


def shop_currency(session: Session, shop_id: int) -> str:
    """The shop's currency: that of its latest real order (an order's ``currency`` is the shop's, not the
    buyer's presentment currency, so a shop that changed currency is in the new one from its next order on).
    Lists, the ranker and the lift page all use this one rule. ``DEFAULT_CURRENCY`` before any order."""
    placed_at = func.coalesce(Order.processed_at, Order.shopify_created_at)
    latest = session.exec(
        select(Order.currency)
        .where(Order.shop_id == shop_id, Order.test.is_(False), Order.currency.is_not(None))  # type: ignore[union-attr]
        .order_by(placed_at.desc(), Order.shopify_id.desc())
        .limit(1)
    ).first()
    return latest or DEFAULT_CURRENCY


def product_cards(
    session: Session, shop_id: int, product_ids: Iterable[int], currency: str | None = None
) -> dict[int, dict[str, Any]]:
    """Product id → what a storefront card shows, for live, non-deleted products.

    ``variant_id`` is the first sellable variant, preferring one the inventory forecast does not see selling out
    before its restock (None when nothing is in stock; ``available`` says so); ``selling_out`` is true when
    every sellable variant will (recommendations stop promoting it); ``overstocked`` when the picked variant is
    overstocked and the merchant favours such items (lists lift it a little, within their rules).
    """
    ids = sorted({int(p) for p in product_ids})
    if not ids:
        return {}
    currency = currency or shop_currency(session, shop_id)
    products = session.exec(
        select(Product).where(
            Product.shop_id == shop_id,
            Product.shopify_id.in_(ids),
            Product.deleted_at.is_(None),
            or_(Product.status.is_(None), Product.status == "active"),
        )
    ).all()
    variants = session.exec(
        select(ProductVariant)
        .where(ProductVariant.shop_id == shop_id, ProductVariant.product_shopify_id.in_(ids))
        .order_by(ProductVariant.product_shopify_id, ProductVariant.position, ProductVariant.shopify_id)
    ).all()
    sellable = variant_availability(session, shop_id, variants)
    short = selling_out(session, shop_id, [v.shopify_id for v in variants if sellable.get(v.shopify_id)])
    plenty = overstocked(session, shop_id, [v.shopify_id for v in variants if sellable.get(v.shopify_id)])
    by_product: dict[int, list[ProductVariant]] = defaultdict(list)
    for v in variants:
        by_product[v.product_shopify_id].append(v)
    cards: dict[int, dict[str, Any]] = {}
    for p in products:
        vs = by_product.get(p.shopify_id, [])
        in_stock = [v for v in vs if sellable.get(v.shopify_id)]
        pick = next((v for v in in_stock if v.shopify_id not in short), in_stock[0] if in_stock else None)
        shown = pick or (vs[0] if vs else None)
        cards[p.shopify_id] = {
            "product_id": p.shopify_id,
            "variant_id": pick.shopify_id if pick else None,
            "title": p.title or "",
            "handle": p.handle or "",
            "url": f"/products/{p.handle}" if p.handle else f"/products/{p.shopify_id}",
            "price": str(shown.price) if shown is not None and shown.price is not None else None,
            "currency": currency,
            "image": None,
            "available": pick is not None,
            "selling_out": pick is not None and pick.shopify_id in short,
            "overstocked": pick is not None and pick.shopify_id in plenty,
        }
    return cards
