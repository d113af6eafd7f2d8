"""Embedded-admin proof of the replenishment agent: ``GET /api/admin/replenishment?days=180`` for the
authenticated shop only: repeat purchase (30/60/90 days) and replenishment rates of the shoppers it decided on
in the last ``days``, treated vs holdout, with the incremental difference and its interval
(``app.measurement.replenishment``), and the seed's figures as labelled references."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, g, jsonify, request

from app.db import session_scope
from app.measurement.replenishment import readout
from app.models.base import utcnow
from app.stores.replenishment import product_purchases, reminders
from app.stores.replenishment_supplies import delivery_time, save_delivery_days
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_replenishment", __name__)

DEFAULT_DAYS = 180
MAX_DAYS = 730


@bp.get("/api/admin/replenishment")
@require_session_token
def replenishment() -> Any:
    """The replenishment agent's repeat purchase and replenishment rates against its holdout."""
    raw = (request.args.get("days") or str(DEFAULT_DAYS)).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        return jsonify(error="invalid_days", message=f"days is a whole number 1..{MAX_DAYS}"), 400
    now = utcnow()
    since = now - timedelta(days=int(raw))
    with session_scope(settings().database_url) as session:
        found = reminders(session, g.shop.id, since)
        bought = product_purchases(session, g.shop.id, sorted({r.shopper for r in found}), since)
    return jsonify({"agent": "replenishment", "days": int(raw), **readout(found, bought, now)})


MAX_DELIVERY_DAYS = 60


@bp.get("/api/admin/replenishment/settings")
@require_session_token
def replenishment_settings() -> Any:
    """The shop's replenishment settings: its delivery time in days."""
    with session_scope(settings().database_url) as session:
        delivery = delivery_time(session, g.shop.id)
    return jsonify({"delivery_days": delivery.days})


@bp.put("/api/admin/replenishment/settings")
@require_session_token
def save_replenishment_settings() -> Any:
    """Set the delivery time: ``{"delivery_days": 0..60}``; anything else is 422 with the field named."""
    body = request.get_json(silent=True)
    days = body.get("delivery_days") if isinstance(body, dict) else None
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DELIVERY_DAYS:
        return jsonify(
            error="invalid_settings",
            field="delivery_days",
            message=f"delivery_days is a whole number of days, 0..{MAX_DELIVERY_DAYS}",
        ), 422
    with session_scope(settings().database_url) as session:
        save_delivery_days(session, g.shop.id, days)
    return jsonify({"delivery_days": days})
