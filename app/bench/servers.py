"""What the server benchmarks share: the bare WSGI peer, a free loopback port, waiting for a server."""

from __future__ import annotations

import socket
import time

import click

HELLO_APP = "app.bench.servers:hello_app"


def hello_app(environ, start_response):  # noqa: ANN001 - the peer: the cheapest WSGI answer there is
    body = b'{"hello":"world"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise click.ClickException(f"server on port {port} did not start")
