"""Embedded-admin API over customer profiles: list by segment or score; ``profile_for`` for the record.

``GET /api/admin/customers?segment=…&sort=…&limit=…&offset=…``
- segment: ``known``, ``anonymous``, ``high_intent`` (intent >= 0.5), ``at_risk`` (churn risk >= 0.5),
  or an RFM segment name (``champions``, ``at_risk_loyal``, … as the RFM model names them);
- sort: ``last_seen`` (default), ``intent``, ``clv``, ``churn_risk``, ``events``; ``:asc`` for ascending.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import func, nulls_last
from sqlmodel import Session, select

from app.db import session_scope
from app.models.base import utcnow
from app.models.profiles import CustomerProfile
from app.profiles.view import public_profile
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_profiles", __name__)
SORTS = {
    "last_seen": CustomerProfile.last_seen_at,
    "intent": CustomerProfile.intent,
    "clv": CustomerProfile.clv,
    "churn_risk": CustomerProfile.churn_risk,
    "events": CustomerProfile.event_count,
}
MAX_LIMIT = 100
_SEGMENT_RE = re.compile(r"^[a-z0-9_]{1,32}$")


def _segment_filter(segment: str) -> Any:
    if segment == "known":
        return CustomerProfile.customer_shopify_id.is_not(None)  # type: ignore[union-attr]
    if segment == "anonymous":
        return CustomerProfile.customer_shopify_id.is_(None)  # type: ignore[union-attr]
    if segment == "high_intent":
        return CustomerProfile.intent >= 0.5  # type: ignore[operator]
    if segment == "at_risk":
        return CustomerProfile.churn_risk >= 0.5  # type: ignore[operator]
    return CustomerProfile.rfm_segment == segment


def _summary(row: CustomerProfile) -> dict[str, Any]:
    return {
        "customer_key": row.customer_key,
        "customer_id": row.customer_shopify_id,
        "event_count": row.event_count,
        "last_seen_at": row.last_seen_at.isoformat() if row.last_seen_at else None,
        "intent": row.intent,
        "clv": row.clv,
        "churn_risk": row.churn_risk,
        "rfm_segment": row.rfm_segment,
    }


def _int_arg(name: str, default: int, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        return None
    return int(raw)


@bp.get("/api/admin/segments")
@require_session_token
def segment_counts() -> Any:
    """How many profiles each RFM segment holds, plus known/anonymous and high-intent/at-risk counts."""
    shop_id = g.shop.id
    with session_scope(settings().database_url) as session:
        by_segment = session.exec(
            select(CustomerProfile.rfm_segment, func.count())
            .where(CustomerProfile.shop_id == shop_id)
            .group_by(CustomerProfile.rfm_segment)
        ).all()
        counts = {
            name: session.exec(
                select(func.count())
                .select_from(CustomerProfile)
                .where(CustomerProfile.shop_id == shop_id, _segment_filter(name))
            ).one()
            for name in ("known", "anonymous", "high_intent", "at_risk")
        }
    return jsonify(rfm={seg or "unscored": n for seg, n in by_segment}, **counts)


@bp.get("/api/admin/customers")
@require_session_token
def list_customers() -> Any:
    sort_arg = request.args.get("sort", "last_seen")
    name, _, direction = sort_arg.partition(":")
    if name not in SORTS or direction not in ("", "asc", "desc"):
        return jsonify(error="invalid_sort", message=f"sort must be one of {sorted(SORTS)} [:asc|:desc]"), 400
    segment = request.args.get("segment")
    if segment is not None and not _SEGMENT_RE.match(segment):
        return jsonify(error="invalid_segment", message="segment must be a short snake_case name"), 400
    limit = _int_arg("limit", 50, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, 10_000_000)
    if limit is None or offset is None:
        return jsonify(error="invalid_page", message=f"limit is 1..{MAX_LIMIT}, offset >= 0"), 400
    column = SORTS[name]
    order = column.asc() if direction == "asc" else column.desc()  # type: ignore[union-attr]
    shop_id = g.shop.id
    with session_scope(settings().database_url) as session:
        where = [CustomerProfile.shop_id == shop_id]
        if segment:
            where.append(_segment_filter(segment))
        total = session.exec(select(func.count()).select_from(CustomerProfile).where(*where)).one()
        rows = session.exec(
            select(CustomerProfile)
            .where(*where)
            .order_by(nulls_last(order), CustomerProfile.id)
            .offset(offset)
            .limit(limit)
        ).all()
        items = [_summary(r) for r in rows]
    return jsonify(customers=items, total=total, limit=limit, offset=offset, sort=sort_arg, segment=segment)


def profile_for(session: Session, shop_id: int, customer_id: int) -> dict[str, Any] | None:
    """The customer's profile with explanations, for ``GET /api/admin/customers/<id>`` to merge in."""
    row = session.exec(
        select(CustomerProfile).where(
            CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == f"customer:{int(customer_id)}"
        )
    ).first()
    return public_profile(row, utcnow()) if row else None
