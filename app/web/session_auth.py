"""Embedded-admin authentication: every ``/api/admin/*`` route is wrapped in ``require_session_token``.

The request must carry ``Authorization: Bearer <App Bridge session token>`` (HS256, ``aud`` = our
API key, current or previous secret, fresh ``exp``/``nbf``, ``iss`` and ``dest`` the same valid shop).
On failure: 401 JSON with ``X-Shopify-Retry-Invalid-Session-Request: 1`` so App Bridge fetches a new
token and retries. When the shop has no stored offline token yet (Shopify-managed install, or after an
uninstall), the session token is exchanged for one first.

In the view: ``g.shop`` is the authenticated Shop row, ``g.session_token`` the verified token. Scope
every query by ``g.shop.id``; never take a shop from the request's parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, jsonify, request
from sqlmodel import select

from app.config import Settings
from app.db import session_scope
from app.models.shop import Shop
from app.queue import get_redis
from app.shopify import oauth
from app.shopify.tokens import LockTimeout, redis_lock
from app.shopify.verify import VerificationError, decode_session_token
from app.web import settings
from app.web.auth import record_install

RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"

F = TypeVar("F", bound=Callable[..., Any])


def unauthorized(message: str):
    response = jsonify(error="Unauthorized", message=message)
    response.status_code = 401
    response.headers[RETRY_HEADER] = "1"
    return response


def _load_shop(cfg: Settings, domain: str) -> Shop | None:
    with session_scope(cfg.database_url) as session:
        return session.exec(select(Shop).where(Shop.domain == domain)).first()


def _exchange(cfg: Settings, domain: str, session_token: str) -> Shop:
    """Token exchange under the shop's lock, so parallel first requests exchange once."""
    try:
        with redis_lock(get_redis(cfg.redis_url), f"attune:lock:token-exchange:{domain}", wait_s=15):
            shop = _load_shop(cfg, domain)
            if shop is not None and shop.is_installed:
                return shop
            return record_install(cfg, domain, oauth.token_exchange(cfg, domain, session_token))
    except LockTimeout:
        abort(503, description="another request is authorizing this shop; try again")


def require_session_token(view: F) -> F:
    """Authenticate an embedded-admin API request by its App Bridge session token."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        cfg = settings()
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return unauthorized("missing 'Authorization: Bearer <session token>' header")
        try:
            verified = decode_session_token(token, api_key=cfg.shopify_api_key, secrets=cfg.api_secrets)
        except VerificationError as exc:
            return unauthorized(str(exc))
        shop = _load_shop(cfg, verified.shop)
        if shop is None or not shop.is_installed:
            try:
                shop = _exchange(cfg, verified.shop, token)
            except oauth.OAuthError as exc:
                if exc.rejected:
                    return unauthorized(f"Shopify refused the token exchange: {exc}")
                abort(502, description=f"could not reach Shopify for the token exchange: {exc}")
        g.shop = shop
        g.session_token = verified
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
