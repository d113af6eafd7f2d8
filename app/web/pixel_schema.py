"""The wire format of a pixel batch (extensions/attune-pixel) and its per-event validation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.profiles.vocabulary import is_known_event

MAX_EVENTS = 50
MAX_EVENT_BYTES = 16_384
MAX_EVENT_AGE = timedelta(days=7)
MAX_CLOCK_SKEW = timedelta(hours=1)
_ID_RE = r"^[A-Za-z0-9_.:\-]+$"


class BatchIn(BaseModel):
    """The envelope; events are checked one by one so a bad event never sinks its good neighbours."""

    model_config = ConfigDict(extra="ignore")

    shop: str = Field(min_length=1, max_length=255)
    pixelKey: str = Field(min_length=8, max_length=64)
    clientId: str = Field(min_length=1, max_length=128, pattern=_ID_RE)
    customerId: str | int | None = None
    timeZone: str | None = Field(default=None, max_length=64)
    events: list[Any] = Field(min_length=1)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=128, pattern=_ID_RE)
    name: str = Field(min_length=1, max_length=64)
    type: str | None = Field(default=None, max_length=16)
    timestamp: AwareDatetime
    seq: int | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if not is_known_event(v):
            raise ValueError(f"unknown event name {v[:64]!r}")
        return v


def reason_of(exc: ValidationError) -> str:
    """One readable line for the first problem pydantic found."""
    err = exc.errors(include_url=False, include_context=False)[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"


def validate_event(raw: Any, now: datetime | None = None) -> tuple[EventIn | None, str | None]:
    """(event, None) when valid, else (None, reason)."""
    if not isinstance(raw, dict):
        return None, "event must be an object"
    try:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return None, "event is not JSON-serialisable"
    if size > MAX_EVENT_BYTES:
        return None, f"event is {size} bytes; the limit is {MAX_EVENT_BYTES}"
    try:
        event = EventIn.model_validate(raw)
    except ValidationError as exc:
        return None, reason_of(exc)
    now = now or datetime.now(UTC)
    ts = event.timestamp.astimezone(UTC)
    if ts > now + MAX_CLOCK_SKEW:
        return None, "timestamp is in the future"
    if ts < now - MAX_EVENT_AGE:
        return None, "timestamp is older than 7 days"
    return event, None


_CTX_KEYS = ("url", "referrer", "title", "userAgent", "language", "viewportWidth", "screenWidth")


def clean_context(context: dict[str, Any], time_zone: str | None) -> dict[str, Any]:
    """Only the context fields profiles use (strings cut to 1 KiB), plus the batch's time zone."""
    out: dict[str, Any] = {}
    for key in _CTX_KEYS:
        value = context.get(key)
        if isinstance(value, str):
            out[key] = value[:1024]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
    if time_zone and re.fullmatch(r"[A-Za-z0-9_+\-/]{1,64}", time_zone):
        out["timeZone"] = time_zone
    return out
