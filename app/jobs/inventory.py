"""The inventory agent's nightly job (issue 19).

- ``forecast_shop(shop_id)``: each variant's daily units over the last ``HISTORY_DAYS`` (``app.stores.inventory``),
  days at zero stock without a sale censored (``NaN``: unknown demand, not zero), forecast by
  ``app.modelling.demand.forecast`` (the function ``attune backtest demand`` measures), bootstrapped paths, and the
  decisions of ``app.modelling.inventory.decide`` under the vendor's settings; the shop's ``demand_forecast`` rows
  are rewritten. A variant with one sale day ever gets its product's forecast shared over its variants, flagged
  ``basis = product_prior``; when none of its product's variants sold on two days or more, the mean forecast of
  its category's (product type's) variants that did, flagged ``basis = category_prior``. Idempotent: a rerun on the same day rewrites the same rows. Where an item is stocked
  at several locations, each location gets its own forecast and decisions (``plan_locations``: the variant's
  units times the location's share, censored by the location's own stock, through the same ``forecast``). Once
  a week the served forecasts are kept as a snapshot for the admin's live accuracy; then the alert job is queued.
- ``forecast_all_shops()``: nightly (cron), one job per installed shop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlmodel import Session

from app import tasks
from app.config import Settings, get_settings
from app.db import get_engine, session_scope
from app.modelling.demand import Config, demand_paths, forecast
from app.modelling.inventory import MAX_STOCK, Policy, decide
from app.modelling.inventory_live import location_shares, naive_level, naive_scale
from app.models.inventory import (
    DemandForecast,
    DemandForecastLocation,
    DemandSnapshot,
    InventoryLocationSetting,
    InventorySetting,
)
from app.stores.inventory import (
    VariantInfo,
    daily_units,
    location_levels,
    policies,
    replace_forecasts,
    stock_by_day,
    stock_by_location,
    variants,
)
from app.stores.inventory_live import (
    location_policies,
    replace_location_forecasts,
    snapshot_due,
    store_snapshot,
)
from app.stores.shops import installed_shop_ids

log = logging.getLogger(__name__)
HISTORY_DAYS = 365
EPOCH = date(1970, 1, 1)
Progress = Callable[[int, int], None]


def censored_series(units: np.ndarray, stock: np.ndarray | None) -> np.ndarray:
    """Units with the days that ended out of stock and sold nothing marked unknown (``NaN``)."""
    out = units.astype(float).copy()
    if stock is not None:
        out[(np.nan_to_num(stock, nan=1.0) <= 0) & (units <= 0)] = np.nan
    return out


def _from_first_sale(y: np.ndarray) -> np.ndarray:
    sold = np.flatnonzero(np.nan_to_num(y) > 0)
    return y[sold[0] :] if len(sold) else y[:0]


def _policy(
    settings: dict[str, InventorySetting], vendor: str, at: InventoryLocationSetting | None = None
) -> Policy:
    """The location's settings where the merchant set them, else the vendor's, else the shop's default."""
    row = at or settings.get(vendor) or settings.get("")
    if row is None:
        return Policy()
    return Policy(row.lead_time_days, row.review_days, row.service_level)


def _prior(
    k: int, infos: list[VariantInfo], mean: np.ndarray, sale_days: list[int], by_product: dict[int, list[int]]
) -> tuple[np.ndarray, str]:
    """The forecast a variant with one sale day ever borrows: its product's, shared over its variants, when a
    variant of the product has a history (two sale days or more); else its category's mean over the variants
    that have one; else its product's (its own) all the same."""
    siblings = by_product[infos[k].product_id]
    category = infos[k].product_type
    peers = [j for j, v in enumerate(infos) if category and v.product_type == category and sale_days[j] >= 2]
    if peers and not any(sale_days[j] >= 2 for j in siblings):
        return mean[peers].mean(axis=0), "category_prior"
    return mean[siblings].sum(axis=0) / len(siblings), "product_prior"


