"""Gorgias's and Zendesk's ticket APIs, served on 127.0.0.1 for tests and the demo (one server per desk):

- Zendesk: ``GET /{account}/api/v2/tickets.json?external_id=`` and ``POST /{account}/api/v2/tickets.json``
  (``{"ticket": {...}}``; basic auth ``email/token:api_token``; a repeated ``Idempotency-Key`` returns the
  first ticket, as Zendesk does);
- Gorgias: ``GET /{account}/api/tickets?external_id=`` (``{"data": [...]}``) and ``POST /{account}/api/tickets``
  (basic auth ``email:api_key``; a ticket without messages is refused with 400, as Gorgias refuses it).

The adapters (``app.channels.helpdesk``) reach it with the URL template ``helpdesk.url_template``
(``http://127.0.0.1:port/{account}``). ``fail_next(503)`` answers the next requests with that status;
``drop_next_answer()`` creates the next ticket and closes the connection without answering (a client then does
not know whether it was made); ``tickets`` holds every ticket made.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from app.channels.loopback_http import JsonHandler, LoopbackHttpServer


@dataclass
class _State:
    provider: str
    accounts: dict[str, tuple[str, str]]  # account -> (user, password) as basic auth carries them
    tickets: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, int] = field(default_factory=dict)  # Zendesk Idempotency-Key -> ticket id
    faults: deque[int] = field(default_factory=deque)
    drop: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(JsonHandler):
    def _route(self) -> tuple[str, str, dict[str, str]] | None:
        """(account, the API path after it, query) once the basic auth is the account's, else None (answered)."""
        parts = urlsplit(self.path)
        account, _, rest = parts.path.strip("/").partition("/")
        creds = self.server.state.accounts.get(account)
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        if creds is None or scheme.lower() != "basic" or (user, password) != creds:
            self._answer(401, {"error": "Couldn't authenticate you"})
            return None
        return account, "/" + rest, dict(parse_qsl(parts.query))

    def _paths(self) -> str:
        return "/api/v2/tickets.json" if self.server.state.provider == "zendesk" else "/api/tickets"

    def do_GET(self) -> None:  # noqa: N802
        route = self._route()
        if route is None:
            return
        account, path, query = route
        if path != self._paths():
            return self._answer(404, {"error": "InvalidEndpoint"})
        state = self.server.state
        with state.lock:
            found = [t for t in state.tickets if t["account"] == account
                     and (not query.get("external_id") or t.get("external_id") == query["external_id"])]  # fmt: skip
        if state.provider == "zendesk":
            return self._answer(200, {"tickets": found, "count": len(found), "next_page": None})
        return self._answer(200, {"data": found, "meta": {"next_cursor": None}})

    def do_POST(self) -> None:  # noqa: N802
        state = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = self._route()
        if route is None:
            return
        account, path, _ = route
        with state.lock:
            fault = state.faults.popleft() if state.faults else None
        if path != self._paths():
            return self._answer(404, {"error": "InvalidEndpoint"})
        if fault is not None:
            return self._answer(fault, {"error": "Unavailable"})
        try:
            body = json.loads(raw)
        except ValueError:
            return self._answer(400, {"error": "Unprocessable JSON"})
        ticket = body.get("ticket") if state.provider == "zendesk" else body
        if not isinstance(ticket, dict):
            return self._answer(400, {"error": "RecordInvalid"})
        if state.provider == "zendesk" and not (ticket.get("comment") or {}).get("body"):
            return self._answer(
                422, {"error": "RecordInvalid", "description": "Description: cannot be blank"}
            )
        if state.provider == "gorgias" and not ticket.get("messages"):
            return self._answer(400, {"error": "messages: Missing data for required field."})
        key = self.headers.get("Idempotency-Key")
        with state.lock:
            existing = state.keys.get(f"{account}:{key}") if key and state.provider == "zendesk" else None
            if existing is None:
                made = {**ticket, "id": len(state.tickets) + 1001, "account": account, "status": "open"}
                state.tickets.append(made)
                if key:
                    state.keys[f"{account}:{key}"] = made["id"]
            else:
                made = next(t for t in state.tickets if t["id"] == existing)
            drop = state.drop > 0
            state.drop -= 1 if drop else 0
        if drop:  # made, but the answer never arrives
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._answer(201, {"ticket": made} if state.provider == "zendesk" else made)


class LoopbackHelpDesk(LoopbackHttpServer):
    """``with LoopbackHelpDesk("zendesk", {"acme": ("agent@acme.test", "tok")}) as desk: …``; the
    credentials are those the adapter is given (Zendesk's user becomes ``email/token``)."""

    handler = _Handler
    state: _State

    def __init__(self, provider: str, accounts: dict[str, tuple[str, str]], port: int = 0) -> None:
        if provider not in ("zendesk", "gorgias"):
            raise ValueError("the stand-in serves zendesk or gorgias")
        creds = {a: (f"{e}/token" if provider == "zendesk" else e, t) for a, (e, t) in accounts.items()}
        super().__init__(_State(provider=provider, accounts=creds), port)

    @property
    def url_template(self) -> str:
        return f"http://127.0.0.1:{self._port}/{{account}}"

    @property
    def tickets(self) -> list[dict[str, Any]]:
        return self.state.tickets

    def fail_next(self, status: int, times: int = 1) -> None:
        with self.state.lock:
            self.state.faults.extend([status] * times)

    def drop_next_answer(self) -> None:
        with self.state.lock:
            self.state.drop += 1


__all__ = ["LoopbackHelpDesk"]
