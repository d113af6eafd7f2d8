"""``POST /pixel/events``: the web pixel's ingress. Validate, rate-limit, record, enqueue, answer.

The pixel posts ``text/plain`` JSON (sendBeacon / fetch keepalive), so browsers send no preflight; an
OPTIONS preflight is still answered for other clients. The endpoint is public and cookie-less: any
origin may post (``Access-Control-Allow-Origin: *``, no credentials); what ties a batch to a shop is the
shop's public pixel key from the pixel settings. Being public, the key proves nothing about the shopper: the
batch's ``customerId`` is stored as an unverified claim and identifies nobody (see ``app.jobs.profiles``).

Answers: 200 all stored (or already stored), 207 some events rejected (listed with reasons, the rest
kept), 4xx with ``{"error", "message"}`` when nothing could be kept. Never a 500 for bad input.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from app import tasks
from app.db import after_commit, session_scope
from app.identity import normalize_customer_id
from app.models.events import PixelEvent
from app.models.shop import Shop
from app.queue import get_redis
from app.shopify.verify import sanitize_shop_domain
from app.stores import nudge_live
from app.stores.nudge_live import STEP_EVENTS
from app.web import settings
from app.web.pixel_limits import RateLimited, check_rate
from app.web.pixel_schema import MAX_EVENTS, BatchIn, clean_context, reason_of, validate_event

log = logging.getLogger(__name__)
bp = Blueprint("pixel", __name__)


@bp.after_request
def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    return response


def _error(status: int, error: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=error, message=message, **extra), status


@bp.route("/pixel/events", methods=["OPTIONS"])
def preflight() -> tuple[str, int]:
    return "", 204


@bp.route("/pixel/events", methods=["POST"])
def receive() -> Any:
    cfg = settings()
    limit = cfg.pixel_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _error(413, "body_too_large", f"the body exceeds {limit} bytes")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        return _error(413, "body_too_large", f"the body exceeds {limit} bytes")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return _error(400, "invalid_json", "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "invalid_batch", "the body must be a JSON object")
    if isinstance(body.get("events"), list) and len(body["events"]) > MAX_EVENTS:
        return _error(413, "too_many_events", f"a batch holds at most {MAX_EVENTS} events")
    try:
        batch = BatchIn.model_validate(body)
    except ValidationError as exc:
        return _error(422, "invalid_batch", reason_of(exc))

    domain = sanitize_shop_domain(batch.shop, allow_dev_domains=cfg.attune_env != "production")
    if domain is None:
        return _error(400, "invalid_shop", "shop is not a myshopify.com domain")
    with session_scope(cfg.database_url) as session:
        shop = session.exec(select(Shop).where(Shop.domain == domain)).first()
        if shop is None or shop.uninstalled_at is not None:
            return _error(404, "unknown_shop", "no active shop with this domain")
        if not hmac.compare_digest(shop.pixel_key.encode(), batch.pixelKey.encode()):
            return _error(403, "invalid_pixel_key", "the pixel key does not match the shop")
        shop_id = shop.id
        assert shop_id is not None

        try:
            check_rate(
                get_redis(cfg.redis_url),
                shop_id,
                batch.clientId,
                cost=len(batch.events),
                per_client=cfg.pixel_rate_client_per_min,
                per_shop=cfg.pixel_rate_shop_per_min,
            )
        except RateLimited as exc:
            response, status = _error(429, "rate_limited", f"too many events for this {exc.scope}")
            response.headers["Retry-After"] = str(exc.retry_after)
            return response, status

        now = datetime.now(UTC)
        customer_id = normalize_customer_id(batch.customerId)
        rows: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        seen: set[str] = set()
        for index, raw_event in enumerate(batch.events):
            event, reason = validate_event(raw_event, now)
            if event is None:
                rejected.append({"index": index, "id": _id_of(raw_event), "reason": reason})
                continue
            if event.id in seen:
                rejected.append({"index": index, "id": event.id, "reason": "duplicate id in batch"})
                continue
            seen.add(event.id)
            rows.append(
                {
                    "shop_id": shop_id,
                    "event_id": event.id,
                    "client_id": batch.clientId,
                    "customer_shopify_id": customer_id or _checkout_customer(event.data),
                    "name": event.name,
                    "occurred_at": event.timestamp.astimezone(UTC),
                    "received_at": now,
                    "context": clean_context(event.context, batch.timeZone),
                    "data": event.data,
                }
            )
        new_ids = insert_new_events(session, rows)
        if new_ids:
            redis_url = cfg.redis_url
            after_commit(session, lambda: tasks.fold_pixel_events(redis_url, shop_id, new_ids))
        steps = [(r["name"], r["occurred_at"].timestamp()) for r in rows if r["name"] in STEP_EVENTS]
        # the nudge reads a browser's checkout steps from Redis (a repeated event adds nothing it uses)
        if steps:
            after_commit(session, lambda: _record_steps(cfg.redis_url, shop_id, batch.clientId, steps))

    result = {
        "stored": len(new_ids),
        "duplicates": len(rows) - len(new_ids),
        "rejected": rejected,
    }
    if not rows:
        return jsonify(error="no_valid_events", message="every event was rejected", **result), 422
    return jsonify(result), (207 if rejected else 200)


def _record_steps(
    redis_url: str | None, shop_id: int, client_id: str, steps: list[tuple[str, float]]
) -> None:
    try:
        nudge_live.record_steps(get_redis(redis_url), shop_id, client_id, steps)
    except RedisError as exc:  # the rows are stored; the nudge may miss these steps
        log.warning("pixel: shop %s, checkout steps not written to Redis: %s", shop_id, exc)


def _checkout_customer(data: dict[str, Any]) -> int | None:
    checkout = data.get("checkout")
    return normalize_customer_id(checkout.get("customerId")) if isinstance(checkout, dict) else None


def _id_of(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value[:128] if isinstance(value, str) else None


def insert_new_events(session: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows, skipping (shop, event id) pairs already stored; returns the ids of the new rows."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    table = PixelEvent.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = (
        insert.values(rows)
        .on_conflict_do_nothing(index_elements=["shop_id", "event_id"])
        .returning(table.c.id)
    )
    return sorted(int(r[0]) for r in session.execute(stmt))
