"""Install and re-authorization: the authorization-code grant (``GET /auth``, ``GET /auth/callback``).

``/auth`` verifies Shopify's query HMAC (fresh timestamp) and the shop domain, sets a signed state
nonce in a cookie and redirects to ``{origin}/admin/oauth/authorize``; inside the admin iframe
(``embedded=1``) it first breaks out to the top window. ``/auth/callback`` checks HMAC, shop and state
(the nonce is single-use), exchanges the code for expiring offline tokens, checks the granted scopes,
stores the tokens encrypted, enqueues the initial sync after commit and redirects into the admin.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode

from flask import Blueprint, abort, make_response, redirect, render_template_string, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from app import tasks
from app.config import Settings
from app.db import after_commit, session_scope
from app.models.base import utcnow
from app.models.shop import Shop
from app.queue import enqueue, get_redis
from app.shopify import oauth
from app.shopify.tokens import TokenStore
from app.shopify.verify import VerificationError, is_valid_shop_domain, parse_query_pairs, verify_admin_query
from app.web import settings

bp = Blueprint("auth", __name__)

STATE_COOKIE = "attune_oauth_state"
STATE_MAX_AGE_S = 600
BREAKOUT_MAX_AGE_S = 120

BREAKOUT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="shopify-api-key" content="{{ api_key }}">
<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>
<title>Attune: continue in Shopify</title></head>
<body><p>Taking you to Shopify to authorize Attune&hellip;
<a href="{{ url }}" target="_top">Continue</a></p>
<script>window.open({{ url|tojson }}, "_top");</script>
</body></html>
"""


def _serializer(cfg: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(cfg.shopify_api_secret, salt=salt)


def _single(name: str) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        abort(400, description=f"duplicate '{name}' parameter")
    return values[0] if values else None


def _shop_param() -> str:
    shop = _single("shop")
    if not shop:
        abort(400, description="missing 'shop' parameter")
    if not is_valid_shop_domain(shop):
        abort(400, description="'shop' must be a shop domain like your-store.myshopify.com")
    return shop


def _verify_query(what: str) -> None:
    for name in ("hmac", "timestamp"):
        _single(name)
    try:
        verify_admin_query(parse_query_pairs(request.query_string), settings().api_secrets)
    except VerificationError as exc:
        abort(401, description=f"{what} rejected: {exc}")


@bp.get("/auth")
def begin():
    """Start the authorization-code grant for a verified shop."""
    cfg = settings()
    shop = _shop_param()
    breakout = _single("breakout")
    optional: frozenset[str] = frozenset()
    if breakout is not None:
        # Our own signed hand-off from the iframe breakout page (Shopify's hmac cannot survive it).
        try:
            signed_shop = _serializer(cfg, "attune-auth-breakout").loads(breakout, max_age=BREAKOUT_MAX_AGE_S)
        except BadSignature:
            abort(401, description="install hand-off is invalid or expired; open the app from Shopify again")
        if signed_shop != shop:
            abort(401, description="install hand-off is for another shop")
        # the admin's "grant" action (local mode) asks for declared optional scopes; others are ignored
        optional = oauth.parse_scopes(_single("optional")) & cfg.optional_scope_set
    else:
        _verify_query("install request")
        if _single("embedded") == "1":
            token = _serializer(cfg, "attune-auth-breakout").dumps(shop)
            url = f"{cfg.app_url}/auth?{urlencode({'shop': shop, 'breakout': token})}"
            return render_template_string(BREAKOUT_PAGE, api_key=cfg.shopify_api_key, url=url)
    nonce = secrets.token_urlsafe(24)
    url = oauth.authorize_url(
        cfg, shop, state=nonce, redirect_uri=f"{cfg.app_url}/auth/callback", optional=optional
    )
    response = redirect(url, code=302)
    response.set_cookie(
        STATE_COOKIE,
        _serializer(cfg, "attune-oauth-state").dumps({"nonce": nonce, "shop": shop}),
        max_age=STATE_MAX_AGE_S,
        httponly=True,
        secure=cfg.app_url.startswith("https://"),
        samesite="Lax",
        path="/auth",
    )
    return response


@bp.get("/auth/callback")
def callback():
    """Finish the grant: verify everything, store encrypted tokens, enqueue the initial sync."""
    cfg = settings()
    shop = _shop_param()
    _verify_query("authorization callback")
    code, state = _single("code"), _single("state")
    if not code:
        abort(400, description="missing 'code' parameter")
    if not state:
        abort(400, description="missing 'state' parameter")
    cookie = request.cookies.get(STATE_COOKIE)
    if not cookie:
        abort(401, description="no OAuth state cookie: start the install again from Shopify")
    try:
        expected = _serializer(cfg, "attune-oauth-state").loads(cookie, max_age=STATE_MAX_AGE_S)
    except BadSignature:
        abort(401, description="OAuth state cookie is invalid or expired: start the install again")
    if not (
        isinstance(expected, dict)
        and hmac.compare_digest(str(expected.get("nonce", "")), state)
        and expected.get("shop") == shop
    ):
        abort(401, description="OAuth state does not match this install")
    try:
        first_use = get_redis(cfg.redis_url).set(f"attune:oauth:state:{state}", "1", nx=True, ex=3600)
    except RedisError:
        abort(503, description="cannot record the OAuth state right now; try again shortly")
    if not first_use:
        abort(401, description="this authorization response was already used")
    try:
        tokens = oauth.exchange_code(cfg, shop, code)
    except oauth.OAuthError as exc:
        if exc.rejected:
            abort(400, description=f"Shopify rejected the authorization code: {exc}")
        abort(502, description=f"could not complete the install with Shopify: {exc}")
    missing = oauth.missing_scopes(tokens.scopes, cfg.scope_set)
    if missing:
        abort(
            403,
            description=f"Attune needs these access scopes, which were not granted: {', '.join(sorted(missing))}",
        )
    record_install(cfg, shop, tokens)
    response = make_response(redirect(f"{cfg.admin_origin(shop)}/admin/apps/{cfg.shopify_api_key}", code=302))
    response.delete_cookie(STATE_COOKIE, path="/auth")
    return response


def _enqueue_install_jobs(cfg: Settings, shop_id: int | None):
    """After the install commits: connect the web pixel, then backfill everything the shop has."""

    def run() -> None:
        enqueue(cfg.redis_url, tasks.CONNECT_WEB_PIXEL, shop_id, queue="default")
        enqueue(cfg.redis_url, tasks.INITIAL_SYNC, shop_id, queue="low")

    return run


def record_install(cfg: Settings, domain: str, tokens: oauth.TokenSet) -> Shop:
    """Create or update the shop with its new (encrypted) tokens, clear any uninstall, and enqueue the
    initial sync once the commit is visible. Safe when two requests install the same shop at once."""
    store = TokenStore(cfg)
    for attempt in range(2):
        try:
            with session_scope(cfg.database_url) as session:
                shop = session.exec(select(Shop).where(Shop.domain == domain)).first()
                if shop is None:
                    shop = Shop(domain=domain)
                    session.add(shop)
                if shop.installed_at is None or shop.uninstalled_at is not None:
                    shop.installed_at = utcnow()
                shop.uninstalled_at = None
                store.save(shop, tokens)
                session.flush()
                after_commit(session, _enqueue_install_jobs(cfg, shop.id))
            return shop
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")
