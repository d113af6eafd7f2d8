"""Embedded-admin API for competitors (session token, the token's shop only), beside ``admin_prices``' upload and
comparison:

- ``GET /api/admin/pricing/competitors/feeds``: each competitor, its feed URL, alert threshold and last refresh
  (counts, each rejected line with its number and reason).
- ``POST /api/admin/pricing/competitors/feeds`` ``{"competitor", "url"?, "alert_pct"?}``: add or change one; a URL
  is fetched at once by a job (202) and nightly after.
- ``POST /api/admin/pricing/competitors/feeds/<competitor>/refresh``, ``DELETE …/feeds/<competitor>``.
- ``GET /api/admin/pricing/competitors/matches?status=suggested``: title matches; ``POST …/matches/<id>``
  ``{"decision": "confirm" | "reject"}``: only a confirmed one counts in the comparison and the alerts.
- ``GET /api/admin/pricing/competitors/alerts``: undercuts the shop was told about.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, g, jsonify, request

from app import tasks
from app.db import after_commit, session_scope
from app.stores.competitor_feeds import alerts, delete_feed, feed, feeds, save_feed
from app.stores.competitors import decide_title_match, our_variants, title_matches
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_competitors", __name__)
NAME = re.compile(r"^[A-Za-z0-9 ._-]{1,64}$")
STATUSES = ("suggested", "confirmed", "rejected")


def _feed_json(f: Any) -> dict[str, Any]:
    return {"competitor": f.competitor, "url": f.url, "alert_pct": f.alert_pct, "last_status": f.last_status,
            "last_error": f.last_error, "last_report": f.last_report,
            "last_fetched_at": f.last_fetched_at.isoformat() if f.last_fetched_at else None}  # fmt: skip


@bp.get("/api/admin/pricing/competitors/feeds")
@require_session_token
def list_feeds() -> Any:
    with session_scope(settings().database_url) as session:
        return jsonify(feeds=[_feed_json(f) for f in feeds(session, g.shop.id)])


@bp.post("/api/admin/pricing/competitors/feeds")
@require_session_token
def save() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="invalid_body", message="send a JSON object"), 400
    name = body.get("competitor")
    if not isinstance(name, str) or not NAME.match(name.strip()):
        return jsonify(
            error="invalid_competitor", message="competitor is a name of 1-64 letters, digits, ' ._-'"
        ), 400
    url, alert = body.get("url"), body.get("alert_pct")
    if url is not None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or len(url) > 2048 or parts.scheme not in ("http", "https") or not parts.hostname:
            return jsonify(
                error="invalid_url", message="url must be an http(s) address of at most 2048 characters"
            ), 400
        if parts.username or parts.password:
            return jsonify(error="invalid_url", message="the url must not carry a user name or password"), 400
    if alert is not None and (
        isinstance(alert, bool)
        or not isinstance(alert, int | float)
        or not math.isfinite(alert)
        or not 0 <= alert <= 100
    ):
        return jsonify(error="invalid_alert", message="alert_pct is a number 0..100"), 400
    name = name.strip()
    with session_scope(settings().database_url) as session:
        row = save_feed(session, g.shop.id, name, url=url, alert_pct=alert, keep_url="url" not in body)
        answer = _feed_json(row)
        if row.url:
            redis_url, shop_id = settings().redis_url, g.shop.id
            after_commit(session, lambda: tasks.refresh_competitor_feed(redis_url, shop_id, name))
    return jsonify(answer), 202 if answer["url"] else 200


@bp.post("/api/admin/pricing/competitors/feeds/<competitor>/refresh")
@require_session_token
def refresh(competitor: str) -> Any:
    with session_scope(settings().database_url) as session:
        row = feed(session, g.shop.id, competitor)
        if row is None or not row.url:
            return jsonify(error="unknown_feed", message=f"no feed URL for {competitor!r}"), 404
    tasks.refresh_competitor_feed(settings().redis_url, g.shop.id, competitor)
    return jsonify(competitor=competitor, queued=True), 202


@bp.delete("/api/admin/pricing/competitors/feeds/<competitor>")
@require_session_token
def remove(competitor: str) -> Any:
    with session_scope(settings().database_url) as session:
        if not delete_feed(session, g.shop.id, competitor):
            return jsonify(error="unknown_feed", message=f"no competitor {competitor!r}"), 404
    return jsonify(deleted=competitor)


@bp.get("/api/admin/pricing/competitors/matches")
@require_session_token
def matches() -> Any:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        return jsonify(error="invalid_status", message="status is one of " + ", ".join(STATUSES)), 400
    with session_scope(settings().database_url) as session:
        titles = {v.variant_id: (v.title, v.price) for v in our_variants(session, g.shop.id)}
        rows = [
            {"id": r.id, "competitor": r.competitor, "item_id": r.item_id, "their_title": r.title,
             "their_price": float(r.price) if r.price is not None else None, "link": r.link,
             "variant_id": r.variant_id, "our_title": titles.get(r.variant_id or 0, ("", None))[0],
             "our_price": titles.get(r.variant_id or 0, ("", None))[1], "score": r.match_score,
             "status": r.match_status}
            for r in title_matches(session, g.shop.id, status)
        ]  # fmt: skip
    return jsonify(matches=rows)


@bp.post("/api/admin/pricing/competitors/matches/<int:match_id>")
@require_session_token
def decide(match_id: int) -> Any:
    body = request.get_json(silent=True)
    decision = body.get("decision") if isinstance(body, dict) else None
    if decision not in ("confirm", "reject"):
        return jsonify(error="invalid_decision", message='decision is "confirm" or "reject"'), 400
    with session_scope(settings().database_url) as session:
        row = decide_title_match(session, g.shop.id, match_id, decision)
        if row is None:
            return jsonify(error="unknown_match", message=f"no title match {match_id} in this shop"), 404
        answer = {"id": row.id, "status": row.match_status, "variant_id": row.variant_id}
        if decision == "confirm":
            redis_url, shop_id = settings().redis_url, g.shop.id
            after_commit(session, lambda: tasks.match_competitors(redis_url, shop_id))  # the undercut alerts
    return jsonify(answer)


@bp.get("/api/admin/pricing/competitors/alerts")
@require_session_token
def list_alerts() -> Any:
    with session_scope(settings().database_url) as session:
        titles = {v.variant_id: v.title for v in our_variants(session, g.shop.id)}
        rows = [
            {"competitor": a.competitor, "item_id": a.item_id, "variant_id": a.variant_id,
             "title": titles.get(a.variant_id), "our_price": float(a.our_price), "their_price": float(a.their_price),
             "undercut": a.gap, "created_at": a.created_at.isoformat(), "mailed": a.mailed_at is not None}
            for a in alerts(session, g.shop.id)
        ]  # fmt: skip
    return jsonify(alerts=rows)
