"""The embedded admin: the App Bridge shell (``GET /app``) and its first API route."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, make_response, render_template_string, request

from app.shopify.verify import is_valid_shop_domain
from app.web import settings
from app.web.session_auth import RETRY_HEADER, require_session_token

bp = Blueprint("admin", __name__)

SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="shopify-api-key" content="{{ api_key }}">
{% if app_bridge %}<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>
{% else %}<!-- App Bridge is not loaded: the admin origin is the local fake Shopify. -->
{% endif %}<title>Attune</title>
<style>
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, sans-serif; margin: 2rem; color: #202223; }
.card { border: 1px solid #e1e3e5; border-radius: 12px; padding: 1rem 1.25rem; max-width: 40rem; }
.muted { color: #6d7175; } .error { color: #d72c0d; }
</style></head>
<body>
<main id="attune-admin" data-shop="{{ shop or '' }}">
  <h1>Attune</h1>
  <section class="card" id="shop-card"><p class="muted">Loading your shop&hellip;</p></section>
</main>
<script>
(function () {
  const params = new URLSearchParams(window.location.search);
  const RETRY = {{ retry_header|tojson }};
  async function sessionToken() {
    if (window.shopify && typeof window.shopify.idToken === "function") {
      try { return await window.shopify.idToken(); } catch (e) { /* fall back below */ }
    }
    return params.get("id_token");  // the local fake Shopify passes one on the URL
  }
  async function api(path, retried) {
    const token = await sessionToken();
    const res = await fetch(path, { headers: { Authorization: "Bearer " + token } });
    if (res.status === 401 && res.headers.get(RETRY) === "1" && !retried) { return api(path, true); }
    if (!res.ok) { throw new Error((await res.json()).message || res.statusText); }
    return res.json();
  }
  window.attune = { api: api, sessionToken: sessionToken };
  const card = document.getElementById("shop-card");
  api("/api/admin/shop").then(function (shop) {
    card.innerHTML = "";
    const h = document.createElement("h2"); h.textContent = shop.shop; card.appendChild(h);
    const p = document.createElement("p");
    p.textContent = (shop.installed ? "Installed" : "Not installed") + " \\u00b7 scopes: " + shop.scopes.join(", ");
    card.appendChild(p);
  }).catch(function (err) {
    card.innerHTML = ""; const p = document.createElement("p"); p.className = "error";
    p.textContent = "Could not load your shop: " + err.message; card.appendChild(p);
  });
})();
</script>
</body></html>
"""


@bp.get("/app")
def shell():
    """The embedded admin shell; data comes from ``/api/admin/*`` with a session token."""
    cfg = settings()
    shop = request.args.get("shop")
    shop = shop if is_valid_shop_domain(shop) else None
    html = render_template_string(
        SHELL,
        api_key=cfg.shopify_api_key,
        shop=shop,
        retry_header=RETRY_HEADER,
        app_bridge=cfg.shopify_admin_origin_template == "https://{shop}",
    )
    response = make_response(html)
    ancestors = "https://admin.shopify.com" + (f" https://{shop}" if shop else "")
    response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors};"
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
