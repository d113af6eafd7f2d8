"""A thin WSGI fast path for ``GET /proxy/recommendations``, in front of the Flask app.

The storefront asks for recommendations on every product, cart and home page view, so this one answer
skips Flask's request context, routing and response objects. It makes the same checks in the same order as
``app.web.proxy`` (signature with the shared verifier, shop, signed-in customer, parameters), then serves
the same pre-rendered bytes, headers and served-list log entry as the Flask route. Whenever any check
does not pass, or the request is anything but an ordinary GET, it hands the request to Flask untouched,
so every error answer (401/403/400) and every other endpoint comes from the one Flask implementation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from app.shopify.verify import VerificationError, is_valid_shop_domain, parse_query_pairs, verify_proxy
from app.storefront.lists import PLACEMENTS
from app.storefront.served_log import new_serve_id, record_served
from app.web.proxy import (
    CLIENT_ID_RE,
    PROXY_MAX_AGE_S,
    ProxyError,
    cache_headers,
    int_param,
    limit_param,
    render_recommendations,
    store_for,
)

log = logging.getLogger(__name__)

PATH = "/proxy/recommendations"
StartResponse = Callable[..., Any]


class ProxyFastPath:
    """``app.wsgi_app = ProxyFastPath(app)``: answers ordinary recommendation requests, else calls Flask."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.inner = app.wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            answer = self.answer(environ.get("QUERY_STRING", ""))
            if answer is not None:
                body, headers = answer
                start_response("200 OK", headers)
                return [body]
        return self.inner(environ, start_response)

    def answer(self, query_string: str) -> tuple[bytes, list[tuple[str, str]]] | None:
        """The 200 answer, or None to let Flask answer (with its error, or the same 200)."""
        started = time.perf_counter()
        pairs = parse_query_pairs(query_string.encode("latin-1"))
        query = dict(pairs)
        if len(query) != len(pairs) or any("\ufffd" in k or "\ufffd" in v for k, v in pairs):
            return None  # repeated keys or undecodable bytes: Flask's parsing decides
        cfg = self.app.extensions["attune.settings"]
        try:
            verify_proxy(pairs, cfg.api_secrets, max_age=PROXY_MAX_AGE_S)
        except VerificationError:
            return None
        domain = query.get("shop", "")
        if not is_valid_shop_domain(domain, allow_dev_domains=cfg.attune_env != "production"):
            return None
        store = store_for(self.app)
        shop = store.shop(domain)
        if shop is None or not shop.installed:
            return None
        try:
            raw_customer = query.get("logged_in_customer_id", "")
            customer_id = int_param(raw_customer, "logged_in_customer_id") if raw_customer else None
            asked = query.get("customer_id")
            if asked and (customer_id is None or asked != str(customer_id)):
                return None
            client = query.get("client_id") or ""
            client_id = client if CLIENT_ID_RE.fullmatch(client) else ""
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
        record_served(store, shop.id, rendered, subject_kind=kind, subject=subject, serve_id=serve_id)
        body = rendered.body(serve_id)
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            *cache_headers(personal=bool(customer_id or client_id)),
            ("Server-Timing", f"app;dur={(time.perf_counter() - started) * 1000:.2f}"),
        ]
        return body, headers


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
