"""Webhook deliveries signed exactly as Shopify signs them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import requests

from app.config import get_settings
from app.shopify.verify import webhook_hmac


def webhook_headers(
    body: bytes,
    shop: str,
    topic: str,
    *,
    secret: str,
    api_version: str,
    event_id: str | None = None,
    webhook_id: str | None = None,
    triggered_at: datetime | None = None,
) -> dict[str, str]:
    """The headers Shopify sends with an HTTPS webhook delivery."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": webhook_hmac(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": (triggered_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
    }


def deliver_webhook(
    app_url: str,
    shop: str,
    topic: str,
    payload: dict[str, Any] | list[Any] | bytes | str,
    *,
    event_id: str | None = None,
    webhook_id: str | None = None,
    secret: str | None = None,
    api_version: str | None = None,
    path: str = "/webhooks",
    triggered_at: datetime | None = None,
    timeout: float = 10.0,
) -> requests.Response:
    """POST ``payload`` to the app as Shopify does: raw JSON body, HMAC-SHA256 (base64) of the exact
    bytes with the API secret, and the ``X-Shopify-*`` headers.

    ``app_url`` is the app's base URL (``path`` is appended) or a full endpoint URL. ``secret`` and
    ``api_version`` default to the running settings'. Reusing ``event_id`` simulates a redelivery.
    """
    if secret is None or api_version is None:
        cfg = get_settings()
        secret = secret if secret is not None else cfg.shopify_api_secret
        api_version = api_version or cfg.shopify_api_version
    if isinstance(payload, bytes):
        body = payload
    elif isinstance(payload, str):
        body = payload.encode()
    else:
        body = json.dumps(payload).encode()
    url = app_url.rstrip("/")
    if urlparse(url).path in ("", "/"):
        url += path
    headers = webhook_headers(
        body,
        shop,
        topic,
        secret=secret,
        api_version=api_version,
        event_id=event_id,
        webhook_id=webhook_id,
        triggered_at=triggered_at,
    )
    return requests.post(url, data=body, headers=headers, timeout=timeout)
