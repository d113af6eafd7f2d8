"""The app proxy: Shopify forwards ``/apps/attune/*`` on the shop's domain to ``/proxy/*`` here.

Every request is signed by Shopify (``signature`` over the sorted query pairs, current or previous
secret, fresh ``timestamp``): forged or stale requests get 401. The shop must be installed. The only
customer this app answers for is ``logged_in_customer_id``, which Shopify adds and signs; asking for
anyone else's data gets 403. Answers are JSON: ``private`` cache headers when they are about a
customer or client, short ``public`` ones when they are the same for everyone.

``POST /proxy/support`` (and the product page's questions and the answers' ratings: ``app.web.proxy_support``) takes the assistant's support question (JSON ``{"question": …}``, from the signed-in
customer or ``client_id``): ``app.stores.support`` answers it from the shop's own data (the signed-in customer's
latest order, in-stock products) or escalates it honestly, and records both turns; the shopper's profile is
refreshed by a job after the commit. ``GET``/``POST /proxy/wishlist`` lists and saves the shopper's wishlist; a
new save refreshes the profile (its ``wishlist`` block) the same way.

``GET /proxy/running-low`` is the assistant's "Running low?" for the signed-in customer only (403 otherwise):
what the replenishment agent would remind them of now, with a one-click reorder (``app.stores.replenishment_supplies``).

``POST /proxy/identify`` (a JSON POST from the signed-in customer's browser) links the browser's ``client_id``
to ``logged_in_customer_id``, so its anonymous history joins the customer's profile. It is the storefront's
only way to tie a browser to a customer: the pixel's ``customerId`` is an unverified claim. Nothing is served
to a ``client_id`` on the strength of such a link: personal data (orders, buy-again, the customer's nudges,
wishlist, support history) needs the signed ``logged_in_customer_id`` on the request itself.

``GET /proxy/recommendations`` is the hot path: its ordinary answers are served by
``app.web.proxy_fast.ProxyFastPath`` in front of Flask with the same checks and bytes as the route below,
which answers everything the fast path hands over (every error, HEAD, odd queries). ``POST /proxy/nudge``
(``app.web.proxy_nudge``) is served the same way. The signature, shop and shopper checks are one implementation
for both ways in: ``verified_shop`` and ``shopper``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app import tasks
from app.db import session_scope
from app.models.base import utcnow
from app.shopify.verify import VerificationError, is_valid_shop_domain, parse_query_pairs, verify_proxy
from app.storefront import shopper_data
from app.storefront.cache import Rendered, ServingStore
from app.storefront.lists import PLACEMENTS, resolve_rendered
from app.storefront.served_log import new_serve_id, record_served
from app.stores import replenishment_supplies
from app.stores.profiles import link_signed_in_client
from app.web import settings

bp = Blueprint("proxy", __name__, url_prefix="/proxy")

PROXY_MAX_AGE_S = 600
MAX_LIMIT = 20
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class ProxyError(HTTPException):
    """A JSON error with a status (handled below, never a 500)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def store_for(app: Flask) -> ServingStore:
    """One serving store (and its caches) per app."""
    found = app.extensions.get("attune.serving")
    if found is None:
        cfg = app.extensions["attune.settings"]
        found = app.extensions["attune.serving"] = ServingStore(cfg.database_url, cfg.redis_url)
    return found


def store() -> ServingStore:
    return store_for(current_app)


def json_style(app: Flask) -> bool:
    """True when ``jsonify`` indents (debug mode or a non-compact provider), as Flask decides."""
    compact = getattr(app.json, "compact", None)
    return (compact is None and app.debug) or compact is False


def json_text(app: Flask, payload: dict[str, Any]) -> str:
    """Exactly the text ``jsonify(payload)`` sends."""
    if json_style(app):
        return app.json.dumps(payload, indent=2, separators=(", ", ": ")) + "\n"
    return app.json.dumps(payload, separators=(",", ":")) + "\n"


def render_recommendations(
    app: Flask,
    shop_id: int,
    placement: str,
    product_id: int | None,
    customer_id: int | None,
    client_id: str,
    limit: int,
) -> Rendered:
    return resolve_rendered(
        store_for(app),
        shop_id,
        placement,
        product_id=product_id,
        customer_id=customer_id,
        client_id=client_id,
        limit=limit,
        dumps=lambda payload: json_text(app, payload),
        style=json_style(app),
    )


