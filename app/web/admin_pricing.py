"""Embedded-admin API for the pricing agent (session token, the token's shop only).

- ``GET /api/admin/pricing?days=90``: the proof (``app.measurement.pricing``): incremental gross margin per
  eligible shopper against the no-offer control group with its interval, AOV treated vs control, discount spend
  against the weekly budget, waste, each arm, and the seed's "AOV +15–25 %" as a labelled reference; with the
  shop's settings.
- ``GET|PUT /api/admin/pricing/settings``: the offer arms, control share (≥ 10 %), weekly budget, default cost
  share, margin floor and shipping cost; under ``prices`` the price-change rules (margin floor, max step,
  cool-down days, sells in the EU). A bad value is a 422 naming it; a body that is not a JSON object, 400.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, g, jsonify, request

from app.agents.price_suggestions import RulesError, rules_json
from app.agents.pricing import PricingError, policy_json
from app.db import session_scope
from app.measurement.pricing import readout
from app.models.base import utcnow
from app.stores.prices import load_rules
from app.stores.pricing import load_policy, offer_facts, save_policy, week_spend
from app.web import settings
from app.web.admin_lift import _int_arg
from app.web.session_auth import require_session_token

bp = Blueprint("admin_pricing", __name__)

MAX_DAYS = 365
DEFAULT_DAYS = 90


@bp.get("/api/admin/pricing")
@require_session_token
def pricing() -> Any:
    days = _int_arg("days", DEFAULT_DAYS, MAX_DAYS)
    if days is None:
        return jsonify(error="invalid_window", message=f"days is a whole number 1..{MAX_DAYS}"), 400
    now = utcnow()
    since = now - timedelta(days=days)
    with session_scope(settings().database_url) as session:
        shop_id = g.shop.id
        policy = load_policy(session, shop_id)
        facts = offer_facts(session, shop_id, since)
        spend = week_spend(session, shop_id, now)
    body = readout(facts, budget=policy.weekly_budget, week_spend=spend, now=now)
    return jsonify({**body, "days": days, "since": since.isoformat(), "settings": policy_json(policy)})


@bp.get("/api/admin/pricing/settings")
@require_session_token
def get_settings() -> Any:
    with session_scope(settings().database_url) as session:
        policy, rules = load_policy(session, g.shop.id), load_rules(session, g.shop.id)
    return jsonify({**policy_json(policy), "prices": rules_json(rules)})


@bp.put("/api/admin/pricing/settings")
@require_session_token
def put_settings() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="invalid_body", message="send a JSON object of settings"), 400
    try:
        with session_scope(settings().database_url) as session:
            policy = save_policy(session, g.shop.id, body)
            session.flush()
            rules = load_rules(session, g.shop.id)
    except (PricingError, RulesError) as exc:
        return jsonify(error="invalid_settings", message=str(exc)), 422
    return jsonify({**policy_json(policy), "prices": rules_json(rules)})
