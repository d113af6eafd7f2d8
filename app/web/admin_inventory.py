"""Embedded-admin inventory (issue 19), for the authenticated shop only:

- ``GET /api/admin/inventory[?vendor=V]``: each variant's forecast (28-day units), stock-out date with its
  10–90 % range, days of cover, reorder point, suggested order and alert, alerts first; the settings per vendor.
- ``GET /api/admin/inventory/reorder.csv?vendor=V``: what to order from one vendor, as CSV.
- ``GET /api/admin/inventory/back-in-stock``: per variant, the "notify me" requests waiting, told, held out,
  suppressed and expired, how many of the told bought it (``converted``) and the conversion rate, with totals.
- ``GET /api/admin/inventory/accuracy[?weeks=12]``: live accuracy, the weekly snapshots of the served forecasts
  against what sold since (MAE and RMSSE beside the naive baseline's, per origin and over all).
- ``PUT /api/admin/inventory/preferences``: ``{"favour_overstock": false, "alert_email": true, "alert_flow": true}``.
- ``PUT /api/admin/inventory/settings``: ``{"vendor": "", "lead_time_days": 14, "review_days": 7,
  "service_level": 0.95}`` ('' = the shop's default), or ``{"location_id": 123, ...}`` for one location's own
  decisions; a bad value is a 400 with the reason.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from app.db import session_scope
from app.modelling.inventory import InventoryInputError, Policy
from app.modelling.inventory_live import Score, accuracy
from app.models.inventory import DemandForecast, DemandForecastLocation
from app.stores.back_in_stock_batches import stats as back_in_stock_stats
from app.stores.inventory import forecasts, policies, save_setting
from app.stores.inventory_live import (
    accuracy_pairs,
    location_forecasts,
    location_policies,
    open_alerts,
    preference,
    save_location_setting,
    save_preference,
)
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_inventory", __name__)

FIELDS = [
    "variant_shopify_id", "product_shopify_id", "title", "sku", "vendor", "method", "basis", "censored_days",
    "on_hand", "units_28d", "days_of_cover", "reorder_point", "order_up_to", "suggested_order", "alert",
]  # fmt: skip


def _row(r: DemandForecast) -> dict[str, Any]:
    out = {f: getattr(r, f) for f in FIELDS}
    for f in ("stockout_p10", "stockout_p50", "stockout_p90"):
        value = getattr(r, f)
        out[f] = value.isoformat() if value else None
    out["computed_at"] = r.computed_at.isoformat()
    return out


def _located(r: DemandForecastLocation) -> dict[str, Any]:
    out = {f: getattr(r, f) for f in LOCATION_FIELDS}
    for f in ("stockout_p10", "stockout_p50", "stockout_p90"):
        value = getattr(r, f)
        out[f] = value.isoformat() if value else None
    return out


PREFERENCES = ("favour_overstock", "alert_email", "alert_flow")
LOCATION_FIELDS = [
    "location_id", "share", "on_hand", "units_28d", "days_of_cover", "reorder_point", "suggested_order", "alert",
]  # fmt: skip


def _vendor() -> str | None:
    vendor = request.args.get("vendor")
    return None if vendor is None else vendor.strip()[:255]


@bp.get("/api/admin/inventory")
@require_session_token
def inventory() -> Any:
    """The shop's demand forecasts and reorder decisions, alerts first."""
    with session_scope(settings().database_url) as session:
        rows = forecasts(session, g.shop.id, _vendor())
        stored = policies(session, g.shop.id)
        located = location_forecasts(session, g.shop.id)
        pref = preference(session, g.shop.id)
        at_locations = location_policies(session, g.shop.id)
        episodes = {e.variant_shopify_id: e for e in open_alerts(session, g.shop.id)}
    default = Policy()
    variants = []
    for r in rows:
        row = _row(r)
        row["locations"] = [_located(x) for x in located.get(r.variant_shopify_id, [])]
        e = episodes.get(r.variant_shopify_id)
        row["alert_since"] = e.opened_on.isoformat() if e else None
        row["alert_emailed"] = bool(e and e.emailed_at)
        row["alert_flow"] = bool(e and e.flow_at)
        variants.append(row)
    return jsonify(
        {
            "variants": variants,
            "alerts": sum(r.alert for r in rows),
            "preferences": {p: getattr(pref, p) for p in PREFERENCES},
            "defaults": {
                "lead_time_days": default.lead_time_days,
                "review_days": default.review_days,
                "service_level": default.service_level,
            },
            "settings": [
                {
                    "vendor": s.vendor,
                    "lead_time_days": s.lead_time_days,
                    "review_days": s.review_days,
                    "service_level": s.service_level,
                }
                for s in stored.values()
            ],
            "location_settings": [
                {
                    "location_id": s.location_id,
                    "lead_time_days": s.lead_time_days,
                    "review_days": s.review_days,
                    "service_level": s.service_level,
                }
                for s in at_locations.values()
            ],
        }
    )


