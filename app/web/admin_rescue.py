"""Embedded-admin proof for checkout rescue: ``GET /api/admin/rescue?window_days=7&days=90`` (session token,
the token's shop only).

Abandoned-checkout recovery rate (share of the agent's checkouts whose customer ordered within the window) for
treated and held-out checkouts (guests' checkouts too, matched to orders by address, or by number for a
phone-only checkout), the incremental difference with its 95 % interval, incremental revenue (orders' totals
after discounts), each timing arm (1 h / 24 h / 72 h) with its own holdout, the market's published figures
labelled as such, and the strategic-abandonment guardrail (customers' and guests' orders). Reads through ``app.stores.rescue``; the
figures come from ``app.measurement.rescue`` (the same lift statistics as every agent).

``in_session``: in-session rescue's recovery (``app.measurement.nudge``): the share of at-risk sessions the nudge
decided on that converted within the window, treated vs held out, with the 95 % interval, overall and per rung.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, g, jsonify

from app.db import session_scope
from app.measurement.lift import DEFAULT_WINDOW_DAYS
from app.measurement.nudge import in_session_readout
from app.measurement.rescue import readout
from app.models.base import utcnow
from app.stores.nudge_outcomes import in_session_exposures
from app.stores.rescue import checkout_exposures, first_decision_at, orders_since
from app.web import settings
from app.web.admin_lift import _int_arg
from app.web.session_auth import require_session_token

bp = Blueprint("admin_rescue", __name__)

MAX_WINDOW_DAYS = 30
MAX_DAYS = 365
DEFAULT_DAYS = 90


@bp.get("/api/admin/rescue")
@require_session_token
def rescue() -> Any:
    window_days = _int_arg("window_days", DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS)
    days = _int_arg("days", DEFAULT_DAYS, MAX_DAYS)
    if window_days is None or days is None:
        message = f"window_days is a whole number 1..{MAX_WINDOW_DAYS}, days 1..{MAX_DAYS}"
        return jsonify(error="invalid_window", message=message), 400
    now = utcnow()
    since = now - timedelta(days=days)
    with session_scope(settings().database_url) as session:
        shop_id = g.shop.id
        exposures = checkout_exposures(session, shop_id, since)
        orders = orders_since(session, shop_id, since)  # customers' and guests'
        launch = first_decision_at(session, shop_id)
        sessions, bought = in_session_exposures(session, shop_id, since)
    body = readout(exposures, orders, launch=launch, window_days=window_days, now=now)
    body["in_session"] = in_session_readout(sessions, bought, window_days=window_days, now=now)
    return jsonify({**body, "days": days, "since": since.isoformat()})
