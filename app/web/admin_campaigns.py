"""Newsletters and message variants in the embedded admin (session-token auth; every read and write the token's
shop's, another shop's campaign is 404):

- ``POST /api/admin/campaigns``: a newsletter ``{"name", "subject", "body", "products": 0..6,
  "holdout_share": 0..0.5, "wave": null | 1..100000, "variants": [{"subject", "heading", "body"}, …]}``
  (``{first_name}``, ``{shop}`` and ``{interest}`` are filled per recipient); 422 names a bad field;
- ``GET /api/admin/campaigns``: each campaign with its decisions by action, its lift (treated recipients against
  its own holdout, conversion within 7 days, always-valid interval) and its variants' readout per segment;
- ``GET /api/admin/campaigns/<id>/preview?customer=<id>&variant=<key>``: what that recipient would get;
- ``POST /api/admin/campaigns/<id>/send``: queue its sending (all at once, or its first wave); 202;
- ``GET|PUT /api/admin/variants/<agent>``: any agent's message variants (``win_back``, ``cross_sell`` …) and
  their readout: the best variant per segment with its interval.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import func
from sqlmodel import select

from app import tasks
from app.agents.newsletter import agent_name
from app.db import after_commit, session_scope
from app.measurement.sequential import rate_difference
from app.models.base import utcnow
from app.models.campaigns import DRAFT, SENDING, Campaign
from app.models.messaging import MessageDecision
from app.orchestrator.variants import MAX_VARIANTS, Counts, Variant, readout
from app.stores import campaigns as store
from app.stores.campaign_preview import preview
from app.stores.variants import load_variants, save_variants, variant_counts
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_campaigns", __name__)

AGENT = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
FIELDS = {"name", "subject", "body", "products", "holdout_share", "wave", "variants"}
LIMITS = {"name": 120, "subject": 200, "body": 5000}
VARIANT_FIELDS = {"subject": 200, "heading": 200, "body": 5000}


class Invalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _unprocessable(exc: Invalid):
    return jsonify(error="invalid_field", field=exc.field, message=str(exc)), 422


def _text(body: dict[str, Any], field: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid(field, f"{field} is text of 1 to {limit} characters")
    return value.strip()


def _int(body: dict[str, Any], field: str, low: int, high: int, default: int | None) -> int | None:
    value = body.get(field, default)
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(field, f"{field} is a whole number from {low} to {high}")
    return value


def parse_variants(raw: Any, field: str = "variants") -> list[Variant]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_VARIANTS:
        raise Invalid(field, f"{field} is a list of at most {MAX_VARIANTS} variants")
    out = []
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(item, dict) or not set(item) <= set(VARIANT_FIELDS) or not item:
            raise Invalid(where, f"{where} is an object with some of {', '.join(VARIANT_FIELDS)}")
        words = {k: _text(item, k, n, required=False) for k, n in VARIANT_FIELDS.items()}
        if not any(words.values()):
            raise Invalid(where, f"{where} changes nothing")
        out.append(Variant(chr(ord("a") + i), **words))
    return out


def campaign_values(body: Any) -> tuple[dict[str, Any], list[Variant]]:
    """The validated campaign and its variants, or ``Invalid`` naming the field."""
    if not isinstance(body, dict):
        raise Invalid("body", "send a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise Invalid(
            unknown[0], f"unknown field {unknown[0]!r}; expected some of {', '.join(sorted(FIELDS))}"
        )
    values: dict[str, Any] = {k: _text(body, k, n) for k, n in LIMITS.items()}
    values["products"] = _int(body, "products", 0, 6, 3)
    share = body.get("holdout_share", 0.1)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 0.5:
        raise Invalid("holdout_share", "holdout_share is a number from 0 to 0.5")
    values["holdout_share"] = float(share)
    values["wave"] = _int(body, "wave", 1, 100_000, None)
    return values, parse_variants(body.get("variants"))


def _actions(session, shop_id: int, agent: str) -> dict[str, int]:
    rows = session.exec(
        select(MessageDecision.action, func.count())
        .where(MessageDecision.shop_id == shop_id, MessageDecision.agent == agent)
        .group_by(MessageDecision.action)
    ).all()
    return {a: int(n) for a, n in rows}


def _lift(by_segment: dict[str, dict[str, Counts]], held: dict[str, Counts]) -> dict[str, Any]:
    t = Counts(
        sum(c.shoppers for per in by_segment.values() for c in per.values()),
        sum(c.converters for per in by_segment.values() for c in per.values()),
    )
    h = Counts(sum(c.shoppers for c in held.values()), sum(c.converters for c in held.values()))
    found = rate_difference(t.converters, t.shoppers, h.converters, h.shoppers)
    return {
        "treated": {"shoppers": t.shoppers, "converters": t.converters},
        "holdout": {"shoppers": h.shoppers, "converters": h.converters},
        "conversion": found.interval.as_dict() if found else None,
        "window_days": 7,
    }


def _campaign(session, row: Campaign, now) -> dict[str, Any]:
    agent = agent_name(int(row.id or 0))
    by_segment, held = variant_counts(session, row.shop_id, agent, now)
    variants = load_variants(session, row.shop_id, [agent]).get(agent, [])
    return {
        "id": row.id,
        "agent": agent,
        "name": row.name,
        "subject": row.subject,
        "body": row.body,
        "products": row.products,
        "holdout_share": row.holdout_share,
        "wave": row.wave,
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "variants": [v.__dict__ for v in variants],
        "decisions": _actions(session, row.shop_id, agent),
        "lift": _lift(by_segment, held),
        "readout": readout(by_segment, held) if variants else [],
    }


@bp.post("/api/admin/campaigns")
@require_session_token
def create_campaign() -> Any:
    try:
        values, variants = campaign_values(request.get_json(silent=True))
    except Invalid as exc:
        return _unprocessable(exc)
    with session_scope(settings().database_url) as session:
        row = store.create(session, g.shop.id, values, variants)
        return jsonify(_campaign(session, row, utcnow())), 201


@bp.get("/api/admin/campaigns")
@require_session_token
def list_campaigns() -> Any:
    now = utcnow()
    with session_scope(settings().database_url) as session:
        return jsonify(campaigns=[_campaign(session, r, now) for r in store.listing(session, g.shop.id)])


@bp.get("/api/admin/campaigns/<int:campaign_id>/preview")
@require_session_token
def preview_campaign(campaign_id: int) -> Any:
    raw = (request.args.get("customer") or "").strip()
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        return jsonify(error="invalid_field", field="customer", message="customer is a customer id"), 400
    variant = request.args.get("variant") or None
    with session_scope(settings().database_url) as session:
        if store.get(session, g.shop.id, campaign_id) is None:
            return jsonify(error="not_found", message="no such campaign"), 404
        found = preview(session, g.shop.id, campaign_id, int(raw), variant, utcnow())
    if found is None:
        return jsonify(error="not_found", message="no such subscribed recipient"), 404
    if found.get("error"):
        return jsonify(error="invalid_field", field="variant", message="no such variant"), 400
    return jsonify(found)


@bp.post("/api/admin/campaigns/<int:campaign_id>/send")
@require_session_token
def send(campaign_id: int) -> Any:
    shop_id = g.shop.id
    with session_scope(settings().database_url) as session:
        row = store.get(session, shop_id, campaign_id)
        if row is None:
            return jsonify(error="not_found", message="no such campaign"), 404
        if row.status != DRAFT:
            return jsonify(error="already_sent", message=f"the campaign is {row.status}"), 409
        row.status = SENDING
        session.add(row)
        redis_url, wave = settings().redis_url, row.wave
        after_commit(session, lambda: tasks.send_campaign(redis_url, shop_id, campaign_id, wave))
    return jsonify(id=campaign_id, status=SENDING), 202


def _agent(agent: str):
    if not AGENT.match(agent):
        return jsonify(error="invalid_field", field="agent", message="agent is a lower-case name"), 404
    return None


@bp.get("/api/admin/variants/<agent>")
@require_session_token
def get_variants(agent: str) -> Any:
    bad = _agent(agent)
    if bad:
        return bad
    with session_scope(settings().database_url) as session:
        variants = load_variants(session, g.shop.id, [agent]).get(agent, [])
        by_segment, held = variant_counts(session, g.shop.id, agent, utcnow())
    return jsonify(agent=agent, variants=[v.__dict__ for v in variants], readout=readout(by_segment, held))


@bp.put("/api/admin/variants/<agent>")
@require_session_token
def put_variants(agent: str) -> Any:
    bad = _agent(agent)
    if bad:
        return bad
    body = request.get_json(silent=True)
    try:
        if not isinstance(body, dict) or set(body) != {"variants"}:
            raise Invalid("variants", 'send {"variants": [{"subject": "…"}, …]}')
        variants = parse_variants(body["variants"])
    except Invalid as exc:
        return _unprocessable(exc)
    with session_scope(settings().database_url) as session:
        save_variants(session, g.shop.id, agent, variants)
    return jsonify(agent=agent, variants=[v.__dict__ for v in variants])