@bp.get("/api/admin/inventory/reorder.csv")
@require_session_token
def reorder_csv() -> Any:
    """What to order from one vendor (``vendor`` required, '' for variants without one)."""
    vendor = _vendor()
    if vendor is None:
        return jsonify(error="missing_vendor", message="vendor is required ('' for no vendor)"), 400
    with session_scope(settings().database_url) as session:
        rows = [r for r in forecasts(session, g.shop.id, vendor) if r.suggested_order > 0]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["sku", "title", "variant_id", "on_hand", "reorder_point", "suggested_order", "stockout_date"]
    )
    for r in rows:
        writer.writerow(
            [r.sku or "", r.title, r.variant_shopify_id, r.on_hand, r.reorder_point, r.suggested_order,
             r.stockout_p50.isoformat() if r.stockout_p50 else ""]
        )  # fmt: skip
    name = "".join(c if c.isalnum() else "-" for c in vendor) or "no-vendor"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="reorder-{name}.csv"'},
    )


@bp.put("/api/admin/inventory/settings")
@require_session_token
def put_settings() -> Any:
    """Lead time, review period and service level for one vendor ('' = the shop's default), or for one location
    (``location_id``: its per-location decisions use them instead of the vendor's)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="invalid_body", message="send a JSON object"), 400
    location = body.get("location_id")
    if location is not None and (
        isinstance(location, bool) or not isinstance(location, int) or location <= 0
    ):
        return jsonify(
            error="invalid_location", message="location_id is a Shopify location id (a whole number)"
        ), 400
    if location is not None and "vendor" in body:
        return jsonify(error="invalid_setting", message="send either vendor or location_id, not both"), 400
    vendor = body.get("vendor", "")
    if not isinstance(vendor, str) or len(vendor) > 255:
        return jsonify(error="invalid_vendor", message="vendor is a string of at most 255 characters"), 400
    try:
        lead, review, level = (
            body.get("lead_time_days", 14),
            body.get("review_days", 7),
            body.get("service_level", 0.95),
        )
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (lead, review)):
            raise InventoryInputError("lead_time_days and review_days are whole numbers of days")
        if isinstance(level, bool) or not isinstance(level, int | float):
            raise InventoryInputError("service_level is a number such as 0.95")
        policy = Policy(lead, review, float(level))
    except InventoryInputError as exc:
        return jsonify(error="invalid_setting", message=str(exc)), 400
    numbers = (policy.lead_time_days, policy.review_days, policy.service_level)
    with session_scope(settings().database_url) as session:
        if location is not None:
            save_location_setting(session, g.shop.id, location, *numbers)
        else:
            save_setting(session, g.shop.id, vendor.strip(), *numbers)
    where = {"location_id": location} if location is not None else {"vendor": vendor.strip()}
    return jsonify(**where, lead_time_days=lead, review_days=review, service_level=float(level))


def _score(s: Score | None) -> dict[str, Any] | None:
    if s is None:
        return None
    out = {k: getattr(s, k) for k in ("items", "days", "sold", "forecast", "mae", "mae_naive", "rmsse",
                                      "rmsse_naive")}  # fmt: skip
    out["origin"] = s.origin.isoformat()
    return out


@bp.get("/api/admin/inventory/accuracy")
@require_session_token
def live_accuracy() -> Any:
    """The served forecasts of the last ``weeks`` weeks (1–26, default 12) against what sold, beside naive."""
    raw = request.args.get("weeks", "12")
    if not raw.isdigit() or not 1 <= int(raw) <= 26:
        return jsonify(error="invalid_weeks", message="weeks is a whole number from 1 to 26"), 400
    today = datetime.now(UTC).date()
    with session_scope(settings().database_url) as session:
        pairs = accuracy_pairs(session, g.shop.id, today, int(raw))
    weekly, overall = accuracy(pairs)
    return jsonify(weeks=int(raw), origins=[_score(s) for s in weekly], overall=_score(overall))


@bp.put("/api/admin/inventory/preferences")
@require_session_token
def put_preferences() -> Any:
    """Favour overstocked items in lists; e-mail and Flow stock-out alerts (each true or false)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body:
        return jsonify(error="invalid_body", message="send a JSON object of preferences"), 400
    unknown = sorted(set(body) - set(PREFERENCES))
    if unknown:
        return jsonify(error="unknown_preference", message=f"unknown: {', '.join(unknown)}"), 400
    if not all(isinstance(v, bool) for v in body.values()):
        return jsonify(error="invalid_preference", message="each preference is true or false"), 400
    with session_scope(settings().database_url) as session:
        row = save_preference(session, g.shop.id, **body)
        out = {p: getattr(row, p) for p in PREFERENCES}
    return jsonify(out)


@bp.get("/api/admin/inventory/back-in-stock")
@require_session_token
def back_in_stock() -> Any:
    """The shop's back-in-stock requests per variant and the conversion rate of the messages sent."""
    with session_scope(settings().database_url) as session:
        rows = back_in_stock_stats(session, g.shop.id)
    told = sum(int(r["notified"]) for r in rows)
    converted = sum(int(r["converted"]) for r in rows)
    totals = {
        "waiting": sum(int(r["waiting"]) for r in rows),
        "notified": told,
        "held_out": sum(int(r["held_out"]) for r in rows),
        "converted": converted,
        "conversion_rate": round(converted / told, 4) if told else None,
    }
    return jsonify({"variants": rows, "totals": totals})
