"""Train each shop's next-basket ranker (the model of the personal lists): worker jobs, never on a request.

- ``train_ranker(shop_id)``: reads the shop's order history, trains its ranker (``NextBasketRecommender.train``:
  a LightGBM ranker when the shop has enough history, else the untrained TIFU + popularity fallback, with the
  reason) and stores it as the shop's next version; once that commits, every customer's personal lists are
  recomputed with it (``refresh_personal_lists``).
  Queued nightly for every shop, after a sync, and by a customer refresh once enough new orders arrived
  (``app.recommend.nextbasket.retrain_wait``: scheduled for later while the last training is under 10 minutes
  old), deduplicated per shop by job id. A history that has not changed
  since the stored ranker's training (``history_stamp``) is not trained again.
- ``train_all_rankers()``: nightly, one training per installed shop.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlmodel import Session

from app import tasks
from app.config import Settings, get_settings
from app.db import get_engine, retry_lost_race
from app.jobs.fan_out import for_each_installed_shop
from app.models.base import utcnow
from app.models.shop import Shop
from app.recommend.nextbasket import NextBasketRecommender
from app.stores.catalog import shop_currency
from app.stores.ranker import history_stamp, purchase_lines, save_ranker, stored_stamp

log = logging.getLogger(__name__)


def train_ranker(shop_id: int, settings: Settings | None = None) -> dict[str, Any]:
    """RQ job: train and store the shop's ranker, then queue the refresh of its lists. One at a time per shop."""
    settings = settings or get_settings()
    if not tasks.claim_training(settings.redis_url, shop_id):
        return {"shop_id": shop_id, "trained": False, "busy": True}
    try:
        return _train(shop_id, settings)
    finally:
        tasks.training_done(settings.redis_url, shop_id)


def _train(shop_id: int, settings: Settings) -> dict[str, Any]:
    engine = get_engine(settings.database_url)
    with Session(engine) as session:  # read, then train outside any transaction
        if session.get(Shop, shop_id) is None:
            return {"shop_id": shop_id, "trained": False}
        trained_at = utcnow()
        stamp = history_stamp(session, shop_id)
        if stamp == stored_stamp(session, shop_id):  # the same history: the stored ranker is this training's
            return {"shop_id": shop_id, "trained": False, "unchanged": True}
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
                params={**recommender.params(), "seconds": seconds, "history": stamp},
            )
            session.commit()
            if row is None:
                return {}
            return {"version": row.version, "orders": row.orders, "bytes": row.size_bytes}

    saved = retry_lost_race(store)
    if not saved:  # a training that started after this one was stored first
        return {"shop_id": shop_id, "trained": False, "superseded": True}
    tasks.refresh_personal_lists(settings.redis_url, shop_id)  # after the commit: with the new ranker
    log.info(
        "ranker: shop %s, %s v%s in %.1f s (%s)", shop_id, ranker.kind, saved["version"], seconds, ranker.why
    )
    return {"shop_id": shop_id, "trained": True, "kind": ranker.kind, "why": ranker.why, **saved}


def train_all_rankers() -> int:
    """Nightly: queue a training for every installed shop (low queue). Returns how many."""
    return for_each_installed_shop(tasks.train_ranker)
