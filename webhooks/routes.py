"""``POST /webhooks``: one endpoint for every Shopify topic.

Verify the raw body's HMAC (current or previous secret), check headers, size and JSON, write one inbox
row (unique on shop + event id, so duplicates add nothing), enqueue after the commit, answer 200.
Unknown or uninstalled shops are recorded as dropped and still get 200 (a 5xx only makes Shopify retry).
Redis down: still 200 (the sweeper enqueues later). Database down: 503. Kept to two SQL statements.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.db import get_engine
from app.models.base import utcnow
from app.models.inbox import DROPPED, PENDING, WebhookInbox
from app.models.shop import Shop
from app.shopify.verify import is_valid_shop_domain, verify_webhook
from app.web import settings
from webhooks.handlers import COMPLIANCE_TOPICS, TOPICS
from webhooks.jobs import enqueue_inbox

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

_INBOX = WebhookInbox.__table__


def _shop_lookup(domain: str) -> Any:
    return select(Shop.id, Shop.access_token_enc, Shop.uninstalled_at).where(Shop.domain == domain)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, error: str, message: str) -> Response:
    return _json(status, {"error": error, "message": message})


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None when it is over ``limit`` (declared or actual length)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body


def _insert_inbox(conn: Any, values: dict[str, Any]) -> int | None:
    """Insert the row; None when (shop, event id) is already there."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        mod = sqlite if dialect == "sqlite" else postgresql
        stmt = (
            mod.insert(_INBOX)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["shop_domain", "event_id"])
            .returning(_INBOX.c.id)
        )
        return conn.execute(stmt).scalar()
    try:
        with conn.begin_nested():
            return conn.execute(insert(_INBOX).values(**values).returning(_INBOX.c.id)).scalar()
    except IntegrityError:
        return None


@bp.post("/webhooks")
def receive() -> Response:
    cfg = settings()
    body = _read_body(cfg.webhook_max_body_bytes)
    if body is None:
        return _error(
            413, "payload_too_large", f"webhook bodies are limited to {cfg.webhook_max_body_bytes} bytes"
        )
    headers = request.headers
    if not verify_webhook(body, headers.get("X-Shopify-Hmac-Sha256"), cfg.api_secrets):
        return _error(401, "unauthorized", "invalid or missing X-Shopify-Hmac-Sha256")
    topic = headers.get("X-Shopify-Topic", "").strip()
    domain = headers.get("X-Shopify-Shop-Domain", "").strip().lower()
    event_id = (headers.get("X-Shopify-Event-Id") or headers.get("X-Shopify-Webhook-Id") or "").strip()
    missing = [
        name
        for name, value in (
            ("X-Shopify-Topic", topic),
            ("X-Shopify-Shop-Domain", domain),
            ("X-Shopify-Event-Id or X-Shopify-Webhook-Id", event_id),
        )
        if not value
    ]
    if missing:
        return _error(400, "missing_headers", "required headers missing: " + ", ".join(missing))
    if len(topic) > 128 or len(event_id) > 255:
        return _error(400, "bad_headers", "X-Shopify-Topic or event id is too long")
    if not is_valid_shop_domain(domain, allow_dev_domains=cfg.attune_env != "production"):
        return _error(400, "bad_shop", "X-Shopify-Shop-Domain is not a shop domain")
    try:
        payload = json.loads(body)
    except ValueError:
        return _error(400, "malformed_json", "the body is not valid JSON")
    if not isinstance(payload, dict):
        return _error(400, "malformed_json", "the body must be a JSON object")

    try:
        with get_engine(cfg.database_url).begin() as conn:
            shop = conn.execute(_shop_lookup(domain)).first()
            status, reason = PENDING, None
            if shop is None:
                status, reason = DROPPED, "unknown shop"
            elif (
                shop.access_token_enc is None or shop.uninstalled_at is not None
            ) and topic not in COMPLIANCE_TOPICS:
                status, reason = DROPPED, "shop uninstalled"
            elif topic not in TOPICS:
                status, reason = DROPPED, "no handler for topic"
            inbox_id = _insert_inbox(
                conn,
                {
                    "shop_id": shop.id if shop is not None else None,
                    "shop_domain": domain,
                    "event_id": event_id,
                    "webhook_id": headers.get("X-Shopify-Webhook-Id"),
                    "topic": topic,
                    "api_version": (headers.get("X-Shopify-API-Version") or "")[:32] or None,
                    "triggered_at": (headers.get("X-Shopify-Triggered-At") or "")[:64] or None,
                    "payload": body.decode("utf-8", "replace"),
                    "status": status,
                    "attempts": 0,
                    "error": reason,
                    "received_at": utcnow(),
                    "processed_at": None,
                },
            )
    except SQLAlchemyError as exc:
        log.error("webhook inbox unavailable: %s", exc.__class__.__name__)
        return _error(503, "unavailable", "the event store is unavailable; retry later")

    if inbox_id is None:
        return _json(200, {"status": "duplicate"})
    if status == PENDING:
        enqueue_inbox(cfg, inbox_id, shop.id)  # after the commit; on failure the sweeper enqueues it later
        return _json(200, {"status": "accepted", "id": inbox_id})
    log.info("webhook %s for %s dropped: %s", topic, domain, reason)
    return _json(200, {"status": "dropped", "reason": reason})
