"""The ingest bench's keep-alive client: it keeps its connections, opens a new one when the server
closes one, reads every answer (those after the time is up too), and acknowledges only 2xx answers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.bench.ingest_load import _answer, run_keepalive


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless an answer says otherwise
    seen: list[tuple[str, int]] = []  # (event id, client port)
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        event_id = self.headers["X-Shopify-Event-Id"]
        with self.lock:
            self.seen.append((event_id, self.client_address[1]))
            n = len(self.seen)
        status = 503 if n % 7 == 0 else 200
        body = b'{"ok":true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if n % 5 == 0:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    _Handler.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_keepalive_client_reuses_connections_reopens_closed_ones_and_counts_every_answer(server):
    head = b"POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
    run = run_keepalive((server.server_address[1], head, b"\r\n{}", "t", 3, 0.5))
    seen = _Handler.seen
    assert run.sent == len(seen) > 20
    statuses = [s for _, s in run.results] + run.late
    assert statuses.count(503) == len(seen) // 7 and set(statuses) == {200, 503}
    assert sorted(run.acked) == sorted(e for i, (e, _) in enumerate(seen, 1) if i % 7)  # only the 2xx
    assert len({e for e, _ in seen}) == len(seen)  # every request had its own event id
    closed = len(seen) // 5  # the server closed a connection after every 5th answer; the client opened
    assert closed <= run.connects <= 3 + closed  # a new one for each, but not once the time was up
    assert len({port for _, port in seen}) == run.connects  # and the others were kept


def test_an_answer_is_complete_only_with_its_whole_body():
    assert _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n") is None
    assert _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab") is None
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
    assert _answer(head + b"abcd") == (200, len(head) + 4, False)
    assert _answer(b"HTTP/1.1 503 X\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n")[::2] == (503, True)
    assert _answer(b"garbage\r\n\r\n")[::2] == (0, True)
