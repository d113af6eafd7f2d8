"""Back-in-stock messages as RQ jobs (issue 19): ``notify_back_in_stock(shop_id)`` runs when a stock update
lands for a shop with waiting requests (``inventory_levels/update``, product updates: queued by the webhook
handlers after their commit, one waiting job per shop) and every hour (``sweep_back_in_stock``: the next batch
once the last one's ``HOLD`` has passed, expiries, conversions).

One run is one batch per variant, in one transaction under a per-shop lock: the stock is read again, the batch
sized by ``app.agents.back_in_stock.batch_size``, the shoppers first in line proposed to the orchestrator
(consent from their request, quiet hours, the contact budget, the agent's and the global holdout), and each
request settled with its decision; the outbox rows commit with them. A place the orchestrator refused goes to
the next in line. Safe to retry: a told request is no longer waiting, and its dedupe key is taken.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app import tasks
from app.agents.back_in_stock import Restocked, batch_size, dedupe_key, propose
from app.config import get_settings
from app.db import get_engine
from app.jobs.orchestrate import count_actions, submit_new
from app.models.base import utcnow
from app.models.commerce import Product, ProductVariant
from app.models.shop import Shop
from app.stores import back_in_stock_batches as store
from app.stores.rescue import shop_label

log = logging.getLogger(__name__)


def _restocked(session: Session, shop: Shop, variant_id: int) -> Restocked | None:
    row = session.exec(
        select(ProductVariant, Product)
        .join(
            Product,
            (Product.shop_id == ProductVariant.shop_id)
            & (Product.shopify_id == ProductVariant.product_shopify_id),
        )
        .where(ProductVariant.shop_id == shop.id, ProductVariant.shopify_id == variant_id)
    ).first()
    if row is None:
        return None
    variant, product = row
    if product.deleted_at is not None or (product.status or "active").lower() != "active":
        return None
    title = product.title or ""
    if variant.title and variant.title != "Default Title":
        title = f"{title} – {variant.title}"
    url = f"https://{shop.domain}/products/{product.handle or product.shopify_id}?variant={variant_id}"
    return Restocked(shop.id, shop_label(session, shop), product.shopify_id, variant_id, title[:200], url,
                     float(variant.price or 0))  # fmt: skip


def notify_variant(
    session: Session, shop: Shop, variant_id: int, available: int | None, now: datetime
) -> dict[str, int]:
    """One batch for one variant (in the caller's transaction): how many were proposed and each decision."""
    counts: dict[str, int] = {}
    room = batch_size(available, store.outstanding(session, shop.id, variant_id, now))
    facts = _restocked(session, shop, variant_id) if room else None
    tried: list[int] = []
    while room > 0 and facts is not None:
        rows = store.waiting(session, shop.id, variant_id, tried, room)
        if not rows:
            break
        tried += [r.id for r in rows if r.id is not None]
        by_key = {dedupe_key(store.as_waiting(r)): r for r in rows}
        proposals = propose(facts, [store.as_waiting(r) for r in rows], now)
        fresh, decisions = submit_new(session, shop.id, proposals, now)
        fresh_keys = {p.dedupe_key for p in fresh}
        store.mark_already_told(session, [r for k, r in by_key.items() if k not in fresh_keys], now)
        room -= len(proposals) - len(fresh)
        room -= store.settle(session, [by_key[p.dedupe_key] for p in fresh], decisions, now)
        for action, n in count_actions(decisions).items():
            counts[action] = counts.get(action, 0) + n
    return counts


def notify_back_in_stock(shop_id: int, now: datetime | None = None) -> dict[str, Any]:
    """RQ job: expire old requests, mark conversions, then one batch for each variant with waiting requests
    that is in stock now."""
    settings = get_settings()
    now = now or utcnow()
    result: dict[str, Any] = {"shop_id": shop_id, "variants": 0}
    with Session(get_engine(settings.database_url)) as session:
        shop = session.get(Shop, shop_id)
        if shop is None or not shop.is_installed:
            return result
        store.lock_shop(session, shop_id)
        result["expired"] = store.expire(session, shop_id, now)
        result["converted"] = store.mark_conversions(session, shop_id, now)
        stock = store.restock_candidates(session, shop_id)
        result["recalled"] = store.recall_sold_out(session, shop_id, stock, now)
        for variant_id, available in sorted(stock.items()):
            if available is None or available <= 0:
                continue
            result["variants"] += 1
            for action, n in notify_variant(session, shop, variant_id, available, now).items():
                result[action] = result.get(action, 0) + n
        session.commit()
    log.info("back in stock: %s", result)
    return result


def sweep_back_in_stock() -> int:
    """Hourly: queue the job for every shop with waiting requests. Returns how many were queued."""
    settings = get_settings()
    with Session(get_engine(settings.database_url)) as session:
        shops = store.shops_waiting(session)
    return sum(bool(tasks.notify_back_in_stock(settings.redis_url, shop_id)) for shop_id in shops)