def cache_headers(*, personal: bool, max_age: int = 60) -> list[tuple[str, str]]:
    if personal:
        return [("Cache-Control", f"private, max-age={max_age}"), ("Vary", "Cookie")]
    return [
        ("Cache-Control", f"public, max-age={max_age}, stale-while-revalidate=300"),
        ("Vary", "Accept-Encoding"),
    ]


def _error(code: int, message: str):
    response = jsonify(error=message)
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(ProxyError)
def _proxy_error(exc: ProxyError):
    return _error(exc.code or 400, exc.description or "bad request")


def verified_shop(app: Flask, pairs: list[tuple[str, str]]) -> Any:
    """The installed shop a signed app-proxy query is for; ``ProxyError`` (401 forged or stale, 400 no valid shop,
    403 not installed) otherwise. Shared by the Flask routes and the WSGI fast paths (``app.web.proxy_fast``)."""
    cfg = app.extensions["attune.settings"]
    try:
        verify_proxy(pairs, cfg.api_secrets, max_age=PROXY_MAX_AGE_S)
    except VerificationError as exc:
        raise ProxyError(401, f"app proxy signature rejected: {exc}") from exc
    domain = dict(pairs).get("shop", "")
    if not is_valid_shop_domain(domain, allow_dev_domains=cfg.attune_env != "production"):
        raise ProxyError(400, "missing or invalid shop")
    shop = store_for(app).shop(domain)
    if shop is None or not shop.installed:
        raise ProxyError(403, "this shop has not installed Attune")
    return shop


def shopper(raw_customer: str, arg: Callable[[str], str | None]) -> tuple[int | None, str]:
    """(signed-in customer id, client id or ""): the signed ``logged_in_customer_id``, and ``client_id`` when it is
    a plain token; ``ProxyError`` for a bad customer id (400) or a ``customer_id`` asking for anyone else's data
    (403). ``arg`` reads one query parameter."""
    customer_id = int_param(raw_customer, "logged_in_customer_id") if raw_customer else None
    asked = arg("customer_id")
    if asked and (customer_id is None or asked != str(customer_id)):
        raise ProxyError(403, "customer data is only served to that signed-in customer")
    client = arg("client_id") or ""
    return customer_id, client if CLIENT_ID_RE.fullmatch(client) else ""


@bp.before_request
def _authenticate():
    started = time.perf_counter()
    pairs = parse_query_pairs(request.query_string)
    try:
        g.shop = verified_shop(current_app, pairs)
    except ProxyError as exc:
        return _error(exc.code or 400, exc.description or "bad request")
    g.proxy_started = started
    g.customer_id, g.client_id = shopper(dict(pairs).get("logged_in_customer_id", ""), request.args.get)
    return None


@bp.after_request
def _timing(response):
    started = g.get("proxy_started")
    if started is not None:
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    return response


