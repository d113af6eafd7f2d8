"""The SMS channel through Twilio's Messages API, with the official ``twilio`` SDK.

One ``messages.create`` per message: the recipient in E.164 (an invalid number is refused before any request),
the body from ``sms_text.compose`` (marketing names the shop and says how to opt out), and a status callback URL
(``OutgoingMessage.extra["status_callback"]``). Failures are sorted for the relay:

- no connection (refused, DNS, a connect timeout), HTTP 429 or 5xx: ``TransientError`` (not accepted);
- any other 4xx (21211 invalid number, 21610 unsubscribed recipient, 20003 bad credentials): ``PermanentError``;
- a timeout or a dropped connection after the request went out: ``AmbiguousError`` (Twilio may have accepted it).

``api_base_url`` points the SDK's ``api`` domain elsewhere (the loopback stand-in); it defaults to Twilio's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NameResolutionError, NewConnectionError

from app.channels.base import (
    Accepted,
    AmbiguousError,
    OutgoingMessage,
    PermanentError,
    SendError,
    TransientError,
)
from app.channels.sms_text import MAX_BODY_CHARS, InvalidNumber, compose, e164, segments

TIMEOUT_S = 15.0


def _http_error(exc: TwilioRestException | TwilioServiceException) -> SendError:
    status = int(getattr(exc, "status", 0) or 0)
    code = getattr(exc, "code", None)
    text = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
    reason = f"Twilio answered {status} (error {code}): {text}".strip()
    if status == 429 or status >= 500:
        return TransientError(reason)
    return PermanentError(reason)


def _never_connected(exc: BaseException) -> bool:
    """True when the request never reached Twilio: refused, unreachable, or the name did not resolve."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, NewConnectionError | NameResolutionError | ConnectionRefusedError):
            return True
        stack.extend([*e.args, getattr(e, "reason", None), e.__cause__, e.__context__])
    return False


def preload() -> None:
    """Worker start-up (``app.worker.PRELOADS``): import the SDK's Messages API, which ``Client.api`` would
    otherwise import lazily in every work horse (about 60 ms each)."""
    import twilio.rest.api  # noqa: F401  # heavy: the twilio API modules, once per worker, not per job


class SmsChannel:
    """Sends one SMS per call from the shop's Twilio number or Messaging Service."""

    name = "sms"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        default_region: str | None = None,
        api_base_url: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("Twilio needs an account SID and an auth token")
        if not from_number and not messaging_service_sid:
            raise ValueError("Twilio needs a sender number or a Messaging Service SID")
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.default_region = default_region
        # equal keys: interchangeable clients (the relay keeps one, and its connection, across its batches)
        self.key = ("sms", account_sid, auth_token, from_number, messaging_service_sid, default_region,
                    api_base_url, timeout_s)  # fmt: skip
        http = TwilioHttpClient(pool_connections=False, timeout=timeout_s or TIMEOUT_S)
        self.client = Client(account_sid, auth_token, http_client=http)
        if api_base_url:
            self.client.api.base_url = api_base_url.rstrip("/")

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep one HTTP connection to Twilio open for the sends inside the block (the relay's batches);
        outside it every message opens its own."""
        http = self.client.http_client
        if not isinstance(http, TwilioHttpClient) or http.session is not None:
            yield
            return
        http.session = requests.Session()
        try:
            yield
        finally:
            session, http.session = http.session, None
            session.close()

    def body(self, message: OutgoingMessage) -> str:
        """The text that goes out (``PermanentError`` when there is none or it is past Twilio's limit)."""
        try:
            text = compose(
                message.data, marketing=message.purpose == "marketing", shop_name=message.sender.shop_name
            )
        except ValueError as exc:
            raise PermanentError(str(exc)) from exc
        if len(text) > MAX_BODY_CHARS:
            parts = segments(text)
            raise PermanentError(
                f"the SMS is {len(text)} characters ({parts.count} segments); Twilio takes {MAX_BODY_CHARS}"
            )
        return text

    def send(self, message: OutgoingMessage) -> Accepted:
        try:
            to = e164(message.recipient, message.extra.get("default_region") or self.default_region)
        except InvalidNumber as exc:
            raise PermanentError(f"recipient refused: {exc}") from exc
        params: dict[str, Any] = {"to": to, "body": self.body(message)}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if self.from_number:
            params["from_"] = self.from_number
        if message.extra.get("status_callback"):
            params["status_callback"] = message.extra["status_callback"]
        try:
            sent = self.client.messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _http_error(exc) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientError(f"Twilio unreachable: connect timed out ({exc})") from exc
        except requests.exceptions.Timeout as exc:
            raise AmbiguousError(f"no answer from Twilio after the request was sent: {exc}") from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise TransientError(f"Twilio unreachable: {exc}") from exc
            raise AmbiguousError(f"connection to Twilio lost after the request was sent: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise TransientError(f"Twilio request failed before it was sent: {exc}") from exc
        except ValueError as exc:  # a 2xx whose body is not the message resource
            raise AmbiguousError(f"Twilio's answer could not be read: {exc}") from exc
        if not sent.sid:
            raise AmbiguousError("Twilio accepted the request but returned no message SID")
        return Accepted(provider_id=sent.sid)
