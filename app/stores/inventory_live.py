"""The inventory agent's per-location forecasts, forecast snapshots, alert episodes and preferences (issue 19).

Every query is scoped by ``shop_id``. Alert episodes make the alerts idempotent and quiet: a variant's episode
opens the first night its cover falls below lead time + review period and closes the first night it no longer
does; one that closed less than ``REOPEN_DAYS`` ago is reopened rather than started anew (a variant hovering at
the threshold alerts once, not every other night), and each episode is e-mailed and fired to Flow at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import numpy as np
from sqlmodel import Session, delete, select

from app.modelling.inventory_live import OVERSTOCK_COVER_DAYS, Snapshot
from app.models.commerce import ProductVariant
from app.models.inventory import (
    DemandForecast,
    DemandForecastLocation,
    DemandSnapshot,
    InventoryAlert,
    InventoryLocationSetting,
    InventoryPreference,
)
from app.stores.inventory import daily_units, stock_by_day

SNAPSHOT_EVERY_DAYS = 7
SNAPSHOT_KEEP_DAYS = 182
REOPEN_DAYS = 7


def replace_location_forecasts(session: Session, shop_id: int, rows: Iterable[DemandForecastLocation]) -> int:
    session.exec(delete(DemandForecastLocation).where(DemandForecastLocation.shop_id == shop_id))  # type: ignore[call-overload]
    rows = [r for r in rows if r.shop_id == shop_id]
    session.add_all(rows)
    return len(rows)


def location_forecasts(session: Session, shop_id: int) -> dict[int, list[DemandForecastLocation]]:
    """Variant → its per-location rows (shops with several locations only), alerts first."""
    out: dict[int, list[DemandForecastLocation]] = {}
    rows = session.exec(select(DemandForecastLocation).where(DemandForecastLocation.shop_id == shop_id)).all()
    for r in sorted(rows, key=lambda r: (not r.alert, r.days_of_cover, r.location_id)):
        out.setdefault(r.variant_shopify_id, []).append(r)
    return out


def snapshot_due(session: Session, shop_id: int, today: date) -> bool:
    """True when the shop's newest snapshot is at least ``SNAPSHOT_EVERY_DAYS`` old (or there is none)."""
    latest = session.exec(
        select(DemandSnapshot.origin)
        .where(DemandSnapshot.shop_id == shop_id)
        .order_by(DemandSnapshot.origin.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).first()
    return latest is None or (today - latest).days >= SNAPSHOT_EVERY_DAYS or latest == today


def store_snapshot(session: Session, shop_id: int, today: date, rows: Sequence[DemandSnapshot]) -> int:
    """Keep today's served forecasts (replacing a same-day rerun's) and drop those older than
    ``SNAPSHOT_KEEP_DAYS``. Returns how many are stored."""
    session.exec(
        delete(DemandSnapshot).where(  # type: ignore[call-overload]
            DemandSnapshot.shop_id == shop_id,
            (DemandSnapshot.origin == today)
            | (DemandSnapshot.origin < today - timedelta(days=SNAPSHOT_KEEP_DAYS)),
        )
    )
    rows = [r for r in rows if r.shop_id == shop_id]
    session.add_all(rows)
    return len(rows)


def snapshots(session: Session, shop_id: int, since: date, before: date) -> list[DemandSnapshot]:
    return list(
        session.exec(
            select(DemandSnapshot).where(
                DemandSnapshot.shop_id == shop_id,
                DemandSnapshot.origin >= since,
                DemandSnapshot.origin < before,
            )
        ).all()
    )


def location_policies(session: Session, shop_id: int) -> dict[int, InventoryLocationSetting]:
    """Location → the merchant's lead time, review period and service level there (where set)."""
    rows = session.exec(
        select(InventoryLocationSetting).where(InventoryLocationSetting.shop_id == shop_id)
    ).all()
    return {r.location_id: r for r in rows}


def save_location_setting(
    session: Session,
    shop_id: int,
    location_id: int,
    lead_time_days: int,
    review_days: int,
    service_level: float,
) -> InventoryLocationSetting:
    row = session.exec(
        select(InventoryLocationSetting).where(
            InventoryLocationSetting.shop_id == shop_id, InventoryLocationSetting.location_id == location_id
        )
    ).first() or InventoryLocationSetting(shop_id=shop_id, location_id=location_id)
    row.lead_time_days, row.review_days, row.service_level = lead_time_days, review_days, service_level
    session.add(row)
    return row


def preference(session: Session, shop_id: int) -> InventoryPreference:
    """The shop's switches (the defaults, unsaved, when it never set them)."""
    row = session.exec(select(InventoryPreference).where(InventoryPreference.shop_id == shop_id)).first()
    return row or InventoryPreference(shop_id=shop_id)


def save_preference(session: Session, shop_id: int, **values: bool) -> InventoryPreference:
    row = session.exec(
        select(InventoryPreference).where(InventoryPreference.shop_id == shop_id)
    ).first() or InventoryPreference(shop_id=shop_id)
    for name, value in values.items():
        setattr(row, name, bool(value))
    session.add(row)
    return row


def overstocked(session: Session, shop_id: int, variant_ids: Iterable[int]) -> set[int]:
    """Variants the latest forecast sees overstocked (``app.modelling.inventory_live.is_overstocked``), when the
    merchant chose to favour them; empty otherwise."""
    ids = sorted({int(v) for v in variant_ids})
    if not ids or not preference(session, shop_id).favour_overstock:
        return set()
    rows = session.exec(
        select(DemandForecast.variant_shopify_id).where(
            DemandForecast.shop_id == shop_id,
            DemandForecast.variant_shopify_id.in_(ids),  # type: ignore[attr-defined]
            DemandForecast.on_hand > 0,
            DemandForecast.on_hand > DemandForecast.order_up_to,
            DemandForecast.days_of_cover >= OVERSTOCK_COVER_DAYS,
        )
    ).all()
    return set(rows)


def sync_alerts(session: Session, shop_id: int, today: date) -> list[InventoryAlert]:
    """Open, reopen and close the shop's alert episodes from its current forecasts (no commit). Returns the open
    episodes, each with its latest cover, stock-out date and order."""
    alerting = {
        r.variant_shopify_id: r
        for r in session.exec(
            select(DemandForecast).where(
                DemandForecast.shop_id == shop_id,
                DemandForecast.alert.is_(True),  # type: ignore[attr-defined]
            )
        ).all()
    }
    episodes = session.exec(
        select(InventoryAlert)
        .where(InventoryAlert.shop_id == shop_id)
        .order_by(InventoryAlert.opened_on.desc())  # type: ignore[attr-defined]
    ).all()
    latest: dict[int, InventoryAlert] = {}
    for e in episodes:
        latest.setdefault(e.variant_shopify_id, e)
    for variant, e in latest.items():
        if e.closed_on is None and variant not in alerting:
            e.closed_on = today
            session.add(e)
    out = []
    for variant, f in alerting.items():
        e = latest.get(variant)
        if e is not None and e.closed_on is not None and (today - e.closed_on).days < REOPEN_DAYS:
            e.closed_on = None  # hovering at the threshold: the same episode, already announced
        elif e is None or e.closed_on is not None:
            e = InventoryAlert(
                shop_id=shop_id,
                variant_shopify_id=variant,
                product_shopify_id=f.product_shopify_id,
                opened_on=today,
            )
        e.days_of_cover, e.stockout_p50, e.suggested_order = (
            f.days_of_cover,
            f.stockout_p50,
            f.suggested_order,
        )
        session.add(e)
        out.append(e)
    return out


def open_alerts(session: Session, shop_id: int) -> list[InventoryAlert]:
    return list(
        session.exec(
            select(InventoryAlert).where(
                InventoryAlert.shop_id == shop_id,
                InventoryAlert.closed_on.is_(None),  # type: ignore[union-attr]
            )
        ).all()
    )


def accuracy_pairs(
    session: Session, shop_id: int, today: date, weeks: int, horizon: int = 28
) -> list[tuple[Snapshot, np.ndarray]]:
    """Each snapshot of the last ``weeks`` weeks (before today) with the units sold on each full day since its
    origin (at most ``horizon``), ``NaN`` on days the item ended out of stock and sold nothing (censored)."""
    since = today - timedelta(days=7 * weeks)
    snaps = snapshots(session, shop_id, since, today)
    if not snaps:
        return []
    start = min(s.origin for s in snaps)
    units = daily_units(session, shop_id, start, today)
    items = dict(
        session.exec(
            select(ProductVariant.shopify_id, ProductVariant.inventory_item_id).where(
                ProductVariant.shop_id == shop_id,
                ProductVariant.shopify_id.in_(sorted({s.variant_shopify_id for s in snaps})),  # type: ignore[attr-defined]
            )
        ).all()
    )
    stock = stock_by_day(session, shop_id, [i for i in items.values() if i], start, today)
    width = (today - start).days
    out = []
    for s in snaps:
        sold = units.get(s.variant_shopify_id, np.zeros(width)).astype(float)
        level = stock.get(items.get(s.variant_shopify_id) or -1)
        if level is not None:
            sold[(np.nan_to_num(level, nan=1.0) <= 0) & (sold <= 0)] = np.nan
        k = (s.origin - start).days
        daily = np.array([float(x) for x in s.daily.split(",") if x], dtype=float)
        out.append((Snapshot(s.origin, daily, s.naive, s.scale), sold[k : k + horizon]))
    return out
