"""Meta's Graph API Send API, served on 127.0.0.1 for tests and the demo: ``POST /{version}/{page_id}/messages``
with the page's access token (query or body), answered as Meta answers (``{"recipient_id", "message_id"}``, or
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``). The adapter (``app.channels.meta``)
talks to it once its ``graph_url`` is ``graph.url``.

It keeps every message it accepts (``messages``); ``fail_next(500)`` (or 429, or a Graph error code such as
190 for a bad token) answers the next requests with that error; a RESPONSE to a person whose last message is
older than 24 hours, or a HUMAN_AGENT reply after seven days, is refused with code 10 / 2018278 as Meta does
(``last_message_at``). ``notification`` builds the signed webhook POST Meta would send to the app.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from app.channels.loopback_http import JsonHandler, LoopbackHttpServer
from app.channels.meta_webhook import sign

WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


@dataclass
class SentMessage:
    page_id: str
    recipient_id: str
    text: str
    messaging_type: str
    tag: str | None
    message_id: str


@dataclass(frozen=True)
class Notification:
    """A webhook POST as Meta sends it: the raw JSON body and its headers."""

    body: bytes
    headers: dict[str, str]


@dataclass
class _State:
    pages: dict[str, str]  # page id -> its access token
    messages: list[SentMessage] = field(default_factory=list)
    last_message_at: dict[str, datetime] = field(default_factory=dict)  # person -> their latest message
    faults: deque[int] = field(default_factory=deque)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(JsonHandler):
    disable_nagle_algorithm = True

    def _error(self, status: int, code: int, message: str, subcode: int | None = None) -> None:
        error = {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": secrets.token_hex(8),
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        self._answer(status, {"error": error})

    def do_POST(self) -> None:  # noqa: N802
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        with state.lock:
            state.requests += 1
            fault = state.faults.popleft() if state.faults else None
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 3 or not segments[0].startswith("v") or segments[2] != "messages":
            return self._error(400, 100, "Unknown path components")
        page_id = segments[1]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._error(400, 100, "Invalid JSON")
        token = dict(parse_qsl(parts.query)).get("access_token") or body.get("access_token")
        expected = state.pages.get(page_id)
        if expected is None or not token or not secrets.compare_digest(expected, token):
            return self._error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if fault is not None:
            if fault >= 500 or fault == 429:
                return self._error(
                    fault, 2, "An unexpected error has occurred. Please retry your request later."
                )
            return self._error(400, fault, "Error from the stand-in")
        recipient = (body.get("recipient") or {}).get("id")
        text = (body.get("message") or {}).get("text")
        kind, tag = body.get("messaging_type"), body.get("tag")
        if not recipient or not isinstance(text, str) or not text:
            return self._error(400, 100, "(#100) The parameter recipient and message are required")
        if len(text) > 2000:
            return self._error(
                400, 100, "(#100) Length of param message[text] must be less than or equal to 2000"
            )
        if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG") or (kind == "MESSAGE_TAG") != bool(tag):
            return self._error(400, 100, "(#100) Invalid messaging_type or tag")
        last = state.last_message_at.get(recipient)
        window = HUMAN_AGENT_WINDOW if tag == "HUMAN_AGENT" else WINDOW
        if last is None or datetime.now(UTC) - last > window:
            return self._error(
                400, 10, "(#10) This message is sent outside of allowed window.", subcode=2018278
            )
        sent = SentMessage(page_id, recipient, text, kind, tag, "m_" + secrets.token_urlsafe(24))
        with state.lock:
            state.messages.append(sent)
        self._answer(200, {"recipient_id": recipient, "message_id": sent.message_id})


class LoopbackGraph(LoopbackHttpServer):
    """``with LoopbackGraph({page_id: token}) as graph: …`` serves the Send API on ``graph.url``."""

    handler = _Handler
    state: _State

    def __init__(self, pages: dict[str, str] | None = None, port: int = 0) -> None:
        super().__init__(_State(pages=dict(pages or {})), port)

    @property
    def messages(self) -> list[SentMessage]:
        return self.state.messages

    def fail_next(self, status_or_code: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with HTTP 429/5xx, or with Graph error ``code`` (HTTP 400)."""
        with self.state.lock:
            self.state.faults.extend([status_or_code] * times)

    def notification(
        self,
        app_secret: str,
        account_id: str,
        sender_id: str,
        text: str,
        *,
        platform: str = "page",
        sent_at: datetime | None = None,
        mid: str | None = None,
    ) -> Notification:
        """The webhook POST for one text message from ``sender_id`` to the page (or Instagram account)
        ``account_id``, signed with the Meta app's secret; the person may be answered for 24 hours after it."""
        when = sent_at or datetime.now(UTC)
        with self.state.lock:
            self.state.last_message_at[sender_id] = when
        stamp = int(when.timestamp() * 1000)
        event = {
            "sender": {"id": sender_id},
            "recipient": {"id": account_id},
            "timestamp": stamp,
            "message": {"mid": mid or "m_" + secrets.token_urlsafe(24), "text": text},
        }
        payload = {
            "object": platform,
            "entry": [{"id": account_id, "time": int(time.time() * 1000), "messaging": [event]}],
        }
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(app_secret, body)}
        return Notification(body, headers)
