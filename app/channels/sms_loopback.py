"""The SMS channel's loopback stand-in: a real HTTP server on 127.0.0.1 serving Twilio's Messages endpoint
(``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: basic auth, a form body, Twilio's JSON resource and
error bodies), for tests and the demo. The real ``twilio`` SDK talks to it once its ``api`` domain's
``base_url`` is ``sink.url``.

It keeps every message it accepts (``messages``); ``fail_next(429)`` / ``fail_next(500)`` answers the next
requests with that error before accepting anything; numbers in ``unsubscribed`` are refused with 21610 and
invalid ones with 21211; ``hold`` (an unset ``threading.Event``) makes it keep a message and wait before
answering (a client that times out then has handed the message over). ``status_callback`` and ``inbound`` build
the requests Twilio would send to the app, signed with the account's auth token (``X-Twilio-Signature``).
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from twilio.request_validator import RequestValidator

from app.channels.loopback_http import JsonHandler, LoopbackHttpServer, inbox_page, send_html
from app.channels.sms_text import InvalidNumber, e164, segments

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
ERRORS = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    20503: (503, "Service Unavailable"),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
}


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class SentSms:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    status: str = "queued"


@dataclass(frozen=True)
class SignedRequest:
    """A request Twilio would make to the app: the public URL it signed, the form, and the signature header."""

    url: str
    form: dict[str, str]
    headers: dict[str, str]

    @property
    def path(self) -> str:
        """Path and query, for a test client."""
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def post(self, origin: str | None = None, timeout: float = 10.0) -> requests.Response:
        """POST it over HTTP, to ``origin`` (``http://127.0.0.1:port``) in place of the signed URL's own."""
        parts = urlsplit(self.url)
        if origin:
            o = urlsplit(origin)
            parts = parts._replace(scheme=o.scheme, netloc=o.netloc)
        return requests.post(urlunsplit(parts), data=self.form, headers=self.headers, timeout=timeout)


def sign(url: str, form: dict[str, str], auth_token: str) -> SignedRequest:
    signature = RequestValidator(auth_token).compute_signature(url, form)
    return SignedRequest(url, dict(form), {"X-Twilio-Signature": signature})


@dataclass
class _State:
    accounts: dict[str, str]
    messages: list[SentSms] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)
    faults: deque[int] = field(default_factory=deque)
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    requests: int = 0
    peers: set[tuple[str, int]] = field(default_factory=set)  # client (address, port): one per connection
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(JsonHandler):
    disable_nagle_algorithm = True  # headers and body go out as two writes: without this a kept-alive client
    # waits out the delayed ACK (40 ms) on every request, which Twilio's own servers do not make it do

    def _error(self, code: int, **fmt: str) -> None:
        status, message = ERRORS[code]
        self._answer(
            status,
            {
                "code": code,
                "message": message.format(**fmt),
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
        )

    def _authenticated(self, account_sid: str) -> bool:
        """Basic auth as the account in the path, with its auth token."""
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        token = self.server.state.accounts.get(user)
        if scheme.lower() != "basic" or user != account_sid or token is None:
            return False
        return secrets.compare_digest(token.encode(), password.encode())

    def do_GET(self) -> None:  # noqa: N802 - a person opening the demo's printed URL: the messages it took
        if self.path.split("?")[0] != "/":
            self._answer(404, {"status": 404, "message": "The requested resource was not found"})
            return
        with self.server.state.lock:
            rows = [
                (m.sid, m.to, m.from_ or m.messaging_service_sid, m.body, m.status)
                for m in self.server.state.messages
            ]
        send_html(
            self, inbox_page("SMS sink (Twilio Messages API)", ("SID", "To", "From", "Body", "Status"), rows)
        )

    def do_POST(self) -> None:  # noqa: N802
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        with state.lock:
            state.requests += 1
            state.peers.add(self.client_address[:2])
            fault = state.faults.popleft() if state.faults else None
        match = MESSAGES_PATH.match(urlsplit(self.path).path)
        if match is None:
            return self._error(20404)
        account_sid = match.group(1)
        if not self._authenticated(account_sid):
            return self._error(20003)
        if fault is not None:
            return self._error({429: 20429, 503: 20503}.get(fault, 20500))
        to, body = form.get("To", ""), form.get("Body", "")
        if not to:
            return self._error(21604)
        if not body:
            return self._error(21602)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return self._error(21603)
        try:
            number = e164(to)
        except InvalidNumber:
            return self._error(21211, to=to)
        if number in state.unsubscribed:
            return self._error(21610)
        service = form.get("MessagingServiceSid") or None
        sms = SentSms(
            sid=new_sid("SM"),
            account_sid=account_sid,
            to=number,
            from_=form.get("From") or None,
            messaging_service_sid=service,
            body=body,
            status_callback=form.get("StatusCallback") or None,
            status="accepted" if service and not form.get("From") else "queued",
        )
        with state.lock:
            state.messages.append(sms)
        state.arrived.set()
        if state.hold is not None:
            state.hold.wait(30)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        self._answer(
            201,
            {
                "account_sid": account_sid,
                "api_version": "2010-04-01",
                "body": body,
                "date_created": now,
                "date_updated": now,
                "date_sent": None,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": sms.from_,
                "messaging_service_sid": service,
                "num_media": "0",
                "num_segments": str(segments(body).count),
                "price": None,
                "price_unit": "USD",
                "sid": sms.sid,
                "status": sms.status,
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sms.sid}/Media.json"
                },
                "to": number,
                "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sms.sid}.json",
            },
        )


