"""Test messages the merchant sends from the Channels page, kept in Redis for a day (they are no shopper's
messages: no outbox row, no thread entry, no budget). One key per test, named by the shop and a random id, so a
test is only ever read back for the shop that started it.

    queued ──claim──▶ sending ──▶ sent (provider id) | failed (reason)
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from app.models.base import utcnow
from app.queue import get_redis

TTL_S = 24 * 3600
CLAIM_TTL_S = 600
QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
TEST_ID_CHARS = 22  # secrets.token_urlsafe(16)


def _key(shop_id: int, test_id: str) -> str:
    return f"attune:channel-test:{shop_id}:{test_id}"


def valid_test_id(test_id: str) -> bool:
    return len(test_id) == TEST_ID_CHARS and all(c.isalnum() or c in "-_" for c in test_id)


def create(
    redis_url: str | None, shop_id: int, channel: str, recipient: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A new test, ``queued`` (raises ``RedisError`` when Redis is down); ``details``: what the job needs
    beyond the recipient (the customer and product a test Flow trigger names)."""
    test = {
        **(details or {}),
        "test_id": secrets.token_urlsafe(16),
        "channel": channel,
        "recipient": recipient,
        "status": QUEUED,
        "created_at": utcnow().isoformat(),
    }
    get_redis(redis_url).set(_key(shop_id, test["test_id"]), json.dumps(test), ex=TTL_S)
    return test


def get(redis_url: str | None, shop_id: int, test_id: str) -> dict[str, Any] | None:
    """The shop's test, or None (unknown, expired, or another shop's id)."""
    if not valid_test_id(test_id):
        return None
    raw = get_redis(redis_url).get(_key(shop_id, test_id))
    return json.loads(raw) if raw else None


def claim(redis_url: str | None, shop_id: int, test_id: str) -> dict[str, Any] | None:
    """queued → sending for the one job that wins it (a duplicate job gets None and sends nothing)."""
    redis = get_redis(redis_url)
    if not redis.set(_key(shop_id, test_id) + ":claim", "1", nx=True, ex=CLAIM_TTL_S):
        return None
    test = get(redis_url, shop_id, test_id)
    if test is None or test["status"] != QUEUED:
        return None
    return _update(redis_url, shop_id, test, status=SENDING)


def finish(
    redis_url: str | None,
    shop_id: int,
    test: dict[str, Any],
    *,
    provider_id: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """sending → sent (with the provider's id) or failed (with the reason)."""
    if provider_id is not None:
        return _update(redis_url, shop_id, test, status=SENT, provider_id=provider_id)
    return _update(redis_url, shop_id, test, status=FAILED, error=error or "not sent")


def _update(redis_url: str | None, shop_id: int, test: dict[str, Any], **values: Any) -> dict[str, Any]:
    test = {**test, **values, "updated_at": utcnow().isoformat()}
    get_redis(redis_url).set(_key(shop_id, test["test_id"]), json.dumps(test), ex=TTL_S)
    return test
