"""In-session rescue's per-shop risk layer as RQ jobs: nightly, each installed shop's sessions of the last 90
days whose 7-day window has closed and which saw no nudge (held out, or never decided on) train the shop's
layer over the global one (``app.modelling.hesitation.ShopRiskLayer``); the nudge endpoint reads it (cached
briefly per process). With no sessions the layer stays the global prior. Every minute, the live sessions that
changed in Redis are upserted into the database (``persist_live_sessions``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app import tasks
from app.config import get_settings
from app.db import session_scope
from app.jobs.fan_out import for_each_installed_shop
from app.modelling.hesitation import Hesitation, ShopRiskLayer
from app.models.base import utcnow
from app.queue import get_redis
from app.stores.nudge import save_risk_layer
from app.stores.nudge_live import persist, take_dirty
from app.stores.nudge_outcomes import WINDOW, converted, untreated_sessions

HISTORY = timedelta(days=90)
MIN_SESSIONS = 50


def fit_nudge_risk(shop_id: int, now: datetime | None = None) -> dict[str, Any]:
    """RQ job: fit and save the shop's risk layer from its untreated sessions."""
    now = now or utcnow()
    with session_scope(get_settings().database_url) as session:
        rows = untreated_sessions(session, shop_id, now - HISTORY, now - WINDOW)
        if len(rows) < MIN_SESSIONS:
            return {"shop_id": shop_id, "sessions": len(rows), "fitted": False}
        bought = converted(session, shop_id, rows)
        intents = [r.features.get("intent") for r in rows]
        features = [Hesitation.from_dict(r.features) for r in rows]
        abandoned = [0 if r.id in bought else 1 for r in rows]
        layer = ShopRiskLayer.fit(intents, features, abandoned)
        save_risk_layer(session, shop_id, layer.to_dict())
    return {"shop_id": shop_id, "sessions": len(rows), "fitted": True, "abandoned": sum(abandoned)}


def persist_live_sessions(limit: int = 2000) -> int:
    """Every minute: upsert the live sessions that changed since the last run into ``nudge_session``."""
    settings = get_settings()
    if not settings.redis_url:
        return 0
    rows = take_dirty(get_redis(settings.redis_url), limit)
    with session_scope(settings.database_url) as session:
        return persist(session, rows)


def fit_all_nudge_risk() -> int:
    """Nightly: queue a fit for every installed shop (low queue). Returns how many."""
    return for_each_installed_shop(tasks.fit_nudge_risk)
