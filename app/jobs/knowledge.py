"""Knowledge jobs: keep each shop's support passages (``app.stores.knowledge``) current.

- ``sync_local_knowledge(shop_id)``: products, reviews and the FAQ from the shop's own mirror; queued after
  product webhooks and catalogue syncs (``app.tasks.catalog_changed``), review imports and FAQ edits.
- ``sync_shop_knowledge(shop_id)``: that, plus the shop's policies, published pages and products'
  specifications (metafields) from the Admin API (each only when its scope is granted; a family whose fetch
  fails keeps its passages); nightly, after a catalogue sync and on demand from the admin.
- ``sync_all_knowledge()``: nightly, one full sync per installed shop.

Idempotent: an unchanged source is neither re-embedded nor rewritten; safe to retry.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from app import tasks
from app.config import Settings, get_settings
from app.db import get_engine
from app.embedding import get_embedder
from app.jobs.fan_out import for_each_installed_shop
from app.knowledge.passages import Source
from app.models.shop import Shop
from app.shopify.admin import AdminAPIError, AdminClient
from app.shopify.content import ContentDoc, fetch_pages, fetch_policies, fetch_product_specs
from app.shopify.scopes import READ_LEGAL_POLICIES, READ_ONLINE_STORE_PAGES, READ_PRODUCTS, has_scope
from app.stores.knowledge import (
    faq_sources,
    product_sources,
    replace_families,
    review_sources,
)

log = logging.getLogger(__name__)
POLICY_SCOPE = READ_LEGAL_POLICIES
PAGE_SCOPE = READ_ONLINE_STORE_PAGES


def _local(session: Session, shop_id: int, embedder: Any) -> dict[str, Any]:
    sources = (
        product_sources(session, shop_id) + review_sources(session, shop_id) + faq_sources(session, shop_id)
    )
    return replace_families(session, shop_id, ("product", "review", "faq"), sources, embedder).as_dict()


def sync_local_knowledge(shop_id: int, settings: Settings | None = None) -> dict[str, Any]:
    """Worker job: the passages of the shop's products, reviews and FAQ."""
    settings = settings or get_settings()
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        if session.get(Shop, shop_id) is None:
            return {"skipped": "no such shop"}
        report = _local(session, shop_id, get_embedder())
        session.commit()
    log.info("knowledge (local): shop %s %s", shop_id, report)
    return report


def _online_store(client: Any, shop: Shop) -> tuple[dict[str, list[ContentDoc]], dict[str, str]]:
    fetched: dict[str, list[ContentDoc]] = {}
    skipped: dict[str, str] = {}
    for family, scope, fetch in (
        ("policy", POLICY_SCOPE, lambda: fetch_policies(client)),
        ("page", PAGE_SCOPE, lambda: fetch_pages(client)),
        ("spec", READ_PRODUCTS, lambda: fetch_product_specs(client)),
    ):
        if not has_scope(shop, scope):
            skipped[family] = f"scope {scope} not granted"
            continue
        try:
            fetched[family] = fetch()
        except AdminAPIError as exc:  # the family keeps what it had; the next sync tries again
            skipped[family] = f"{exc.__class__.__name__}: {exc}"[:300]
    return fetched, skipped


def sync_shop_knowledge(shop_id: int, settings: Settings | None = None, client: Any = None) -> dict[str, Any]:
    """Worker job: policies, pages and product specifications from Shopify, then products, reviews and FAQ
    from the mirror."""
    settings = settings or get_settings()
    engine = get_engine(settings.database_url)
    with Session(engine, expire_on_commit=False) as session:
        shop = session.get(Shop, shop_id)
        if shop is None or shop.access_token_enc is None:
            return {"skipped": "no such installed shop"}
    client = client or AdminClient.for_shop(settings, shop_id)
    fetched, skipped = _online_store(client, shop)
    embedder = get_embedder()
    with Session(engine, expire_on_commit=False) as session:
        report: dict[str, Any] = {"skipped": skipped}
        if fetched:
            sources = [
                Source(d.key, d.kind, d.title, d.body_html, d.url, d.product_id)
                for docs in fetched.values()
                for d in docs
            ]
            report["online_store"] = replace_families(session, shop_id, fetched, sources, embedder).as_dict()
        report["local"] = _local(session, shop_id, embedder)
        session.commit()
    log.info("knowledge: shop %s %s", shop_id, report)
    return report


def sync_all_knowledge() -> int:
    """Nightly: queue a full knowledge sync for every installed shop (low queue). Returns how many."""
    return for_each_installed_shop(
        lambda redis_url, shop_id: tasks.sync_knowledge(redis_url, shop_id, full=True)
    )
