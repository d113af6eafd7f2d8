"""The ingest bench's load generator: client processes on raw loopback sockets, each keeping a bounded
number of requests in flight (a new connection per request, as Shopify opens them), with a deadline per
request so a hung server counts failures instead of hanging the run."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Sequence

from app.bench.servers import client_pool

CLIENT_TIMEOUT_S = 30.0
Result = tuple[float, int]  # (latency ms, HTTP status; 0 when the request failed)


class _Request:
    __slots__ = ("sock", "raw", "sent", "chunks", "started", "deadline")

    def __init__(self, sock: socket.socket, raw: bytes, started: float) -> None:
        self.sock, self.raw, self.sent, self.chunks = sock, raw, 0, []
        self.started, self.deadline = started, started + CLIENT_TIMEOUT_S


def _status(chunks: list[bytes]) -> int:
    head = b"".join(chunks).split(b"\r\n", 1)[0].decode("latin-1")
    try:
        return int(head.split(" ", 2)[1]) if head.startswith("HTTP/") else 0
    except (IndexError, ValueError):
        return 0


def run_client(args: tuple[int, Sequence[bytes], int]) -> list[Result]:
    """Send every request in ``requests`` to 127.0.0.1:``port``, at most ``inflight`` at a time."""
    port, requests, inflight = args
    sel = selectors.DefaultSelector()
    results: list[Result] = []
    todo = list(reversed(requests))
    active: dict[int, _Request] = {}

    def finish(req: _Request, status: int) -> None:
        sel.unregister(req.sock)
        req.sock.close()
        del active[id(req)]
        results.append(((time.perf_counter() - req.started) * 1000, status))

    while todo or active:
        while todo and len(active) < inflight:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            req = _Request(sock, todo.pop(), time.perf_counter())
            active[id(req)] = req
            sock.connect_ex(("127.0.0.1", port))
            sel.register(sock, selectors.EVENT_WRITE, req)
        for key, _ in sel.select(timeout=1.0):
            req = key.data
            try:
                if req.sent < len(req.raw):
                    req.sent += req.sock.send(req.raw[req.sent :])
                    if req.sent == len(req.raw):
                        sel.modify(req.sock, selectors.EVENT_READ, req)
                    continue
                data = req.sock.recv(65536)
            except OSError:
                finish(req, 0)
                continue
            if data:
                req.chunks.append(data)
            else:
                finish(req, _status(req.chunks))
        now = time.perf_counter()
        for req in [r for r in active.values() if r.deadline < now]:
            finish(req, 0)
    sel.close()
    return results


def drive(port: int, requests: Sequence[bytes], processes: int, inflight: int) -> tuple[list[Result], float]:
    """All ``requests`` from ``processes`` client processes (``inflight`` each); (results, wall seconds)."""
    with client_pool(processes) as pool:
        t0 = time.perf_counter()
        parts = pool.map(run_client, [(port, requests[i::processes], inflight) for i in range(processes)])
        wall = time.perf_counter() - t0
    return [r for p in parts for r in p], wall
