"""The plumbing the channels' loopback stand-ins share (tests and demo only, contract ``loopback-channels``):
a threaded HTTP server on 127.0.0.1 that hands its handlers the stand-in's ``state``, started on a daemon
thread and stopped with ``stop()`` or by leaving a ``with`` block, and a request handler that answers JSON.

A stand-in subclasses ``LoopbackHttpServer`` and names its handler class (``handler``); the handler
subclasses ``JsonHandler`` and reads the shared state from ``self.server.state``. ``inbox_page`` is what a
stand-in whose URL the demo prints answers a browser's ``GET /``: what it received, newest first.
"""

from __future__ import annotations

import html
import json
import socket
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inbox_page(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], links: Sequence[str] | None = None
) -> bytes:
    """An HTML page listing what a stand-in received, newest first (every value escaped): what a person who
    opens the stand-in's URL in a browser sees instead of an unsupported method. ``links``: where each row's
    first cell leads (the whole message)."""

    def cell(value: Any, href: str | None) -> str:  # noqa: ANN401
        text = html.escape(str(value) if value is not None else "")
        return f'<td><a href="{html.escape(href)}">{text}</a></td>' if href else f"<td>{text}</td>"

    hrefs = list(links) if links is not None else [None] * len(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(cell(v, href if i == 0 else None) for i, v in enumerate(row)) + "</tr>"
        for row, href in reversed(list(zip(rows, hrefs, strict=True)))
    )
    empty = "" if rows else "<p>Nothing received yet.</p>"
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}</style>"
        f"<h1>{html.escape(title)}</h1><p>{len(rows)} received.</p>{empty}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></html>"
    ).encode()


def send_html(handler: BaseHTTPRequestHandler, page: bytes, *, policy: str | None = None) -> None:
    """``page`` as a 200 HTML answer; ``policy``: its Content-Security-Policy."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    if policy:
        handler.send_header("Content-Security-Policy", policy)
    handler.send_header("Content-Length", str(len(page)))
    handler.end_headers()
    handler.wfile.write(page)


class StartStop:
    """``with stand_in: …`` starts it and stops it however the block ends."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StateServer(ThreadingHTTPServer):
    """A threaded HTTP server whose request threads do not keep the process alive, carrying ``state``."""

    daemon_threads = True
    state: Any


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler with ``_answer(status, body)`` for a JSON answer."""

    server: StateServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LoopbackHttpServer(StartStop):
    """Serves ``handler`` on ``127.0.0.1:port`` (a free one unless given), sharing ``state`` with it."""

    handler: ClassVar[type[JsonHandler]]

    def __init__(self, state: Any, port: int = 0) -> None:
        self.state = state
        self._port = port or free_port()
        self._server: StateServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> Self:
        self._server = StateServer(("127.0.0.1", self._port), self.handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (the port then refuses connections); stopping twice is harmless."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
