"""What the Channels and Contact policy pages send, checked before anything is stored: each function returns the
clean values or raises ``FormError`` naming the field and saying what is wrong (the API answers 400 with it).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from app.channels.sms_text import InvalidNumber, e164

SMTP_SCHEMES = ("smtp", "smtps", "smtp+plain")  # as app.channels.email.SmtpTarget reads them
EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
AGENT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _object(body: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FormError("body", "send a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise FormError(
            unknown[0], f"unknown field {unknown[0]!r}; expected some of {', '.join(sorted(allowed))}"
        )
    return body


def _text(
    body: dict[str, Any], field: str, limit: int, *, required: bool = False, lines: bool = False
) -> str:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FormError(field, f"{field} is required")
        return ""
    if not isinstance(value, str):
        raise FormError(field, f"{field} must be text")
    value = value.strip()
    if len(value) > limit:
        raise FormError(field, f"{field} is longer than {limit} characters")
    if (CONTROL_BUT_NEWLINE if lines else CONTROL).search(value):
        raise FormError(field, f"{field} contains a line break or a control character")
    return value


def email_address(value: Any, field: str = "to") -> str:
    if not isinstance(value, str) or not value.strip():
        raise FormError(field, f"{field} is required: an e-mail address like you@example.com")
    value = value.strip()
    if len(value) > 254 or not EMAIL.match(value):
        raise FormError(field, f"{value[:80]!r} is not an e-mail address (like you@example.com)")
    return value


def smtp_url(value: Any) -> str:
    """An SMTP URL the e-mail channel can use: ``smtp://user:password@host:587``, ``smtps://`` or
    ``smtp+plain://``."""
    if not isinstance(value, str) or len(value) > 2000 or CONTROL.search(value):
        raise FormError("smtp_url", "smtp_url must be one line of text, at most 2000 characters")
    example = "smtp://user:password@host:587 (or smtps://, smtp+plain://)"
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        raise FormError("smtp_url", f"the SMTP URL cannot be read ({exc}); it looks like {example}") from exc
    if parts.scheme not in SMTP_SCHEMES:
        shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise FormError(
            "smtp_url", f"an SMTP URL starts with smtp://, smtps:// or smtp+plain://, not {shown}"
        )
    if not parts.hostname:
        raise FormError("smtp_url", f"the SMTP URL names no server; it looks like {example}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise FormError("smtp_url", f"an SMTP URL has no path or query; it looks like {example}")
    return value.strip()


def email_settings(body: Any) -> tuple[dict[str, str], str | None]:
    """The sender settings, and the SMTP URL: None keeps the stored one, "" removes it (the default relay)."""
    body = _object(body, {"from_name", "from_address", "postal_address", "reply_to", "shop_name", "smtp_url"})
    settings = {
        "from_name": _text(body, "from_name", 120),
        "from_address": email_address(body.get("from_address"), "from_address"),
        "postal_address": _text(body, "postal_address", 500, lines=True),
        "shop_name": _text(body, "shop_name", 120),
    }
    if not settings["postal_address"]:
        raise FormError(
            "postal_address",
            "postal_address is required: marketing e-mail must show your physical postal address (CAN-SPAM)",
        )
    if body.get("reply_to"):
        settings["reply_to"] = email_address(body["reply_to"], "reply_to")
    url = body.get("smtp_url")
    if url is None:
        return settings, None
    if isinstance(url, str) and not url.strip():
        return settings, ""
    return settings, smtp_url(url)


def region(value: Any) -> str:
    if not value:
        return ""
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise FormError("default_region", "default_region is a two-letter country code like US or GB")
    return value.upper()


def phone(value: Any, default_region: str | None, field: str = "to") -> str:
    """``value`` in E.164 (national numbers read with ``default_region``)."""
    if not isinstance(value, str) or not value.strip():
        raise FormError(field, f"{field} is required: a phone number like +14155552671")
    if len(value) > 40:
        raise FormError(field, f"{field} is not a phone number")
    try:
        return e164(value, default_region)
    except InvalidNumber as exc:
        hint = "" if default_region else " (with its country code, like +14155552671)"
        raise FormError(field, f"{exc}{hint}") from exc


def sms_settings(body: Any, token_stored: bool) -> tuple[dict[str, str], str | None]:
    """The Twilio settings, and the auth token: None keeps the stored one."""
    body = _object(
        body,
        {
            "account_sid",
            "auth_token",
            "from_number",
            "messaging_service_sid",
            "default_region",
            "shop_name",
            "help_text",
        },
    )
    sid = _text(body, "account_sid", 34, required=True)
    if not ACCOUNT_SID.match(sid):
        raise FormError(
            "account_sid", "account_sid is AC followed by 32 hexadecimal characters (Twilio Console)"
        )
    settings = {"account_sid": sid, "default_region": region(body.get("default_region"))}
    settings["shop_name"] = _text(body, "shop_name", 60)
    settings["help_text"] = _text(body, "help_text", 320)
    if body.get("from_number"):
        settings["from_number"] = phone(
            body["from_number"], settings["default_region"] or None, "from_number"
        )
    service = _text(body, "messaging_service_sid", 34)
    if service and not SERVICE_SID.match(service):
        raise FormError(
            "messaging_service_sid", "messaging_service_sid is MG followed by 32 hexadecimal characters"
        )
    if service:
        settings["messaging_service_sid"] = service
    if not settings.get("from_number") and not service:
        raise FormError("from_number", "give a sender number (from_number) or a Messaging Service SID")
    token = body.get("auth_token")
    if token is None or (isinstance(token, str) and not token.strip()):
        if not token_stored:
            raise FormError("auth_token", "auth_token is required (Twilio Console, next to the account SID)")
        return settings, None
    if not isinstance(token, str) or not 16 <= len(token.strip()) <= 128 or re.search(r"\s", token.strip()):
        raise FormError("auth_token", "auth_token is 16-128 characters without spaces")
    return settings, token.strip()


def clock(value: Any, field: str) -> time:
    if not isinstance(value, str) or not HHMM.match(value):
        raise FormError(field, f"{field} is a time like 08:00 (24-hour clock)")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FormError(field, f"{field} is a whole number from {low} to {high}")
    return value


def timezone(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise FormError("timezone", "timezone is an IANA zone like America/New_York")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FormError("timezone", f"{value!r} is not a time zone (like America/New_York)") from exc
    return value


def holdouts(value: Any) -> dict[str, float]:
    """``{"agent": share}`` with shares from 0 to 0.5 (half the shoppers held out at most)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 50:
        raise FormError("holdouts", 'holdouts is an object like {"browse_abandonment": 0.1}')
    out: dict[str, float] = {}
    for agent, share in value.items():
        if not isinstance(agent, str) or not AGENT.match(agent):
            raise FormError("holdouts", f"{str(agent)[:40]!r} is not an agent name")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 0.5:
            raise FormError("holdouts", f"the holdout share of {agent} is a number from 0 to 0.5")
        out[agent] = float(share)
    return out
