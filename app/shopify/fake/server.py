"""A local fake Shopify: a real threaded HTTP server on 127.0.0.1 (random port) for tests and the demo.

Every shop lives under ``/store/<shop>``; point ``SHOPIFY_ADMIN_ORIGIN_TEMPLATE`` at
``fake.origin_template`` (``http://127.0.0.1:<port>/store/{shop}``) and the app's OAuth and Admin API
calls land here. Served:

- ``GET  /store/<shop>/admin/oauth/authorize``     redirect back with code, hmac, state, timestamp, host
- ``POST /store/<shop>/admin/oauth/access_token``  code grant, token exchange, refresh (expiring tokens)
- ``POST /store/<shop>/admin/api/<ver>/graphql.json`` GraphQL with cost accounting and throttling
- ``GET  /store/<shop>/admin/apps/<api_key>``       embedded admin landing, forwards to ``{app_url}/app``
- ``GET  /bulk/<token>.jsonl``                      bulk operation results

Longer than about 400 lines (just): the OAuth endpoints, the tokens they issue and the controls tests use on
them (expire, revoke, grant optional scopes) share one object.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlparse

import jwt
from flask import Flask, Response, abort, jsonify, redirect, request
from werkzeug.serving import WSGIRequestHandler, make_server

from app.shopify.fake import graphql_api
from app.shopify.fake.state import FakeState
from app.shopify.fake.store import ShopStore
from app.shopify.verify import admin_query_hmac, decode_session_token, is_valid_shop_domain

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"
ONLINE_TOKEN = "urn:shopify:params:oauth:token-type:online-access-token"
INVALID_TOKEN_BODY = {
    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
}


@dataclass
class IssuedToken:
    value: str
    kind: str  # "access" | "refresh"
    shop: str
    scopes: str
    expires_at: float | None
    revoked: bool = False

    def valid(self, now: float) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # tests and the demo log what matters
        pass


class FakeShopify(FakeState):
    """One fake Shopify for one app (``api_key``/``api_secret``); start() / stop() or use as a context manager."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        app_url: str | None = None,
        bucket_size: float = 2000.0,
        restore_rate: float = 100.0,
        access_token_ttl: int = 3600,
        refresh_token_ttl: int = 90 * 24 * 3600,
        bulk_polls_until_done: int = 2,
        app_scopes: str = "read_products,read_customers,read_orders,read_inventory,write_pixels,read_customer_events",
    ):
        super().__init__(
            bucket_size=bucket_size, restore_rate=restore_rate, bulk_polls_until_done=bulk_polls_until_done
        )
        self.api_key = api_key
        self.api_secret = api_secret
        self.app_url = app_url.rstrip("/") if app_url else None
        self.webhook_url = f"{self.app_url}/webhooks" if self.app_url else None
        self.webhook_secret = api_secret
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.app_scopes = app_scopes  # what a token exchange grants (the app's configured scopes)
        self.granted_scopes: str | None = None  # None: grant what is asked for
        self.token_latency_s = 0.0
        self.reject_token_exchange = False
        self.tokens: dict[str, IssuedToken] = {}
        self.codes: dict[str, tuple[str, str, float]] = {}  # code -> (shop, scopes, expires)
        self._forced_429: dict[str, list[str]] = {}
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeShopify:
        self._server = make_server(
            "127.0.0.1", 0, self.wsgi_app(), threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-shopify", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeShopify:
        return self.start()

    def __exit__(self, *_exc: Any) -> None:
        self.stop()

    @property
    def origin_template(self) -> str:
        """The value for SHOPIFY_ADMIN_ORIGIN_TEMPLATE."""
        return f"{self.base_url}/store/{{shop}}"

    def origin(self, shop: str) -> str:
        return self.origin_template.format(shop=shop)

    # --- control API for tests and the demo ----------------------------------------------------

    def seed(self, shop: str, **data: list[dict[str, Any]]) -> ShopStore:
        """Fill a shop from plain dicts: ``seed(shop, products=[...], customers=[...], orders=[...])``."""
        store = self.store(shop)
        store.seed(**data)
        return store

    def configure_bucket(
        self,
        shop: str,
        *,
        maximum: float | None = None,
        restore_rate: float | None = None,
        available: float | None = None,
    ) -> None:
        b = self.bucket(shop)
        with self._lock:
            b.level()
            if maximum is not None:
                b.maximum = maximum
            if restore_rate is not None:
                b.restore_rate = restore_rate
            b.available = min(b.maximum, b.available if available is None else available)

    def force_429(self, shop: str, times: int = 1, retry_after: str = "1.0") -> None:
        """Answer the shop's next ``times`` GraphQL calls with HTTP 429 and ``Retry-After``."""
        with self._lock:
            self._forced_429.setdefault(shop, []).extend([retry_after] * times)

    def fail_next_bulk(self, shop: str, error_code: str = "INTERNAL_SERVER_ERROR") -> None:
        self._bulk_failures[shop] = error_code

    def tokens_for(self, shop: str, kind: str | None = None) -> list[IssuedToken]:
        with self._lock:
            return [t for t in self.tokens.values() if t.shop == shop and (kind is None or t.kind == kind)]

    def grant_scopes(self, shop: str, scopes: str) -> None:
        """The merchant grants (or revokes) optional scopes: the shop's tokens now carry ``scopes``, and
        ``app/scopes_update`` is emitted as Shopify does."""
        with self._lock:
            previous = next((t.scopes for t in self.tokens.values() if t.shop == shop), "")
            for tok in self.tokens.values():
                if tok.shop == shop:
                    tok.scopes = scopes
        payload = {
            "id": self.store(shop).next_id(),
            "shop_id": self.store(shop).shop_record()["id"],
            "previous": [s for s in previous.split(",") if s],
            "current": [s for s in scopes.split(",") if s],
            "updated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        self.emit_webhook(self.store(shop), "app/scopes_update", payload)

    def expire_token(self, token: str) -> None:
        with self._lock:
            self.tokens[token].expires_at = time.time() - 1

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self.tokens[token].revoked = True

    def revoke_all(self, shop: str) -> None:
        with self._lock:
            for t in self.tokens.values():
                if t.shop == shop:
                    t.revoked = True

    def session_token(self, shop: str, *, ttl: int = 60, user_id: str = "1", **claims: Any) -> str:
        """An App Bridge session token for ``shop``, signed like Shopify's admin signs them."""
        now = int(time.time())
        payload = {
            "iss": f"https://{shop}/admin",
            "dest": f"https://{shop}",
            "aud": self.api_key,
            "sub": user_id,
            "exp": now + ttl,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_hex(8),
            "sid": secrets.token_hex(8),
        }
        payload.update(claims)
        return jwt.encode(payload, self.api_secret, algorithm="HS256")

    def signed_query(self, shop: str, **params: str) -> dict[str, str]:
        """Query params signed as Shopify signs admin links (``hmac`` added; ``timestamp`` if absent)."""
        params = {"shop": shop, "timestamp": str(int(time.time())), **params}
        params["hmac"] = admin_query_hmac(params.items(), self.api_secret)
        return params

    # --- tokens --------------------------------------------------------------------------------

    def _issue(self, shop: str, scopes: str, *, expiring: bool) -> dict[str, Any]:
        now = time.time()
        access = IssuedToken(
            "shpat_" + secrets.token_hex(16),
            "access",
            shop,
            scopes,
            now + self.access_token_ttl if expiring else None,
        )
        body: dict[str, Any] = {"access_token": access.value, "scope": scopes}
        with self._lock:
            self.tokens[access.value] = access
            if expiring:
                refresh = IssuedToken(
                    "shprt_" + secrets.token_hex(16), "refresh", shop, scopes, now + self.refresh_token_ttl
                )
                self.tokens[refresh.value] = refresh
                body.update(
                    expires_in=self.access_token_ttl,
                    refresh_token=refresh.value,
                    refresh_token_expires_in=self.refresh_token_ttl,
                )
        return body

    def _valid_token(self, value: str | None, shop: str, kind: str) -> IssuedToken | None:
        with self._lock:
            tok = self.tokens.get(value or "")
            if tok and tok.kind == kind and tok.shop == shop and tok.valid(time.time()):
                return tok
        return None

    # --- the HTTP app ----------------------------------------------------------------------------

    def wsgi_app(self) -> Flask:
        fake = self
        app = Flask("fake_shopify")

        def oauth_error(error: str, description: str, status: int = 400) -> tuple[Response, int]:
            return jsonify(error=error, error_description=description), status

        @app.before_request
        def _check_shop():
            shop = (request.view_args or {}).get("shop")
            if shop is not None and not is_valid_shop_domain(shop, allow_dev_domains=True):
                abort(404)

        @app.get("/store/<shop>/admin/oauth/authorize")
        def authorize(shop: str):
            fake.calls["authorize"] += 1
            args = request.args
            if args.get("client_id") != fake.api_key:
                return oauth_error("invalid_request", "Oauth error invalid_request: unknown client_id")
            redirect_uri = args.get("redirect_uri", "")
            if fake.app_url and urlparse(redirect_uri)[:2] != urlparse(fake.app_url)[:2]:
                return oauth_error("invalid_request", "The redirect_uri is not whitelisted")
            if not redirect_uri.startswith(("http://", "https://")):
                return oauth_error("invalid_request", "redirect_uri must be an absolute URL")
            requested = args.get("scope", "")
            granted = requested if fake.granted_scopes is None else fake.granted_scopes
            code = secrets.token_hex(16)
            with fake._lock:
                fake.codes[code] = (shop, granted, time.time() + 600)
            fake.store(shop)
            host = _b64(f"admin.shopify.com/store/{shop.split('.', 1)[0]}")
            params = {"code": code, "host": host, "shop": shop, "state": args.get("state", "")}
            params["timestamp"] = str(int(time.time()))
            params["hmac"] = admin_query_hmac(params.items(), fake.api_secret)
            sep = "&" if "?" in redirect_uri else "?"
            return redirect(f"{redirect_uri}{sep}{urlencode(params)}", code=302)

        @app.post("/store/<shop>/admin/oauth/access_token")
        def access_token(shop: str):
            if fake.token_latency_s:
                time.sleep(fake.token_latency_s)
            body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
            body = body or {}
            if body.get("client_id") != fake.api_key or body.get("client_secret") != fake.api_secret:
                fake.calls["bad_client"] += 1
                return oauth_error("invalid_client", "Client authentication failed", 401)
            expiring = str(body.get("expiring", "0")) == "1"
            grant = body.get("grant_type")
            if grant == TOKEN_EXCHANGE:
                fake.calls["token_exchange"] += 1
                if body.get("subject_token_type") != ID_TOKEN:
                    return oauth_error("invalid_request", "subject_token_type must be an id_token")
                if body.get("requested_token_type") not in (OFFLINE_TOKEN, ONLINE_TOKEN):
                    return oauth_error("invalid_request", "unsupported requested_token_type")
                try:
                    st = decode_session_token(
                        body.get("subject_token", ""),
                        api_key=fake.api_key,
                        secrets=[fake.api_secret],
                        allow_dev_domains=True,
                    )
                except ValueError as exc:
                    return oauth_error("invalid_subject_token", str(exc))
                if st.shop != shop or fake.reject_token_exchange:
                    return oauth_error("invalid_subject_token", "the session token is not for this shop")
                fake.store(shop)
                scopes = fake.granted_scopes if fake.granted_scopes is not None else fake.app_scopes
                return jsonify(fake._issue(shop, scopes, expiring=expiring))
            if grant == "refresh_token":
                fake.calls["refresh"] += 1
                with fake._lock:
                    tok = fake._valid_token(body.get("refresh_token"), shop, "refresh")
                    if tok is None:
                        return oauth_error("invalid_grant", "refresh token is invalid, expired or revoked")
                    tok.revoked = True  # refresh tokens rotate
                    return jsonify(fake._issue(shop, tok.scopes, expiring=True))
            if "code" in body:
                fake.calls["code"] += 1
                with fake._lock:
                    entry = fake.codes.pop(str(body["code"]), None)
                if entry is None or entry[0] != shop or entry[2] < time.time():
                    return oauth_error(
                        "invalid_request", "authorization code was not found or was already used"
                    )
                return jsonify(fake._issue(shop, entry[1], expiring=expiring))
            return oauth_error("unsupported_grant_type", "unsupported grant")

        @app.post("/store/<shop>/admin/api/<version>/graphql.json")
        def graphql(shop: str, version: str):
            fake.calls["graphql"] += 1
            if not _valid_version(version):
                abort(404)
            token = fake._valid_token(request.headers.get("X-Shopify-Access-Token"), shop, "access")
            if token is None:
                fake.calls["unauthorized"] += 1
                return jsonify(INVALID_TOKEN_BODY), 401
            with fake._lock:
                forced = fake._forced_429.get(shop)
                if forced:
                    retry_after = forced.pop(0)
                    fake.calls["http_429"] += 1
                    return Response(
                        json.dumps(
                            {"errors": "Exceeded 2 calls per second for api client. Reduce request rates."}
                        ),
                        status=429,
                        headers={"Retry-After": retry_after},
                        content_type="application/json",
                    )
            payload = request.get_json(silent=True)
            if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
                return jsonify(errors=[{"message": "Parameter Missing or Invalid"}]), 400
            return jsonify(
                graphql_api.execute_graphql(
                    fake,
                    shop,
                    version,
                    payload["query"],
                    payload.get("variables") or {},
                    scopes=frozenset(x for x in token.scopes.split(",") if x),
                )
            )

        @app.get("/bulk/<token>.jsonl")
        def bulk_file(token: str):
            fake.calls["bulk_download"] += 1
            data = fake._bulk_files.get(token)
            if data is None:
                abort(404)
            return Response(data, content_type="application/jsonl")

        @app.get("/store/<shop>/admin/apps/<api_key>")
        @app.get("/store/<shop>/admin/apps/<api_key>/<path:rest>")
        def embedded_landing(shop: str, api_key: str, rest: str = ""):
            fake.calls["admin_landing"] += 1
            if api_key != fake.api_key or not fake.app_url:
                abort(404)
            params = {
                "embedded": "1",
                "host": _b64(f"admin.shopify.com/store/{shop.split('.', 1)[0]}"),
                "id_token": fake.session_token(shop),
                "locale": "en",
                "session": secrets.token_hex(16),
                "shop": shop,
                "timestamp": str(int(time.time())),
            }
            params["hmac"] = admin_query_hmac(params.items(), fake.api_secret)
            return redirect(f"{fake.app_url}/app?{urlencode(params)}", code=302)

        return app


def _valid_version(version: str) -> bool:
    if version == "unstable":
        return True
    parts = version.split("-")
    return len(parts) == 2 and parts[0].isdigit() and parts[1] in ("01", "04", "07", "10")


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode().rstrip("=")
