"""Catalogue jobs: keep one stored vector per live product, embedding only products whose text changed.

``embed_shop_products`` is idempotent: a second run over an unchanged catalogue embeds nothing and writes
nothing. It runs in the worker with the process's embedder (loaded once, see ``app.embedding.preload``),
after a sync and after product webhooks (``app.tasks.catalog_changed``); when it changed any vector it
queues the shop's list refresh, so cold-start similarity always reads current vectors.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from app import tasks
from app.config import Settings, get_settings
from app.db import get_engine
from app.embedding import get_embedder
from app.stores.catalog import sync_embeddings

log = logging.getLogger(__name__)


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
    if report.changed:  # new vectors move the product pages' similar items and can move the shop's interests
        # personal lists do not read vectors: the interests' refresh rewrites them if the interests move
        tasks.refresh_shop_lists(settings.redis_url, shop_id, personal=False)
        tasks.infer_interests(settings.redis_url, shop_id)
    return {
        "embedded": report.embedded,
        "texts_embedded": report.texts_embedded,
        "unchanged": report.unchanged,
        "deleted": report.deleted,
    }
