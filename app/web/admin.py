"""The embedded admin: the dashboard page (``GET /app``), its assets, and the shop and profile API routes.

The page is a template (``app/web/templates/admin/app.html``) with one stylesheet and one script
(``app/static/admin/``), served from this origin: its Content-Security-Policy allows nothing else, except
App Bridge from Shopify's CDN in production. Data comes from ``/api/admin/*`` with a session token.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    g,
    jsonify,
    make_response,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from sqlmodel import select

from app.db import session_scope
from app.models.base import utcnow
from app.models.profiles import CustomerProfile
from app.profiles.view import public_profile
from app.shopify.verify import is_valid_shop_domain
from app.web import settings
from app.web.session_auth import RETRY_HEADER, require_session_token

bp = Blueprint("admin", __name__, template_folder="templates")

ASSETS = Path(__file__).resolve().parent.parent / "static" / "admin"
ASSET_NAMES = frozenset(p.name for p in ASSETS.iterdir() if p.suffix in (".css", ".js"))
APP_BRIDGE_ORIGIN = "https://cdn.shopify.com"
POLARIS_SRC = "https://cdn.shopify.com/shopifycloud/polaris.js"
MAX_KEY_LEN = 160


@lru_cache(maxsize=len(ASSET_NAMES))
def _asset_version(name: str) -> str:
    return hashlib.sha256((ASSETS / name).read_bytes()).hexdigest()[:12]


def _asset_url(name: str) -> str:
    return url_for("admin.asset", name=name, v=_asset_version(name))


def content_security_policy(shop: str | None, app_bridge: bool) -> str:
    """Same-origin only; App Bridge's script (and its calls home) from Shopify's CDN in production."""
    extra = f" {APP_BRIDGE_ORIGIN}" if app_bridge else ""
    ancestors = "https://admin.shopify.com" + (f" https://{shop}" if shop else "")
    return (
        f"default-src 'none'; script-src 'self'{extra}; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{extra}; font-src 'self'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {ancestors};"
    )


@bp.get("/app")
def shell():
    """The embedded admin dashboard; data comes from ``/api/admin/*`` with a session token."""
    cfg = settings()
    shop = request.args.get("shop")
    shop = shop if is_valid_shop_domain(shop) else None
    app_bridge = cfg.shopify_admin_origin_template == "https://{shop}"
    polaris = app_bridge or cfg.attune_polaris_cdn
    html = render_template(
        "admin/app.html",
        api_key=cfg.shopify_api_key,
        shop=shop,
        retry_header=RETRY_HEADER,
        app_bridge=app_bridge,
        polaris=POLARIS_SRC if polaris else None,
        asset=_asset_url,
    )
    response = make_response(html)
    response.headers["Content-Security-Policy"] = content_security_policy(shop, app_bridge or polaris)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    response.headers["Cache-Control"] = "no-store"  # the URL carries a session token in local mode
    return response


@bp.get("/app/assets/<name>")
def asset(name: str):
    """The dashboard's stylesheet and script (versioned URLs, so they may be cached for long)."""
    if name not in ASSET_NAMES:
        abort(404, description="no such asset")
    versioned = request.args.get("v") == _asset_version(name)
    response = send_from_directory(ASSETS, name, max_age=31_536_000 if versioned else 60)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/api/admin/shop")
@require_session_token
def shop_info():
    """The authenticated shop: domain, granted scopes, install state."""
    shop = g.shop
    return jsonify(
        shop=shop.domain,
        scopes=sorted(s for s in shop.scopes.split(",") if s),
        installed=shop.is_installed,
        installed_at=shop.installed_at.isoformat() if shop.installed_at else None,
        uninstalled_at=shop.uninstalled_at.isoformat() if shop.uninstalled_at else None,
        api_version=settings().shopify_api_version,
    )


@bp.get("/api/admin/profile")
@require_session_token
def profile_by_key():
    """One profile of this shop by its key (``client:…`` for anonymous visitors, ``customer:…``)."""
    key = request.args.get("key", "")
    kind, _, value = key.partition(":")
    if kind not in ("client", "customer", "cart", "checkout") or not value or len(key) > MAX_KEY_LEN:
        return jsonify(
            error="invalid_key", message="key is a profile key like client:<id> or customer:<id>"
        ), 400
    with session_scope(settings().database_url) as session:
        row = session.exec(
            select(CustomerProfile).where(
                CustomerProfile.shop_id == g.shop.id, CustomerProfile.customer_key == key
            )
        ).first()
        if row is None:
            abort(404, description="no such profile in this shop")
        return jsonify(public_profile(row, utcnow()))
