"""The ingest bench's load generators, both on raw loopback sockets with a deadline per request (a hung
server counts failures instead of hanging the run):

- ``drive``: a new connection per request, as Shopify opens them; client processes each keep a bounded
  number of requests in flight and send a fixed list of requests.
- ``drive_keepalive``: wrk-style, a fixed number of persistent HTTP/1.1 connections, each sending its next
  request as soon as the answer to the last one is read, for a fixed time; throughput counts the answers
  read before the time was up. Requests still in flight then are read too (they are counted as sent, for
  the loss check) but not in the throughput. A connection the server closes is opened again.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.bench.servers import client_pool

CLIENT_TIMEOUT_S = 30.0
Result = tuple[float, int, int]  # (latency ms, HTTP status or 0 when the request failed, request index)


class _Request:
    __slots__ = ("sock", "raw", "index", "sent", "chunks", "started", "deadline")

    def __init__(self, sock: socket.socket, raw: bytes, index: int, started: float) -> None:
        self.sock, self.raw, self.index, self.sent, self.chunks = sock, raw, index, 0, []
        self.started, self.deadline = started, started + CLIENT_TIMEOUT_S


def _status(chunks: list[bytes]) -> int:
    head = b"".join(chunks).split(b"\r\n", 1)[0].decode("latin-1")
    try:
        return int(head.split(" ", 2)[1]) if head.startswith("HTTP/") else 0
    except (IndexError, ValueError):
        return 0


def run_client(args: tuple[int, Sequence[tuple[int, bytes]], int]) -> list[Result]:
    """Send every (index, request) to 127.0.0.1:``port``, at most ``inflight`` at a time, each on a new
    connection that the server closes after its answer."""
    port, requests, inflight = args
    sel = selectors.DefaultSelector()
    results: list[Result] = []
    todo = list(reversed(requests))
    active: dict[int, _Request] = {}

    def finish(req: _Request, status: int) -> None:
        sel.unregister(req.sock)
        req.sock.close()
        del active[id(req)]
        results.append(((time.perf_counter() - req.started) * 1000, status, req.index))

    while todo or active:
        while todo and len(active) < inflight:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            index, raw = todo.pop()
            req = _Request(sock, raw, index, time.perf_counter())
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
    """All ``requests`` from ``processes`` client processes (``inflight`` each); (results, wall seconds).
    Each result's index is its request's position in ``requests``."""
    indexed = list(enumerate(requests))
    with client_pool(processes) as pool:
        t0 = time.perf_counter()
        parts = pool.map(run_client, [(port, indexed[i::processes], inflight) for i in range(processes)])
        wall = time.perf_counter() - t0
    return [r for p in parts for r in p], wall


# --- keep-alive ------------------------------------------------------------------------------------


@dataclass(slots=True)
class KeepAliveRun:
    """What one client process (or, merged, a whole round) saw."""

    seconds: float = 0.0  # the measuring window
    results: list[tuple[float, int]] = field(default_factory=list)  # (ms, status) answered in the window
    late: list[int] = field(default_factory=list)  # statuses of the requests answered after the window
    acked: list[str] = field(default_factory=list)  # event ids answered 2xx (window and late)
    connects: int = 0  # connections opened (``connections`` when none was closed by the server)

    @property
    def sent(self) -> int:
        return len(self.results) + len(self.late)

    def merge(self, other: KeepAliveRun) -> None:
        self.seconds = max(self.seconds, other.seconds)
        self.results += other.results
        self.late += other.late
        self.acked += other.acked
        self.connects += other.connects


class _Conn:
    __slots__ = ("sock", "out", "buf", "event_id", "started", "need")

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.out, self.buf, self.event_id, self.started, self.need = b"", b"", "", 0.0, -1


def _answer(buf: bytes) -> tuple[int, int, bool] | None:
    """(status, bytes of the whole answer, server closes) once ``buf`` holds a complete answer."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return 0, len(buf), True
    length, close = 0, lines[0].startswith("HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip() or 0)
        elif name == "connection":
            close = value.strip().lower() == "close"
    total = end + 4 + length
    return (status, total, close) if len(buf) >= total else None


def run_keepalive(args: tuple[int, bytes, bytes, str, int, float]) -> KeepAliveRun:
    """``connections`` persistent connections to 127.0.0.1:``port`` for ``seconds``. Each request is
    ``head`` + ``X-Shopify-Event-Id: <prefix>-<n>`` + ``tail`` (headers' end and body), n counting up."""
    port, head, tail, prefix, connections, seconds = args
    sel = selectors.DefaultSelector()
    run, seq = KeepAliveRun(seconds=seconds), 0

    def send_next(conn: _Conn) -> None:
        nonlocal seq
        seq += 1
        conn.event_id = f"{prefix}-{seq}"
        out = head + f"X-Shopify-Event-Id: {conn.event_id}\r\n".encode() + tail
        conn.buf, conn.started = b"", time.perf_counter()
        try:  # straight away: the socket buffer nearly always takes the whole request
            out = out[conn.sock.send(out) :]
        except BlockingIOError:
            pass
        except OSError:  # the connection broke: the read that follows fails and counts it
            out = b""
        conn.out = out
        if out:
            sel.modify(conn.sock, selectors.EVENT_WRITE, conn)

    def open_conn() -> _Conn:
        conn = _Conn(port)
        run.connects += 1
        sel.register(conn.sock, selectors.EVENT_READ, conn)
        return conn

    def drop(conn: _Conn) -> None:
        live.discard(conn)
        sel.unregister(conn.sock)
        conn.sock.close()

    def done(conn: _Conn, status: int, closed: bool) -> None:
        """Record the answer (status 0: the request failed), then send the next request on this
        connection, or on a new one when the server closed it; nothing new once the time is up."""
        now = time.perf_counter()
        if now <= stop:
            run.results.append(((now - conn.started) * 1000, status))
        else:
            run.late.append(status)
        if 200 <= status < 300:
            run.acked.append(conn.event_id)
        if closed or status == 0:
            drop(conn)
            if now > stop:
                return
            conn = open_conn()
            live.add(conn)
        if now <= stop:
            send_next(conn)
        else:
            drop(conn)

    start = time.perf_counter()
    stop = start + seconds
    live = {open_conn() for _ in range(connections)}
    for conn in list(live):
        send_next(conn)
    while live:
        for key, _ in sel.select(timeout=0.5):
            conn = key.data
            try:
                if conn.out:
                    sent = conn.sock.send(conn.out)
                    conn.out = conn.out[sent:]
                    if not conn.out:
                        sel.modify(conn.sock, selectors.EVENT_READ, conn)
                    continue
                data = conn.sock.recv(65536)
            except OSError:
                done(conn, 0, True)
                continue
            if not data:
                done(conn, 0, True)
                continue
            conn.buf += data
            answer = _answer(conn.buf)
            if answer is not None:
                done(conn, answer[0], answer[2])
        now = time.perf_counter()
        for conn in [c for c in live if now - c.started > CLIENT_TIMEOUT_S]:
            done(conn, 0, True)
    sel.close()
    return run


def drive_keepalive(
    port: int, head: bytes, tail: bytes, prefix: str, processes: int, connections: int, seconds: float
) -> KeepAliveRun:
    """``connections`` persistent connections in all, spread over ``processes`` client processes, for
    ``seconds``; event ids ``<prefix>-<process>-<n>``."""
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    jobs = [(port, head, tail, f"{prefix}-{i}", n, seconds) for i, n in enumerate(shares) if n]
    merged = KeepAliveRun(seconds=seconds)
    with client_pool(len(jobs)) as pool:
        for part in pool.map(run_keepalive, jobs):
            merged.merge(part)
    return merged
