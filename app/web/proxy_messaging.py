"""The app proxy's messaging endpoints, behind the same Shopify signature check as ``app.web.proxy``:

- ``GET /proxy/sw.js``: the web push service worker. Served under the app proxy (``/apps/attune/sw.js`` on the
  shop's domain), it is same-origin with the storefront, as a service worker must be; its scope is its own
  folder, ``/apps/attune/`` (Shopify lets an app serve nothing at the shop's root, and the worker needs no
  page: it only receives pushes and shows them).
- ``GET /proxy/push/key``: the shop's VAPID public key (made on first use), for ``PushManager.subscribe``.
- ``POST /proxy/push/subscribe`` (JSON ``PushSubscription.toJSON()``) and ``POST /proxy/push/unsubscribe``
  (``{"endpoint"}``): the assistant's opt-in button, for the signed-in customer or, without one, the browser's
  ``client_id``. A client id may subscribe its own browser; it reads nothing back.
- ``GET /proxy/messages``: the signed-in customer's recent messages ("we emailed you about …"). Only the signed
  ``logged_in_customer_id`` opens it: a client id alone gets 403.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy.exc import IntegrityError

from app.channels.vapid import check_browser_keys
from app.crypto import TokenCipher
from app.db import retry_lost_race, session_scope
from app.storefront import shopper_data
from app.stores import push
from app.web import settings
from app.web.proxy import ProxyError, _authenticate, _proxy_error, _timing, cache_headers, store

bp = Blueprint("proxy_messaging", __name__, url_prefix="/proxy")
bp.before_request(_authenticate)
bp.after_request(_timing)
bp.register_error_handler(ProxyError, _proxy_error)

SERVICE_WORKER = Path(__file__).resolve().parent.parent / "static" / "storefront" / "attune-sw.js"
SCOPE = "/apps/attune/"
MAX_BODY = 4096
MAX_ENDPOINT = 1024
THREAD_LIMIT = 5


def _no_store(payload: dict[str, Any], status: int = 200):
    response = jsonify(payload)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _body() -> dict[str, Any]:
    if (request.content_length or 0) > MAX_BODY:
        raise ProxyError(413, f"the body exceeds {MAX_BODY} bytes")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ProxyError(400, "send a JSON object")
    return body


def _endpoint(body: dict[str, Any]) -> str:
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT:
        raise ProxyError(400, f"endpoint must be a URL of at most {MAX_ENDPOINT} characters")
    parts = urlsplit(endpoint)
    loopback = settings().attune_env != "production" and parts.hostname in ("127.0.0.1", "localhost")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise ProxyError(400, "endpoint must be the push service's https URL")
    return endpoint


@bp.get("/sw.js")
def service_worker():
    response = current_app.response_class(SERVICE_WORKER.read_bytes(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/push/key")
def push_key():
    cipher = TokenCipher(settings().encryption_keys)

    def ensure() -> str:
        with session_scope(settings().database_url) as session:
            return push.ensure_vapid(session, cipher, g.shop.id)

    key = retry_lost_race(ensure, attempts=2)
    response = jsonify(public_key=key, service_worker="/apps/attune/sw.js", scope=SCOPE)
    for name, value in cache_headers(personal=False, max_age=300):
        response.headers[name] = value
    return response


@bp.post("/push/subscribe")
def push_subscribe():
    body = _body()
    endpoint = _endpoint(body)
    keys = body.get("keys")
    if not isinstance(keys, dict):
        raise ProxyError(400, "keys must be an object with p256dh and auth")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    try:
        check_browser_keys(p256dh, auth)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ProxyError(400, str(exc)) from exc
    if g.customer_id is None and not g.client_id:
        raise ProxyError(400, "a signed-in customer or a client_id is required")

    def save() -> bool:
        with session_scope(settings().database_url) as session:
            _, created = push.subscribe(
                session,
                g.shop.id,
                endpoint,
                p256dh,  # type: ignore[arg-type]
                auth,  # type: ignore[arg-type]
                customer_id=g.customer_id,
                client_id=g.client_id or None,
            )
            return created

    try:
        created = retry_lost_race(save, attempts=2)
    except IntegrityError as exc:
        raise ProxyError(409, "this browser's subscription changed meanwhile; try again") from exc
    return _no_store({"subscribed": True, "created": created}, 201 if created else 200)


@bp.post("/push/unsubscribe")
def push_unsubscribe():
    endpoint = _endpoint(_body())
    with session_scope(settings().database_url) as session:
        removed = push.unsubscribe(session, g.shop.id, endpoint)
    return _no_store({"subscribed": False, "removed": removed})


@bp.get("/messages")
def messages():
    if g.customer_id is None:
        raise ProxyError(403, "sign in to see your messages")
    items = shopper_data.customer_messages(store(), g.shop.id, g.customer_id, limit=THREAD_LIMIT)
    response = jsonify(messages=items)
    for name, value in cache_headers(personal=True, max_age=0):
        response.headers[name] = value
    return response
