"""A web push service on loopback for the tests and the demo: a real HTTP server that does what a browser
vendor's push service does with a message, and proves the sender did it right.

``new_subscription()`` plays the browser: it makes a P-256 key pair and an auth secret and returns what
``PushManager.subscribe`` would (endpoint, ``keys.p256dh``, ``keys.auth``), keeping the private key. Each
``POST`` to an endpoint must carry a VAPID ``Authorization: vapid t=<JWT>, k=<key>`` (RFC 8292: ES256 over
the endpoint's origin, ``exp`` within 24 h, a ``mailto:``/``https:`` subject, signed by the key the
subscription was made for), a ``TTL`` and ``Content-Encoding: aes128gcm``; the body is decrypted with the
subscription's private key (RFC 8291, ``http_ece``) and kept in ``received``. Answers: 201 with a
``Location``; 401/403 for a bad signature, 400 for a body that does not decrypt; 410 for an expired
subscription (``expire``); and any status queued with ``answer_next`` (429, 500 …).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.channels.loopback_http import inbox_page, send_html
from app.channels.vapid import b64url, b64url_decode


@dataclass
class _Browser:
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    server_key: str | None  # the applicationServerKey it was made for (None: any)


@dataclass(frozen=True)
class Delivery:
    token: str  # the subscription's path segment
    claims: dict[str, Any]
    vapid_key: str
    ttl: int
    urgency: str | None
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class LoopbackPush:
    """``with LoopbackPush() as service: sub = service.new_subscription(); … service.received``."""

    received: list[Delivery] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._browsers: dict[str, _Browser] = {}
        self._expired: set[str] = set()
        self._queued: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def __enter__(self) -> LoopbackPush:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - a person opening the demo's printed URL: what it decrypted
                if self.path.split("?")[0] != "/":
                    self.send_error(404)
                    return
                with service._lock:
                    rows = [
                        (d.token[:8], d.urgency, d.ttl, d.payload.decode(errors="replace"))
                        for d in service.received
                    ]
                send_html(
                    self,
                    inbox_page("Push sink (decrypted)", ("Subscription", "Urgency", "TTL", "Payload"), rows),
                )

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, reason, location = service._handle(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(reason)))
                self.end_headers()
                self.wfile.write(reason)

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- the browser's side -----------------------------------------------------------------------

    def new_subscription(self, application_server_key: str | None = None) -> dict[str, Any]:
        """What ``PushManager.subscribe`` returns (``toJSON()``), for a new browser."""
        token = secrets.token_urlsafe(16)
        key = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        with self._lock:
            self._browsers[token] = _Browser(key, auth, application_server_key)
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.url}/push/{token}",
            "keys": {"p256dh": b64url(point), "auth": b64url(auth)},
        }

    def expire(self, endpoint: str) -> None:
        """The browser unsubscribed or the subscription lapsed: 410 from now on."""
        with self._lock:
            self._expired.add(endpoint.rsplit("/", 1)[-1])

    def answer_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (before any checks), in order."""
        with self._lock:
            self._queued.extend(statuses)

    # --- the service's side -----------------------------------------------------------------------

    def _reject(self, status: int, reason: str) -> tuple[int, bytes, None]:
        with self._lock:
            self.rejected.append((status, reason))
        return status, reason.encode(), None

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str | None]:
        h = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            forced = self._queued.pop(0) if self._queued else None
        if forced is not None:
            return forced, b"as asked", None
        token = path.rsplit("/", 1)[-1] if path.startswith("/push/") else ""
        browser = self._browsers.get(token)
        if browser is None or token in self._expired:
            return 410, b"no such subscription", None
        try:
            claims, vapid_key = self._verify_vapid(h.get("authorization", ""))
        except ValueError as exc:
            return self._reject(401, f"VAPID rejected: {exc}")
        if browser.server_key is not None and vapid_key != browser.server_key:
            return self._reject(403, "signed by another key than the subscription's applicationServerKey")
        if h.get("content-encoding") != "aes128gcm" or not h.get("ttl", "").isdigit():
            return self._reject(400, "needs Content-Encoding: aes128gcm and a TTL")
        try:
            payload = http_ece.decrypt(
                body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
            )
        except Exception as exc:  # http_ece raises its own and cryptography's errors
            return self._reject(400, f"payload does not decrypt: {type(exc).__name__}")
        with self._lock:
            self.received.append(Delivery(token, claims, vapid_key, int(h["ttl"]), h.get("urgency"), payload))
            n = len(self.received)
        return 201, b"", f"{self.url}/message/{n}"

    def _verify_vapid(self, authorization: str) -> tuple[dict[str, Any], str]:
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError("no 'vapid' Authorization")
        params = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
        token, key = params.get("t", ""), params.get("k", "")
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
            claims = jwt.decode(
                token, public, algorithms=["ES256"], audience=self.url, options={"require": ["exp", "aud"]}
            )
        except (ValueError, jwt.InvalidTokenError) as exc:
            raise ValueError(str(exc) or type(exc).__name__) from exc
        if claims["exp"] > time.time() + 24 * 3600:
            raise ValueError("exp is more than 24 hours ahead")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            raise ValueError("sub must be a mailto: or https: URL")
        return claims, key