class LoopbackTwilio(LoopbackHttpServer):
    """``with LoopbackTwilio({sid: token}) as sink: …`` serves the Messages API on ``sink.url``."""

    handler = _Handler
    state: _State

    def __init__(self, accounts: dict[str, str] | None = None, port: int = 0) -> None:
        super().__init__(_State(accounts=dict(accounts or {})), port)

    @property
    def messages(self) -> list[SentSms]:
        return self.state.messages

    @property
    def unsubscribed(self) -> set[str]:
        return self.state.unsubscribed

    @property
    def connections(self) -> int:
        """How many HTTP connections have posted to it (a kept-alive client counts once)."""
        return len(self.state.peers)

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with HTTP ``status`` (429, 503, else 500) and accept nothing."""
        with self.state.lock:
            self.state.faults.extend([status] * times)

    def hold(self) -> threading.Event:
        """Keep the next messages and answer only once the returned event is set."""
        self.state.hold = threading.Event()
        return self.state.hold

    def stop(self) -> None:
        """Stop serving (the port then refuses connections); stopping twice is harmless."""
        if self.state.hold is not None:
            self.state.hold.set()
        super().stop()

    def status_callback(self, sid: str, status: str, error_code: int | None = None) -> SignedRequest:
        """Twilio's status callback for a message it accepted, signed with its account's auth token."""
        sms = next(m for m in self.messages if m.sid == sid)
        if not sms.status_callback:
            raise ValueError(f"message {sid} was sent without a status callback URL")
        sms.status = status
        form = {
            "ApiVersion": "2010-04-01",
            "AccountSid": sms.account_sid,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": sms.to,
            "From": sms.from_ or "",
        }
        if sms.messaging_service_sid:
            form["MessagingServiceSid"] = sms.messaging_service_sid
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return sign(sms.status_callback, form, self.state.accounts[sms.account_sid])

    def inbound(self, url: str, account_sid: str, from_: str, to: str, body: str) -> SignedRequest:
        """An incoming SMS as Twilio posts it to the number's webhook ``url``, signed for ``account_sid``."""
        sid = new_sid("SM")
        form = {
            "ApiVersion": "2010-04-01",
            "AccountSid": account_sid,
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(segments(body).count or 1),
        }
        return sign(url, form, self.state.accounts[account_sid])
