"""What Meta's webhooks for Messenger and Instagram carry, read without trusting it: the verify handshake, the
``X-Hub-Signature-256`` check (HMAC-SHA256 of the raw body with the Meta app's secret) and the text messages
in a ``page`` or ``instagram`` notification. Pure: bytes and strings in, plain data or ``ValueError`` out.

A notification is a JSON object ``{"object": "page" | "instagram", "entry": [{"id", "time", "messaging":
[{"sender": {"id"}, "recipient": {"id"}, "timestamp", "message": {"mid", "text", "is_echo"?}}]}]}``. Echoes of
the page's own messages, deliveries, reads, reactions and attachments without text are no question and are
skipped; anything that is not this shape is malformed (``ValueError``: the ingress answers 400).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PLATFORMS = {"page": "messenger", "instagram": "instagram"}
MAX_TEXT = 2000


@dataclass(frozen=True)
class InboundMessage:
    platform: str  # messenger | instagram
    account_id: str  # the Page (or Instagram account) it was sent to: the entry's id
    sender_id: str  # the person's page-scoped id
    mid: str  # the message id (Meta retries a notification: the same mid arrives again)
    text: str
    sent_at: datetime


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``sha256=<hex>``) is the HMAC-SHA256 of ``body`` with ``app_secret``."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def handshake(args: dict[str, str], verify_token: str) -> str | None:
    """The challenge to echo for a subscription check (``hub.mode=subscribe`` with our verify token), else
    None (the ingress answers 403)."""
    given = args.get("hub.verify_token") or ""
    if args.get("hub.mode") != "subscribe" or not verify_token:
        return None
    if not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    challenge = args.get("hub.challenge") or ""
    return challenge if challenge and len(challenge) <= 256 else None


def _id(value: Any, what: str) -> str:
    got = value.get("id") if isinstance(value, dict) else None
    if isinstance(got, int) and not isinstance(got, bool):
        got = str(got)
    if not isinstance(got, str) or not got.isdigit() or len(got) > 64:
        raise ValueError(f"{what} has no numeric id")
    return got


def messages(body: bytes) -> list[InboundMessage]:
    """The text messages a notification carries, oldest first (``ValueError`` when it is malformed)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the body is not JSON") from exc
    if not isinstance(data, dict) or data.get("object") not in PLATFORMS:
        raise ValueError("not a page or instagram notification")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise ValueError("entry must be a list")
    found: list[InboundMessage] = []
    for entry in entries:
        account = _id(entry, "an entry")
        events = entry.get("messaging", [])
        if not isinstance(events, list):
            raise ValueError("messaging must be a list")
        for event in events:
            if not isinstance(event, dict):
                raise ValueError("a messaging event must be an object")
            message = event.get("message")
            if message is None:  # a delivery, read, reaction or postback: no question
                continue
            if not isinstance(message, dict):
                raise ValueError("message must be an object")
            if message.get("is_echo"):  # the page's own message, sent back to it
                continue
            text, mid = message.get("text"), message.get("mid")
            if not isinstance(mid, str) or not mid or len(mid) > 255:
                raise ValueError("a message has no mid")
            if text is None:  # an attachment only
                continue
            if not isinstance(text, str):
                raise ValueError("a message's text must be a string")
            if not text.strip():
                continue
            stamp = event.get("timestamp")
            if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not 0 < stamp < 1e14:
                raise ValueError("a messaging event has no timestamp")
            found.append(
                InboundMessage(
                    platform=PLATFORMS[data["object"]],
                    account_id=account,
                    sender_id=_id(event.get("sender"), "a message's sender"),
                    mid=mid,
                    text=text[:MAX_TEXT],
                    sent_at=datetime.fromtimestamp(stamp / 1000, UTC),
                )
            )
    return found
