"""A thin WSGI fast path for the app proxy's two hot requests, in front of the Flask app.

``GET /proxy/recommendations``: the storefront asks on every product, cart and home page view. ``POST
/proxy/nudge``: the rescue embed sends a shopper's hesitation signals several times a session. Both skip Flask's
request context, routing and response objects. They make the same checks in the same order as ``app.web.proxy``
(signature, shop and shopper by the same functions, ``verified_shop`` and ``shopper``), then the route's own
checks (the nudge's by ``app.web.proxy_nudge.checked_request``), and answer with the route's own code: the same
pre-rendered bytes, headers and served-list log entry for recommendations, the same ``respond`` (rate limit,
step, decision, card) for the nudge, encoded as ``jsonify`` would. Whenever a check does not pass, or the request
is anything but an ordinary GET or JSON POST, it hands the request to Flask untouched (a body already read is
given back to it), so every error answer (401/403/400/413/415/422) and every other endpoint comes from the one
Flask implementation. The nudge's 429 comes from here: the rate limit has counted by then.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.exceptions import InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from app.shopify.verify import parse_query_pairs
from app.storefront.lists import PLACEMENTS
from app.storefront.served_log import new_serve_id, record_served
from app.web.proxy import (
    ProxyError,
    cache_headers,
    int_param,
    json_text,
    limit_param,
    render_recommendations,
    shopper,
    store_for,
    verified_shop,
)
from app.web.proxy_nudge import MAX_BODY, checked_request, respond

log = logging.getLogger(__name__)

PATH = "/proxy/recommendations"
NUDGE_PATH = "/proxy/nudge"
StartResponse = Callable[..., Any]
Headers = list[tuple[str, str]]


class ProxyFastPath:
    """``app.wsgi_app = ProxyFastPath(app)``: answers ordinary recommendation and nudge requests, else calls
    Flask."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.inner = app.wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == PATH and method == "GET":
            answer = self.answer(environ.get("QUERY_STRING", ""))
            if answer is not None:
                body, headers = answer
                start_response("200 OK", headers)
                return [body]
        elif path == NUDGE_PATH and method == "POST":
            found = self.answer_nudge(environ)
            if found is not None:
                status, body, headers = found
                start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
                return [body]
        return self.inner(environ, start_response)

    def caller(self, query_string: str) -> tuple[Any, int | None, str, dict[str, str]] | None:
        """(shop, signed-in customer id, client id, query) when the signed query passes every check of
        ``app.web.proxy._authenticate``, else None (Flask answers, with its error)."""
        pairs = parse_query_pairs(query_string.encode("latin-1"))
        query = dict(pairs)
        if len(query) != len(pairs) or any("\ufffd" in k or "\ufffd" in v for k, v in pairs):
            return None  # repeated keys or undecodable bytes: Flask's parsing decides
        try:
            shop = verified_shop(self.app, pairs)
            customer_id, client_id = shopper(query.get("logged_in_customer_id", ""), query.get)
        except ProxyError:
            return None
        return shop, customer_id, client_id, query

    def answer(self, query_string: str) -> tuple[bytes, Headers] | None:
        """The recommendations' 200 answer, or None to let Flask answer (with its error, or the same 200)."""
        started = time.perf_counter()
        found = self.caller(query_string)
        if found is None:
            return None
        shop, customer_id, client_id, query = found
        try:
            placement = query.get("placement", "product")
            if placement not in PLACEMENTS:
                return None
            product_id = int_param(query.get("product_id"), "product_id")
            if (placement == "fbt" and product_id is None) or (
                placement == "buy_again" and customer_id is None
            ):
                return None
            limit = limit_param(query.get("limit"))
        except ProxyError:
            return None
        rendered = render_recommendations(
            self.app, shop.id, placement, product_id, customer_id, client_id, limit
        )
        serve_id = new_serve_id()
        kind, subject = ("customer", str(customer_id)) if customer_id else ("client", client_id)
        store = store_for(self.app)
        record_served(store, shop.id, rendered, subject_kind=kind, subject=subject, serve_id=serve_id)
        body = rendered.body(serve_id)
        return body, [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *cache_headers(personal=bool(customer_id or client_id)),
            _timing(started),
        ]

    def answer_nudge(self, environ: dict[str, Any]) -> tuple[int, bytes, Headers] | None:
        """The nudge's answer (200, or 429 once the rate limit has counted), or None to let Flask answer."""
        started = time.perf_counter()
        declared = environ.get("CONTENT_LENGTH") or ""
        mimetype = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
        if not declared.isdigit() or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        found = self.caller(environ.get("QUERY_STRING", ""))
        if found is None:
            return None
        shop, customer_id, client_id, _ = found
        size = int(declared)
        raw = b""
        if size <= MAX_BODY and mimetype == "application/json":  # else a 413 or 415: Flask's
            raw = environ["wsgi.input"].read(size) if size else b""
            environ["wsgi.input"] = io.BytesIO(raw)  # given back to Flask if it answers after all
            if len(raw) != size:
                return None  # the client went away mid-body: Flask's 400
        try:
            req, locale = checked_request(
                customer_id, client_id or None, size, mimetype == "application/json", lambda: _json(raw)
            )
        except ProxyError:
            return None
        try:
            answer = respond(self.app.extensions["attune.settings"], shop.id, req, locale)
        except Exception:
            if self.app.testing or self.app.debug:
                raise
            log.exception("POST %s failed", NUDGE_PATH)  # as Flask's JSON 500 answers it
            error = InternalServerError()
            status, payload, extra = 500, {"error": error.name, "message": error.description}, ()
        else:
            status, payload, extra = answer.status, answer.payload, answer.headers
        body = json_text(self.app, payload).encode()
        return (
            status,
            body,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                *extra,
                _timing(started),
            ],
        )


def _json(raw: bytes) -> Any:
    """The body as ``request.get_json(silent=True)`` reads it: None when it is not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _timing(started: float) -> tuple[str, str]:
    return "Server-Timing", f"app;dur={(time.perf_counter() - started) * 1000:.2f}"


def install(app: Flask) -> Flask:
    """Put the fast path in front of ``app`` (once)."""
    if not isinstance(app.wsgi_app, ProxyFastPath):
        app.wsgi_app = ProxyFastPath(app)  # type: ignore[method-assign]
    return app


def _ours(wsgi: Any) -> bool:
    return isinstance(wsgi, Flask) and isinstance(wsgi.wsgi_app, ProxyFastPath)


def prepare_worker(wsgi: Any, *, log_linger: float = 0.02) -> None:
    """A freshly started web worker (gunicorn ``post_worker_init``): batch the served-list log off the
    request path, reload expired cache entries off it too, and fill the serving caches before the first
    request."""
    if not _ours(wsgi):
        return
    store = store_for(wsgi)
    store.buffer_log(log_linger)
    store.refresh_ahead()
    started = time.perf_counter()
    try:
        loaded = store.warm()
    except Exception:  # a cold cache is slower, never broken: serve anyway
        log.warning("serving cache warm-up failed; lists load on first use", exc_info=True)
        return
    log.info("serving caches warmed in %.0f ms: %s", (time.perf_counter() - started) * 1000, loaded)


def finish_worker(wsgi: Any) -> None:
    """A web worker on its way out (gunicorn ``worker_exit``): stop its list check, push its buffered
    served-list log."""
    if not _ours(wsgi):
        return
    store = store_for(wsgi)
    store.stop_refresh()
    buffer = store.log_buffer
    if buffer is None:
        return
    try:
        buffer.flush()
    except Exception:  # never stop the rest of the exit hook
        log.exception("served-list log: final flush failed")
