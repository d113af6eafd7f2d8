"""Embedded-admin access scopes (session-token auth, scoped by ``g.shop``):

- ``GET /api/admin/scopes``: the scopes the shop granted, the app's required and optional ones, the features
  waiting for an optional scope (with the write-backs skipped meanwhile), and how to ask for it: App Bridge's
  ``shopify.scopes.request`` in Shopify's admin, or (local mode, the fake Shopify) an authorize URL.
- ``POST /api/admin/scopes/refresh``: after the merchant granted a scope, re-read the installation's scopes
  from Shopify (a job; 202). Shopify's ``app/scopes_update`` webhook does the same on its own.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, g, jsonify
from itsdangerous import URLSafeTimedSerializer

from app import tasks
from app.db import session_scope
from app.models.writeback import CONSENT_EMAIL, METAFIELDS, WB_SKIPPED
from app.shopify.scopes import granted, parse, waiting_features
from app.stores import writeback
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_scopes", __name__)

FEATURE_WRITEBACKS = {"consent_writeback": CONSENT_EMAIL, "customer_metafields": METAFIELDS}


def _local_grant_url(shop: str, scopes: list[str]) -> str:
    """Local mode: the authorization-code grant again, asking for ``scopes`` on top of the required ones
    (the hand-off is signed like the iframe breakout's, ``app.web.auth``)."""
    cfg = settings()
    token = URLSafeTimedSerializer(cfg.shopify_api_secret, salt="attune-auth-breakout").dumps(shop)
    return f"{cfg.app_url}/auth?{urlencode({'shop': shop, 'breakout': token, 'optional': ','.join(scopes)})}"


@bp.get("/api/admin/scopes")
@require_session_token
def scopes():
    cfg = settings()
    shop = g.shop
    with session_scope(cfg.database_url) as session:
        counts = writeback.counts(session, shop.id)
    waiting = [
        {
            "key": f.key,
            "scope": f.scope,
            "title": f.title,
            "detail": f.detail,
            "skipped": counts.get(FEATURE_WRITEBACKS.get(f.key, ""), {}).get(WB_SKIPPED, 0),
        }
        for f in waiting_features(shop.scopes, cfg.optional_scope_set)
    ]
    asked = sorted({w["scope"] for w in waiting})
    app_bridge = cfg.shopify_admin_origin_template == "https://{shop}"
    grant = None
    if asked:
        grant = {"method": "app_bridge" if app_bridge else "redirect", "scopes": asked}
        if not app_bridge:
            grant["url"] = _local_grant_url(shop.domain, asked)
    return jsonify(
        granted=sorted(parse(shop.scopes)),
        required=sorted(cfg.scope_set),
        optional=sorted(cfg.optional_scope_set),
        optional_granted=sorted(cfg.optional_scope_set & granted(shop.scopes)),
        waiting=waiting,
        grant=grant,
        writebacks=counts,
    )


@bp.post("/api/admin/scopes/refresh")
@require_session_token
def refresh():
    if not tasks.refresh_scopes(settings().redis_url, g.shop.id):
        return jsonify(
            error="unavailable", message="cannot queue the refresh right now; try again shortly"
        ), 503
    return jsonify(queued=True, status_url="/api/admin/scopes"), 202
