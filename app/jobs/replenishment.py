"""The replenishment oracle's worker jobs (issue 17).

- ``forecast_shop(shop_id)``: loads the shop's purchase history (``app.stores.replenishment``), calls
  ``app.recommend.replenishment.forecast_history`` (the function ``attune backtest replenishment`` measures) at
  the current time and rewrites the shop's ``replenishment_forecast`` rows. Idempotent: a rerun rewrites the same.
- ``forecast_all_shops()``: nightly, one job per installed shop.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from app import tasks
from app.config import Settings, get_settings
from app.db import get_engine, session_scope
from app.models.replenishment import ReplenishmentForecast
from app.models.shop import Shop
from app.recommend.replenishment import Forecast, forecast_history
from app.stores.replenishment import history, replace_forecasts

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _at(days: float) -> datetime:
    return EPOCH + timedelta(days=float(days))


def forecast_shop(shop_id: int, settings: Settings | None = None, now: datetime | None = None) -> int:
    """Worker job: recompute and store every forecast of the shop. Returns how many are stored."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    today = (now - EPOCH).total_seconds() / 86400.0
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        lines = history(session, shop_id)
        types = {}
        if lines.types is not None:
            types = {p: t for p, t in zip(lines.products, lines.types, strict=True) if t}
        _, fc = forecast_history(
            lines.customers, lines.products, lines.days, lines.quantities, lines.orders, today, types
        )
        stored = replace_forecasts(session, shop_id, rows(shop_id, fc, now))
        session.commit()
    log.info("replenishment: shop %s, %s forecasts", shop_id, stored)
    return stored


def rows(shop_id: int, fc: Forecast, now: datetime) -> list[ReplenishmentForecast]:
    """The forecast as table rows (pairs whose ids are not Shopify's numeric ids are left out)."""
    out = []
    for k in range(len(fc.customer)):
        if not (str(fc.customer[k]).isdigit() and str(fc.product[k]).isdigit()):
            continue
        out.append(
            ReplenishmentForecast(
                shop_id=shop_id,
                customer_shopify_id=int(fc.customer[k]),
                product_shopify_id=int(fc.product[k]),
                purchase_days=int(fc.n_days[k]),
                usual_quantity=int(fc.usual_quantity[k]),
                last_purchase_at=_at(fc.last_day[k]),
                cycle_days=round(float(fc.cycle_days[k]), 2),
                due_at=_at(fc.due_at[k]),
                due_low=_at(fc.due_low[k]),
                due_high=_at(fc.due_high[k]),
                predicted_next_at=_at(fc.predicted_next_at[k]),
                p_within_14d=round(float(fc.p_within_14d[k]), 4),
                p_within_30d=round(float(fc.p_within_30d[k]), 4),
                supply_left=round(float(fc.supply_left[k]), 3),
                p_active=round(float(fc.p_active[k]), 4),
                status=str(fc.status[k]),
                basis=str(fc.basis[k]),
                consumable=bool(fc.consumable[k]),
                computed_at=now,
            )
        )
    return out


def forecast_all_shops() -> int:
    """Nightly: queue a forecast for every installed shop (low queue). Returns how many."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        shops = session.exec(
            select(Shop.id).where(Shop.access_token_enc.is_not(None), Shop.uninstalled_at.is_(None))  # type: ignore[union-attr]
        ).all()
    return sum(tasks.forecast_replenishment(settings.redis_url, shop_id) for shop_id in shops)
