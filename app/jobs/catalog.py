"""Catalogue jobs: keep one stored vector per live product, embedding only products whose text changed.

``embed_shop_products`` is idempotent: a second run over an unchanged catalogue embeds nothing and writes
nothing. It runs in the worker with the process's embedder (loaded once, see ``app.embedding.preload``),
after a sync and after product webhooks (``enqueue_embed_after_commit``); when it changed any vector it
queues the shop's list refresh, so cold-start similarity always reads current vectors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import or_
from sqlmodel import Session, delete, select

from app.catalog.embed_jobs import EmbedRow, embed_changed
from app.catalog.text import product_text
from app.config import Settings, get_settings
from app.db import after_commit, get_engine
from app.embedding import Embedder, get_embedder
from app.models.base import utcnow
from app.models.catalog import ProductEmbedding
from app.models.commerce import Product
from app.queue import enqueue

log = logging.getLogger(__name__)

JOB_EMBED = "app.jobs.catalog.embed_shop_products"
RECS_JOB = "app.jobs.recommendations.refresh_for_shop"
INTERESTS_JOB = "app.jobs.interests.infer_for_shop"  # new vectors can move the shop's interests


def embed_job_id(shop_id: int) -> str:
    return f"embed-shop-{shop_id}"


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


def embed_shop_products(shop_id: int, settings: Settings | None = None) -> dict[str, int]:
    """Worker job: embed the shop's changed products, drop vectors of deleted ones, then refresh its lists."""
    settings = settings or get_settings()
    embedder = get_embedder()
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        report = sync_embeddings(session, shop_id, embedder)
        session.commit()
    log.info(
        "embeddings: shop %s, %s embedded (%s texts), %s unchanged, %s deleted",
        shop_id,
        report.embedded,
        report.texts_embedded,
        report.unchanged,
        report.deleted,
    )
    if report.changed:
        enqueue(settings.redis_url, RECS_JOB, shop_id, queue="low", job_id=f"recs-shop-{shop_id}")
        enqueue(settings.redis_url, INTERESTS_JOB, shop_id, queue="low", job_id=f"interests-shop-{shop_id}")
    return {
        "embedded": report.embedded,
        "texts_embedded": report.texts_embedded,
        "unchanged": report.unchanged,
        "deleted": report.deleted,
    }


def enqueue_embed(settings: Settings, shop_id: int) -> bool:
    return enqueue(settings.redis_url, JOB_EMBED, shop_id, queue="low", job_id=embed_job_id(shop_id))


def enqueue_embed_after_commit(session: Session, settings: Settings, shop_id: int) -> None:
    """Queue the shop's embedding job once the catalogue change has committed (deduplicated by job id)."""
    after_commit(session, lambda: enqueue_embed(settings, shop_id))