def plan_shop(
    shop_id: int,
    infos: list[VariantInfo],
    units: dict[int, np.ndarray],
    stock: dict[int, np.ndarray],
    settings: dict[str, InventorySetting],
    today: date,
    now: datetime,
    progress: Progress | None = None,
) -> list[DemandForecast]:
    """The shop's rows from loaded history (pure apart from building rows; the job and the tests call it)."""
    cfg = Config()
    origin = (today - EPOCH).days
    width = HISTORY_DAYS
    full = {
        v.variant_id: censored_series(
            units.get(v.variant_id, np.zeros(width)), stock.get(v.inventory_item_id or -1)
        )
        for v in infos
    }
    series = [_from_first_sale(full[v.variant_id]) for v in infos]
    fc = forecast(series, origin, cfg)
    sale_days = [int(np.sum(np.nan_to_num(y) > 0)) for y in series]
    by_product: dict[int, list[int]] = {}
    for k, v in enumerate(infos):
        by_product.setdefault(v.product_id, []).append(k)
    rows = []
    for k, v in enumerate(infos):
        mean, basis, method = fc.mean[k], "history", fc.method[k]
        if sale_days[k] == 0:
            basis, method = "none", "none"
        elif sale_days[k] == 1:
            mean, basis = _prior(k, infos, fc.mean, sale_days, by_product)
        paths = demand_paths(series[k], mean, seed=v.variant_id % (2**32))
        policy = _policy(settings, v.vendor)
        if v.on_hand is None:  # untracked: never runs out, nothing to reorder (stored as 0 on hand)
            d = replace(decide(MAX_STOCK, mean, paths, policy), on_hand=0)
        else:
            d = decide(v.on_hand, mean, paths, policy)
        censored = int(np.isnan(full[v.variant_id]).sum())
        rows.append(
            DemandForecast(
                shop_id=shop_id,
                variant_shopify_id=v.variant_id,
                product_shopify_id=v.product_id,
                title=v.title,
                sku=v.sku,
                vendor=v.vendor,
                method=method,
                basis=basis,
                censored_days=censored,
                on_hand=d.on_hand,
                units_28d=round(float(mean.sum()), 3),
                daily=",".join(f"{x:.3f}" for x in mean),
                days_of_cover=d.days_of_cover,
                lead_time_days=policy.lead_time_days,
                stockout_p10=_date(today, d.stockout_day_p10, len(mean)),
                stockout_p50=_date(today, d.stockout_day_p50, len(mean)),
                stockout_p90=_date(today, d.stockout_day_p90, len(mean)),
                reorder_point=d.reorder_point,
                order_up_to=d.order_up_to,
                suggested_order=d.suggested_order,
                alert=d.alert,
                computed_at=now,
            )
        )
        if progress is not None:
            progress(k + 1, len(infos))
    return rows


def plan_locations(
    shop_id: int,
    infos: list[VariantInfo],
    units: dict[int, np.ndarray],
    stock: dict[tuple[int, int], np.ndarray],
    levels: dict[int, dict[int, int]],
    settings: dict[str, InventorySetting],
    today: date,
    now: datetime,
    at: dict[int, InventoryLocationSetting] | None = None,
) -> list[DemandForecastLocation]:
    """Per-location rows for the variants whose item is stocked at two or more locations."""
    keys: list[tuple[VariantInfo, int, float, int]] = []
    series = []
    by_item: dict[int, dict[int, np.ndarray]] = {}
    for (i, loc), s in stock.items():
        by_item.setdefault(i, {})[loc] = s
    for v in infos:
        item = v.inventory_item_id
        on_hand = levels.get(item or -1, {})
        if item is None or len(on_hand) < 2:
            continue
        by_loc = by_item.get(item, {})
        total = units.get(v.variant_id, np.zeros(HISTORY_DAYS))
        for loc, share in location_shares(by_loc, on_hand).items():
            series.append(_from_first_sale(censored_series(total * share, by_loc.get(loc))))
            keys.append((v, loc, share, on_hand.get(loc, 0)))
    if not keys:
        return []
    fc = forecast(series, (today - EPOCH).days, Config())
    rows = []
    for k, (v, loc, share, on_hand) in enumerate(keys):
        mean = fc.mean[k]
        paths = demand_paths(series[k], mean, seed=(v.variant_id + loc) % (2**32))
        d = decide(on_hand, mean, paths, _policy(settings, v.vendor, (at or {}).get(loc)))
        rows.append(
            DemandForecastLocation(
                shop_id=shop_id, variant_shopify_id=v.variant_id, location_id=loc, share=round(share, 4),
                on_hand=d.on_hand, units_28d=round(float(mean.sum()), 3), days_of_cover=d.days_of_cover,
                stockout_p10=_date(today, d.stockout_day_p10, len(mean)),
                stockout_p50=_date(today, d.stockout_day_p50, len(mean)),
                stockout_p90=_date(today, d.stockout_day_p90, len(mean)),
                reorder_point=d.reorder_point, suggested_order=d.suggested_order, alert=d.alert, computed_at=now,
            )
        )  # fmt: skip
    return rows


