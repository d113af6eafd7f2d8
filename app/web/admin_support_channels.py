"""The embedded admin's API for the support agent's other channels (session-token auth, the token's shop only):

- ``GET /api/admin/support/channels``: the Messenger / Instagram Page, the inbound e-mail webhook and the help
  desk, each with its settings, which secrets are stored (never their values), the webhook URL to give the
  provider, and ``ready`` or what is ``missing``.
- ``PUT /api/admin/support/channels/messenger``: ``{"page_id", "instagram_id"?, "page_token"?, "app_secret"?,
  "verify_token"?}``;
- ``PUT /api/admin/support/channels/email``: ``{"address"?, "signing_key"?}`` (Mailgun's webhook signing key);
- ``PUT /api/admin/support/channels/helpdesk``: ``{"provider": "gorgias" | "zendesk", "account", "email",
  "api_token"?}``;
- ``DELETE /api/admin/support/channels/<name>``: disconnect one, forgetting its settings and secrets.

``?locale=fr`` adds ``words``: the admin section's texts in the shop's language (``app.channels.admin_words``).
Secrets are stored encrypted (``app.crypto``); one left out keeps the stored one. A wrong field is 422 naming it
(``field``), a body that is not a JSON object 400.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, jsonify, request

from app.channels.admin_words import Words, negotiate
from app.crypto import TokenCipher
from app.db import session_scope
from app.stores import support_channels as store
from app.web import settings
from app.web.channel_forms import FormError
from app.web.session_auth import require_session_token

bp = Blueprint("admin_support_channels", __name__)

NUMERIC_ID = re.compile(r"^\d{1,32}$")
ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
EMAIL = re.compile(r"^[^@\s<>]{1,64}@[^@\s<>]{1,255}$")
SECRET = re.compile(r"^[\x21-\x7e]{8,1024}$")


def _field(body: dict[str, Any], name: str, pattern: re.Pattern[str], what: str, *, required: bool = False):
    value = body.get(name)
    if value in (None, ""):
        if required:
            raise FormError(name, f"{name} is required")
        return None
    if not isinstance(value, str) or not pattern.match(value.strip()):
        raise FormError(name, f"{name} must be {what}")
    return value.strip()


def _cipher() -> TokenCipher:
    return TokenCipher(settings().encryption_keys)


@bp.get("/api/admin/support/channels")
@require_session_token
def support_channels():
    cfg = settings()
    with session_scope(cfg.database_url) as session:
        out = store.view(session, _cipher(), g.shop.id, cfg.app_url, g.shop.domain)
    out["words"] = Words(negotiate(request.args.get("locale"))).channels_ui()
    return jsonify(out)


@bp.delete("/api/admin/support/channels/<name>")
@require_session_token
def disconnect_support_channel(name: str):
    if name not in store.CHANNEL_NAMES:
        return jsonify(error="not_found", message="no such support channel"), 404
    with session_scope(settings().database_url) as session:
        store.disconnect(session, g.shop.id, name)
    return support_channels()


@bp.put("/api/admin/support/channels/<name>")
@require_session_token
def save_support_channel(name: str):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="invalid_body", message="send a JSON object"), 400
    cfg = settings()
    try:
        with session_scope(cfg.database_url) as session:
            if name == "messenger":
                page = _field(body, "page_id", NUMERIC_ID, "the Page's numeric id", required=True)
                instagram = _field(body, "instagram_id", NUMERIC_ID, "the Instagram account's numeric id")
                secrets = {k: _field(body, k, SECRET, "8 to 1024 printable characters")
                           for k in ("page_token", "app_secret", "verify_token")}  # fmt: skip
                store.save_meta_settings(session, _cipher(), g.shop.id, page, instagram, secrets)
            elif name == "email":
                address = _field(body, "address", EMAIL, "an e-mail address")
                key = _field(body, "signing_key", SECRET, "8 to 1024 printable characters")
                store.save_mail_in_settings(session, _cipher(), g.shop.id, address, key)
            elif name == "helpdesk":
                provider = body.get("provider")
                if provider not in store.DESKS:
                    raise FormError("provider", "provider is gorgias or zendesk")
                account = _field(
                    body, "account", ACCOUNT, "the subdomain (acme for acme.zendesk.com)", required=True
                )
                email = _field(body, "email", EMAIL, "the API user's e-mail address", required=True)
                token = _field(body, "api_token", SECRET, "8 to 1024 printable characters")
                store.save_helpdesk_settings(session, _cipher(), g.shop.id, provider, account, email, token)
            else:
                return jsonify(error="not_found", message="no such support channel"), 404
    except FormError as exc:
        return jsonify(error="invalid_field", message=str(exc), field=exc.field), 422
    return support_channels()
