"""Train each shop's next-basket ranker (the model of the personal lists): worker jobs, never on a request.

- ``train_ranker(shop_id)``: reads the shop's order history, trains its ranker (``NextBasketRecommender.train``:
  a LightGBM ranker when the shop has enough history, else the untrained TIFU + popularity fallback, with the
  reason) and stores it as the shop's next version; once that commits, the shop's lists are recomputed with it.
  Queued nightly for every shop, after a sync, and by a customer refresh once enough new orders arrived
  (``app.recommend.nextbasket.retrain_due``), deduplicated per shop by job id.
- ``train_all_rankers()``: nightly, one training per installed shop.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlmodel import Session, select

from app import tasks
from app.config import Settings, get_settings
from app.db import get_engine, retry_lost_race
from app.models.base import utcnow
from app.models.shop import Shop
from app.recommend.nextbasket import NextBasketRecommender
from app.stores.catalog import shop_currency
from app.stores.ranker import purchase_lines, save_ranker

log = logging.getLogger(__name__)


def train_ranker(shop_id: int, settings: Settings | None = None) -> dict[str, Any]:
    """RQ job: train and store the shop's ranker, then queue the refresh of its lists."""
    settings = settings or get_settings()
    engine = get_engine(settings.database_url)
    with Session(engine) as session:  # read, then train outside any transaction
        if session.get(Shop, shop_id) is None:
            return {"shop_id": shop_id, "trained": False}
        trained_at = utcnow()
        lines = purchase_lines(session, shop_id)
        currency = shop_currency(session, shop_id)
    started = time.perf_counter()
    recommender = NextBasketRecommender()
    ranker = recommender.train(lines.baskets())
    seconds = round(time.perf_counter() - started, 1)

    def store() -> dict[str, Any]:
        with Session(engine, expire_on_commit=False) as session:
            row = save_ranker(
                session,
                shop_id,
                ranker,
                trained_at=trained_at,
                lines=lines,
                currency=currency,
                params={**recommender.params(), "seconds": seconds},
            )
            session.commit()
            return {"version": row.version, "orders": row.orders, "bytes": row.size_bytes}

    saved = retry_lost_race(store)
    tasks.refresh_shop_lists(settings.redis_url, shop_id)  # after the commit: every list with the new ranker
    log.info(
        "ranker: shop %s, %s v%s in %.1f s (%s)", shop_id, ranker.kind, saved["version"], seconds, ranker.why
    )
    return {"shop_id": shop_id, "trained": True, "kind": ranker.kind, "why": ranker.why, **saved}


def train_all_rankers() -> int:
    """Nightly: queue a training for every installed shop (low queue). Returns how many."""
    settings = get_settings()
    with Session(get_engine(settings.database_url)) as session:
        shops = session.exec(
            select(Shop.id).where(Shop.access_token_enc.is_not(None), Shop.uninstalled_at.is_(None))  # type: ignore[union-attr]
        ).all()
    return sum(tasks.train_ranker(settings.redis_url, shop_id) for shop_id in shops)
