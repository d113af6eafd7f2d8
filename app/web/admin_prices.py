"""Embedded-admin API for price suggestions and price changes (session token, the token's shop only).

- ``GET /api/admin/pricing/suggestions``: markdowns and increases per variant, each with its guardrail check; and
  under ``compare_at_flags`` the live compare-at prices that are not the lowest price of the 30 days before the
  current price took effect (Omnibus; set in Shopify, so flagged, not refused).
- ``POST /api/admin/pricing/price-changes`` ``{"variant_id", "price", "compare_at_price"?, "reason"?}``: the
  merchant approves a change (a suggestion's or their own). Every guardrail is checked now: a refusal is a 422
  with the reasons (and is logged); an accepted change is logged ``approved`` and applied by a job (202).
- ``GET /api/admin/pricing/price-changes``: the change log.
- ``POST /api/admin/pricing/competitors/import?competitor=<name>``: a competitor's feed, line-by-line errors
  (200 / 207 / 422); ``GET /api/admin/pricing/competitors?alert_pct=5``: the comparison and its alerts.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from flask import Blueprint, g, jsonify, request

from app import tasks
from app.agents.competitors import FeedError, compare, parse_feed
from app.agents.price_suggestions import VariantFacts, check, live_compare_at, suggest
from app.db import after_commit, session_scope
from app.models.base import utcnow
from app.stores.competitor_feeds import save_feed
from app.stores.competitors import market, our_variants, store_feed
from app.stores.prices import as_decimal, changes, load_rules, log_change, variant_facts
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_prices", __name__)


def _money(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return round(number, 2) if math.isfinite(number) and 0 <= number < 10**9 else None


@bp.get("/api/admin/pricing/suggestions")
@require_session_token
def suggestions() -> Any:
    now = utcnow()
    with session_scope(settings().database_url) as session:
        rules = load_rules(session, g.shop.id)
        facts = variant_facts(session, g.shop.id, now, with_response=True)
    found = suggest(facts, rules, now)
    return jsonify(
        compare_at_flags=[
            _compare_at_flag(v, *bad, rules.sells_in_eu) for v in facts if (bad := live_compare_at(v))
        ],
        suggestions=[
            {
                "variant_id": s.variant_id,
                "product_id": s.product_id,
                "title": s.title,
                "current": s.current,
                "suggested": s.suggested,
                "kind": s.kind,
                "reason": s.reason,
                "allowed": s.check.ok,
                "refusals": list(s.check.refusals),
                "flags": list(s.check.flags),
                "elasticity": round(s.elasticity, 3),
                "elasticity_sd": round(s.elasticity_sd, 3),
                "measured": s.measured,
                "units_change": s.units_change,
                "margin_change_30d": s.margin_change_30d,
            }
            for s in found
        ],  # fmt: skip
    )


def _compare_at_flag(v: VariantFacts, lowest: float, since: datetime, eu: bool) -> dict[str, Any]:
    why = (
        f"Omnibus: compare-at {v.compare_at:.2f} is not the lowest price of the 30 days before "
        f"{since:%Y-%m-%d} ({lowest:.2f})" + ("; this shop sells in the EU" if eu else "")
    )
    return {"variant_id": v.variant_id, "title": v.title, "price": v.price, "compare_at": v.compare_at,
            "lowest_30d": lowest, "since": since.isoformat(), "sells_in_eu": eu, "message": why}  # fmt: skip


@bp.post("/api/admin/pricing/price-changes")
@require_session_token
def request_change() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="invalid_body", message="send a JSON object"), 400
    vid = body.get("variant_id")
    price = _money(body.get("price"))
    compare = _money(body["compare_at_price"]) if body.get("compare_at_price") is not None else None
    if isinstance(vid, bool) or not isinstance(vid, int) or vid <= 0:
        return jsonify(error="invalid_variant", message="variant_id must be a positive integer"), 400
    if price is None or (body.get("compare_at_price") is not None and compare is None):
        return jsonify(error="invalid_price", message="price and compare_at_price must be amounts ≥ 0"), 400
    reason = str(body.get("reason") or "approved in the admin")[:280]
    now = utcnow()
    with session_scope(settings().database_url) as session:
        shop_id = g.shop.id
        facts = variant_facts(session, shop_id, now, [vid])
        if not facts:
            return jsonify(error="unknown_variant", message=f"no variant {vid} in this shop"), 404
        v = facts[0]
        result = check(v, price, compare, load_rules(session, shop_id), now)
        row = log_change(
            session, shop_id, variant_id=vid, product_id=v.product_id, old_price=as_decimal(v.price),
            new_price=as_decimal(price), compare_at_price=as_decimal(compare), source="merchant", reason=reason,
            status="approved" if result.ok else "refused", refusals=list(result.refusals), flags=list(result.flags),
        )  # fmt: skip
        answer = {"id": row.id, "status": row.status, "refusals": row.refusals, "flags": row.flags}
        if result.ok:
            redis_url, change_id = settings().redis_url, row.id
            after_commit(session, lambda: tasks.apply_price_change(redis_url, shop_id, int(change_id or 0)))
    if not result.ok:
        return jsonify(error="refused", message="; ".join(result.refusals), **answer), 422
    return jsonify(answer), 202


@bp.get("/api/admin/pricing/price-changes")
@require_session_token
def change_log() -> Any:
    with session_scope(settings().database_url) as session:
        rows = changes(session, g.shop.id)
        return jsonify(
            changes=[
                {"id": c.id, "variant_id": c.variant_id, "old_price": str(c.old_price), "new_price": str(c.new_price),
                 "compare_at_price": None if c.compare_at_price is None else str(c.compare_at_price),
                 "status": c.status, "refusals": c.refusals, "flags": c.flags, "error": c.error,
                 "reason": c.reason, "created_at": c.created_at.isoformat(),
                 "applied_at": c.applied_at.isoformat() if c.applied_at else None}
                for c in rows
            ]
        )  # fmt: skip


MAX_FEED = 5 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9 ._-]{1,64}$")


@bp.post("/api/admin/pricing/competitors/import")
@require_session_token
def import_competitor_feed() -> Any:
    """A competitor's feed (Merchant Center columns) as the body or the form field ``file``; ``?competitor=``
    names it. 200 every line stored, 207 some lines rejected (listed; the others stored), 422 none readable,
    400 an unusable file, 413 too large."""
    competitor = (request.args.get("competitor") or "").strip()
    if not _NAME.match(competitor):
        return jsonify(
            error="invalid_competitor", message="competitor is a name of 1-64 letters, digits, ' ._-'"
        ), 400
    if request.content_length is not None and request.content_length > MAX_FEED:
        return jsonify(error="body_too_large", message=f"the file exceeds {MAX_FEED} bytes"), 413
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    raw = (upload.stream if upload is not None else request.stream).read(MAX_FEED + 1)
    if len(raw) > MAX_FEED:
        return jsonify(error="body_too_large", message=f"the file exceeds {MAX_FEED} bytes"), 413
    try:
        rows, rejected = parse_feed(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return jsonify(error="invalid_encoding", message="the file is not UTF-8 text"), 400
    except FeedError as exc:
        return jsonify(error="invalid_file", message=str(exc)), 400
    if not rows:
        return jsonify(error="no_valid_rows", message="no line could be stored", rejected=rejected), 422
    with session_scope(settings().database_url) as session:
        counts = store_feed(session, g.shop.id, competitor, rows)
        save_feed(session, g.shop.id, competitor, keep_url=True)
        redis_url, shop_id = settings().redis_url, g.shop.id
        after_commit(session, lambda: tasks.match_competitors(redis_url, shop_id))  # title matches, alerts
    return jsonify(competitor=competitor, **counts, rejected=rejected), 207 if rejected else 200


@bp.get("/api/admin/pricing/competitors")
@require_session_token
def competitor_comparison() -> Any:
    """Where the shop is above or below the market, per matched variant; ``alert_pct`` (default 5) flags a
    competitor undercutting by more."""
    raw = request.args.get("alert_pct", "5")
    try:
        alert = float(raw)
    except ValueError:
        alert = -1.0
    if not 0 <= alert <= 100:
        return jsonify(error="invalid_alert", message="alert_pct is a number 0..100"), 400
    with session_scope(settings().database_url) as session:
        rows = compare(our_variants(session, g.shop.id), market(session, g.shop.id), alert / 100)
    return jsonify(alert_pct=alert, variants=rows, alerts=sum(1 for r in rows if r["alert"]))