def int_param(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise ProxyError(400, f"{name} must be an integer") from exc
    if number <= 0 or number >= 2**63:
        raise ProxyError(400, f"{name} is out of range")
    return number


def limit_param(raw: str | None, default: int = 4) -> int:
    value = int_param(raw, "limit") if raw else default
    return max(1, min(MAX_LIMIT, value or default))


def _limit(default: int = 4) -> int:
    return limit_param(request.args.get("limit"), default)


def _answer(payload: dict[str, Any], *, personal: bool, max_age: int = 60):
    response = jsonify(payload)
    for key, value in cache_headers(personal=personal, max_age=max_age):
        response.headers[key] = value
    return response


def _subject() -> tuple[str, str]:
    return ("customer", str(g.customer_id)) if g.customer_id else ("client", g.client_id)


@bp.get("/recommendations")
def recommendations():
    placement = request.args.get("placement", "product")
    if placement not in PLACEMENTS:
        raise ProxyError(400, f"placement must be one of {', '.join(sorted(PLACEMENTS))}")
    product_id = int_param(request.args.get("product_id"), "product_id")
    if placement == "fbt" and product_id is None:
        raise ProxyError(400, "placement fbt needs product_id")
    if placement == "buy_again" and g.customer_id is None:
        raise ProxyError(403, "buy again is only served to a signed-in customer")
    rendered = render_recommendations(
        current_app, g.shop.id, placement, product_id, g.customer_id, g.client_id, _limit()
    )
    serve_id = new_serve_id()
    kind, subject = _subject()
    record_served(store(), g.shop.id, rendered, subject_kind=kind, subject=subject, serve_id=serve_id)
    response = current_app.response_class(rendered.body(serve_id), mimetype="application/json")
    for key, value in cache_headers(personal=bool(g.customer_id or g.client_id)):
        response.headers[key] = value
    return response


@bp.get("/search")
def search():
    query = (request.args.get("q") or "").strip()
    if not query:
        raise ProxyError(400, "q is required")
    if len(query) > 200:
        raise ProxyError(400, "q is longer than 200 characters")
    items = shopper_data.search_products(store(), g.shop.id, query, _limit(6))
    return _answer(
        {"query": query, "items": items, "currency": items[0]["currency"] if items else None},
        personal=False,
        max_age=300,
    )


@bp.get("/reorder")
def reorder():
    if g.customer_id is None:
        raise ProxyError(403, "sign in to reorder past purchases")
    order_id = int_param(request.args.get("order_id"), "order_id")
    try:
        orders = shopper_data.reorder_links(store(), g.shop.id, g.customer_id, order_id, limit=3)
    except shopper_data.NotYours as exc:
        raise ProxyError(403, "that order belongs to another customer") from exc
    if order_id is not None and not orders:
        raise ProxyError(404, "order not found")
    return _answer({"orders": orders}, personal=True)


@bp.get("/running-low")
def running_low():
    """The signed-in customer's "Running low?": what the replenishment agent would remind them of now."""
    if g.customer_id is None:
        raise ProxyError(403, "sign in to see what is running low")
    with store().session() as session:
        found = replenishment_supplies.running_low(session, g.shop.id, g.customer_id, utcnow())
    return _answer(found, personal=True)


@bp.get("/nudges")
def nudges():
    items = shopper_data.active_nudges(store(), g.shop.id, g.customer_id, g.client_id or None, limit=3)
    return _answer({"nudges": items}, personal=True, max_age=30)


@bp.route("/wishlist", methods=["GET", "POST"])
def wishlist():
    kind, subject = _subject()
    if not subject:
        raise ProxyError(400, "a signed-in customer or a client_id is required")
    owner = f"{kind}:{subject}"
    if request.method == "GET":
        return _answer({"items": shopper_data.wishlist(store(), g.shop.id, owner)}, personal=True, max_age=0)
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(body, dict):
        raise ProxyError(400, "send a JSON object with product_id")
    product_id = int_param(str(body.get("product_id", "")), "product_id")
    if product_id is None:
        raise ProxyError(400, "product_id is required")
    variant_id = int_param(str(body.get("variant_id") or ""), "variant_id")
    created = shopper_data.save_wishlist_item(store(), g.shop.id, owner, product_id, variant_id)
    if created is None:
        raise ProxyError(404, "no such product in this shop")
    if created:  # the row is committed: the profile's wishlist block follows
        tasks.refresh_profile(settings().redis_url, g.shop.id, owner)
    response = jsonify(saved=True, created=created, product_id=product_id)
    response.status_code = 201 if created else 200
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/identify")
def identify():
    """Link the signed-in customer's browser (``client_id``) to the customer. JSON only: a cross-site form or
    link cannot send ``application/json`` (a cross-site fetch would need a CORS preflight this app never
    grants), so another site cannot make a signed-in shopper's browser vouch for the attacker's client id."""
    if g.customer_id is None:
        raise ProxyError(403, "only a signed-in customer's browser can be identified")
    if not g.client_id:
        raise ProxyError(400, "a valid client_id is required")
    if not request.is_json:
        raise ProxyError(415, "send a JSON POST (Content-Type: application/json)")
    shop_id, customer_id = g.shop.id, g.customer_id
    with session_scope(settings().database_url) as session:
        linked, changed = link_signed_in_client(session, shop_id, customer_id, g.client_id)
        if changed:  # the browser's history and saves join the customer's profile
            tasks.refresh_profile_after_commit(
                session, settings().redis_url, shop_id, f"customer:{customer_id}"
            )
    if not linked:
        raise ProxyError(409, "this browser is already linked to another customer")
    response = jsonify(linked=True, changed=changed)
    response.headers["Cache-Control"] = "no-store"
    return response
