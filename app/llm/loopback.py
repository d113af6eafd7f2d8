"""A loopback stand-in of an OpenAI-compatible ``POST /v1/chat/completions`` endpoint, for the tests and the
demo: it answers each request with ``reply(messages)`` (or the status it is told to fail with) and keeps what
it was asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackChat:
    """``with LoopbackChat(reply) as llm: llm.base_url`` — a chat completions server on 127.0.0.1."""

    def __init__(self, reply: Callable[[list[dict[str, str]]], str], *, api_key: str | None = None) -> None:
        self.reply = reply
        self.api_key = api_key
        self.fail_with: int | None = None
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                owner.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                if owner.api_key and self.headers.get("Authorization") != f"Bearer {owner.api_key}":
                    return self._send(401, {"error": {"message": "bad key"}})
                if owner.fail_with:
                    return self._send(owner.fail_with, {"error": {"message": "failing as told"}})
                text = owner.reply(body.get("messages") or [])
                choice = {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
                return self._send(
                    200, {"id": "chatcmpl-loopback", "object": "chat.completion", "choices": [choice]}
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> LoopbackChat:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
