"""A thin WSGI fast path for ``POST /webhooks``, in front of the Flask app.

Shopify delivers every event here, so ordinary deliveries skip Flask's request context, routing and
response objects. The answer comes from the same function as the Flask route (``webhooks.ingest.receive``:
same checks, same statuses, same JSON), encoded the same way, with the same status line and headers.
Requests it does not take are handed to Flask untouched: any other path or method, no or an oversized
``Content-Length`` (Flask answers 413), and a body shorter than declared (the bytes already read are
replayed to Flask in front of the rest of the stream).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from webhooks import ingest

PATH = "/webhooks"
StartResponse = Callable[..., Any]
_STATUS = {code: f"{code} {HTTP_STATUS_CODES[code].upper()}" for code in (200, 400, 401, 413, 503)}


class _Replay:
    """A ``wsgi.input`` that gives back ``head`` first, then reads on from ``rest``."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(size)
        if size is None or size < 0:
            data, self.head = self.head + self.rest.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data if len(data) == size else data + self.rest.read(size - len(data))

    def readline(self, size: int = -1) -> bytes:
        if not self.head:
            return self.rest.readline(size)
        cut = self.head.find(b"\n") + 1 or len(self.head)
        if size is not None and 0 <= size < cut:
            cut = size
        data, self.head = self.head[:cut], self.head[cut:]
        return data


class WebhookFastPath:
    """``app.wsgi_app = WebhookFastPath(app, app.wsgi_app)``: answers deliveries, else calls ``inner``."""

    def __init__(self, app: Flask, inner: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.inner = inner

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "POST":
            answer = self.answer(environ)
            if answer is not None:
                status, body = answer
                data = ingest.encode(body)
                start_response(
                    _STATUS[status],
                    [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
                )
                return [data]
        return self.inner(environ, start_response)

    def answer(self, environ: dict[str, Any]) -> ingest.Answer | None:
        """(status, JSON body), or None to let Flask answer."""
        cfg = self.app.extensions["attune.settings"]
        declared = environ.get("CONTENT_LENGTH") or ""
        if not declared.isdigit() or int(declared) > cfg.webhook_max_body_bytes:
            return None
        size = int(declared)
        stream = environ["wsgi.input"]
        body = stream.read(size) if size else b""
        if len(body) != size:
            environ["wsgi.input"] = _Replay(body, stream)
            return None

        def header(name: str) -> str | None:
            return environ.get("HTTP_" + name.upper().replace("-", "_"))

        return ingest.receive(cfg, body, header)


def install(app: Flask) -> Flask:
    """Put the fast path in front of the Flask app's own WSGI callable (once)."""
    wsgi: Any = app.wsgi_app
    while wsgi is not None and not isinstance(wsgi, WebhookFastPath):
        wsgi = getattr(wsgi, "inner", None)
    if wsgi is None:
        app.wsgi_app = WebhookFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    return app
