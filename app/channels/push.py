"""The web push channel (RFC 8030 with VAPID, RFC 8292, and aes128gcm payload encryption, RFC 8291), with
``pywebpush``.

One message goes to every browser the shopper subscribed (``OutgoingMessage.extra["subscriptions"]``), as a
small JSON notification (title, body, url) the service worker shows. Each push service answer is sorted:
201/202 accepted (its ``Location`` is the provider id); 404/410 the subscription is gone (the relay deletes
it); 429 and 5xx, or no connection, are worth another try; other 4xx are refusals; a connection that breaks
after the request went out may have been accepted. The message is accepted when any browser accepted it
(the others are not tried again: at most once per shopper); otherwise the most hopeful failure is raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from py_vapid import Vapid
from pywebpush import WebPushException, webpush
from urllib3.exceptions import NameResolutionError, NewConnectionError

from app.channels.base import (
    Accepted,
    AmbiguousError,
    OutgoingMessage,
    PermanentError,
    SendError,
    TransientError,
)

MAX_TITLE, MAX_BODY = 120, 400
MAX_TTL_S = 28 * 24 * 3600
GONE = (404, 410)


@dataclass(frozen=True)
class PushTarget:
    """One browser's subscription: the id the relay deletes it by, and what ``PushManager`` gave."""

    id: str
    endpoint: str
    p256dh: str
    auth: str

    def info(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def notification(message: OutgoingMessage) -> dict[str, Any]:
    """What the service worker shows: the message's subject (or heading), its first paragraph (or the
    template's ``body``) and the link it opens."""
    data = message.data
    title = str(
        data.get("push_title") or data.get("subject") or data.get("heading") or message.sender.shop_name
    )
    paragraphs = data.get("paragraphs")
    body = (
        data.get("push_body")
        or data.get("body")
        or (paragraphs[0] if isinstance(paragraphs, list) and paragraphs else "")
    )
    url = data.get("cta_url") or data.get("url") or "/"
    return {
        "title": title[:MAX_TITLE],
        "body": str(body)[:MAX_BODY],
        "url": str(url)[:512],
        "tag": f"attune-{message.outbox_id}",
    }


def _before_request(exc: requests.RequestException) -> bool:
    """True when the request never reached the push service (no connection could be made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen, cause = set(), exc.args[0] if exc.args else None
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, NewConnectionError | NameResolutionError | ConnectionRefusedError):
            return True
        cause = getattr(cause, "reason", None) or cause.__cause__ or cause.__context__
    return False


class PushChannel:
    """Sends one notification to each of a shopper's browsers, signed with the shop's VAPID key."""

    name = "push"

    def __init__(self, vapid_private_pem: str, subject: str, timeout_s: float = 10.0) -> None:
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("a VAPID subject is a mailto: or https: URL")
        self.vapid = Vapid.from_pem(vapid_private_pem.encode())
        self.subject = subject
        self.timeout_s = timeout_s

    def _one(self, target: PushTarget, payload: str, ttl: int) -> str:
        """The push service's message id, or a ``SendError`` (``gone`` set for 404/410)."""
        try:
            response = webpush(
                target.info(),
                payload,
                vapid_private_key=self.vapid,
                vapid_claims={"sub": self.subject},
                ttl=ttl,
                timeout=self.timeout_s,
                headers={"Urgency": "normal"},
            )
        except WebPushException as exc:
            code = exc.response.status_code if exc.response is not None else 0
            reason = f"push service answered {code or 'nothing'}"
            if code in GONE:
                error: SendError = PermanentError(f"{reason}: the subscription is gone")
                error.gone = (target.id,)
            elif code == 429 or code >= 500:
                error = TransientError(reason)
            else:
                error = PermanentError(reason)
            raise error from exc
        except requests.RequestException as exc:
            if _before_request(exc):
                raise TransientError(f"push service unreachable: {type(exc).__name__}") from exc
            raise AmbiguousError(f"push service connection lost: {type(exc).__name__}") from exc
        assert isinstance(response, requests.Response)
        return response.headers.get("Location") or f"push-{target.id}"

    def send(self, message: OutgoingMessage) -> Accepted:
        targets: tuple[PushTarget, ...] = tuple(message.extra.get("subscriptions") or ())
        if not targets:
            raise PermanentError("the shopper has no push subscription")
        ttl = max(60, min(MAX_TTL_S, int(message.extra.get("ttl") or 24 * 3600)))
        payload = json.dumps(notification(message), separators=(",", ":"))
        accepted: list[str] = []
        errors: list[SendError] = []
        for target in targets:
            try:
                accepted.append(self._one(target, payload, ttl))
            except SendError as exc:
                errors.append(exc)
        gone = tuple(g for e in errors for g in e.gone)
        if accepted:
            return Accepted(provider_id=" ".join(accepted)[:255], gone=gone)
        kind = next(
            k for k in (AmbiguousError, TransientError, SendError) if any(isinstance(e, k) for e in errors)
        )
        error = (PermanentError if kind is SendError else kind)("; ".join(dict.fromkeys(map(str, errors))))
        error.gone = gone
        raise error
