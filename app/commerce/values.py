"""Parsing of the loose values Shopify sends: timestamps, money, ids (numeric or ``gid://``)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts(value: Any) -> datetime | None:
    """An aware UTC datetime from Shopify's ISO-8601 strings (``Z``, offsets, fractions); None if absent."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def money(value: Any) -> Decimal | None:
    """A Decimal amount from ``"19.99"``, ``19.99`` or a ``{"amount": ...}`` / ``*_set`` object."""
    if isinstance(value, dict):
        value = value.get("amount", (value.get("shop_money") or {}).get("amount"))
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def shopify_id(value: Any) -> int | None:
    """An integer id from ``123``, ``"123"`` or ``"gid://shopify/Customer/123"`` (query strings ignored)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).split("?", 1)[0].rstrip("/")
    tail = text.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value)[:limit]


def content_hash(fields: dict[str, Any]) -> str:
    """A stable digest of a resource version: breaks ties between versions with the same ``updated_at``."""
    blob = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.md5(blob.encode(), usedforsecurity=False).hexdigest()


def version_key(updated_at: datetime | None, digest: str | None) -> tuple[datetime, str]:
    """The total order versions are compared by: newer ``updated_at`` wins, then the larger digest."""
    return (updated_at or EPOCH, digest or "")