def snapshot_rows(
    shop_id: int,
    infos: list[VariantInfo],
    units: dict[int, np.ndarray],
    stock: dict[int, np.ndarray],
    rows: list[DemandForecast],
    today: date,
) -> list[DemandSnapshot]:
    """The served forecasts to score later, each with the naive baseline's level and its RMSSE scale."""
    by_variant = {r.variant_shopify_id: r for r in rows if r.basis != "none"}
    out = []
    for v in infos:
        r = by_variant.get(v.variant_id)
        if r is None:
            continue
        y = censored_series(
            units.get(v.variant_id, np.zeros(HISTORY_DAYS)), stock.get(v.inventory_item_id or -1)
        )
        y = _from_first_sale(y)
        out.append(
            DemandSnapshot(
                shop_id=shop_id, variant_shopify_id=v.variant_id, origin=today, daily=r.daily,
                naive=naive_level(y), scale=naive_scale(y),
            )
        )  # fmt: skip
    return out


def _date(today: date, days: int, horizon: int) -> date | None:
    """The day the stock runs out (``days`` full days from today); None beyond the forecast."""
    return None if days >= 2 * horizon else today + timedelta(days=days)


def forecast_shop(
    shop_id: int,
    settings: Settings | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> int:
    """Worker job: recompute and store the shop's demand forecasts and decisions. Returns how many are stored."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    today = now.date()
    start = today - timedelta(days=HISTORY_DAYS)
    with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
        infos = variants(session, shop_id)
        units = daily_units(session, shop_id, start, today)
        items = [v.inventory_item_id for v in infos if v.inventory_item_id]
        stock = stock_by_day(session, shop_id, items, start, today)
        vendor_policies = policies(session, shop_id)
        rows = plan_shop(shop_id, infos, units, stock, vendor_policies, today, now, progress)
        stored = replace_forecasts(session, shop_id, rows)
        per_location = stock_by_location(session, shop_id, items, start, today)
        located = plan_locations(
            shop_id, infos, units, per_location, location_levels(session, shop_id, items), vendor_policies,
            today, now, location_policies(session, shop_id),
        )  # fmt: skip
        replace_location_forecasts(session, shop_id, located)
        if snapshot_due(session, shop_id, today):
            store_snapshot(session, shop_id, today, snapshot_rows(shop_id, infos, units, stock, rows, today))
        session.commit()
    tasks.send_inventory_alerts(settings.redis_url, shop_id)
    log.info("inventory: shop %s, %s variants forecast (%s location rows)", shop_id, stored, len(located))
    return stored


def forecast_all_shops() -> int:
    """Nightly: queue a demand forecast for every installed shop (low queue). Returns how many."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        shops = installed_shop_ids(session)
    return sum(tasks.forecast_inventory(settings.redis_url, shop_id) for shop_id in shops)
