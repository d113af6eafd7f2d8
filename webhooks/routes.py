"""``POST /webhooks``: one endpoint for every Shopify topic (the Flask route).

Size limit (413) before the body is read, then ``webhooks.ingest.receive``: HMAC over the raw body with
the current or previous secret, headers, shop, JSON, one inbox row committed (group commit, unique on shop
+ event id, so duplicates add nothing) before the 200, the job queued after the commit off the request
path. Unknown or uninstalled shops are recorded as dropped and still get 200 (a 5xx only makes Shopify
retry). Redis down: still 200 (the sweeper enqueues later). Database down: 503.
Ordinary deliveries are answered by the WSGI fast path (``webhooks.fast``) with the same function; this
route answers the rest (no or oversized Content-Length, short bodies) and is the reference for parity.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from app.web import settings
from webhooks import ingest

bp = Blueprint("webhooks", __name__)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(ingest.encode(body), status=status, mimetype="application/json")


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None when it is over ``limit`` (declared or actual length)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body


@bp.post("/webhooks")
def receive() -> Response:
    cfg = settings()
    body = _read_body(cfg.webhook_max_body_bytes)
    if body is None:
        return _json(*ingest.too_large(cfg))
    return _json(*ingest.receive(cfg, body, request.headers.get))
