"""The embedded admin's Channels page API (session-token auth, every row the token's shop's):

- ``GET /api/admin/channels``: e-mail (sender, postal address, the SMTP URL masked), SMS (Twilio account SID,
  sender, the auth token masked), web push (the VAPID public key, once made) and Shopify Flow (the trigger
  extensions shipped with the app, and what each has fired), each with ``ready`` or what is ``missing``.
- ``PUT /api/admin/channels/email`` and ``/sms``: the settings (400 naming the field when one is wrong). A secret
  left out (``smtp_url``, ``auth_token``) keeps the stored one; ``"smtp_url": ""`` removes it. Secrets are stored
  encrypted and never sent back in full.
- ``POST /api/admin/channels/<email|sms|push|flow>/test``: queues a test through the real adapter (job
  ``app.jobs.channel_test.send_test_message``); 202 with a ``status_url``. E-mail and SMS ``{"to": address}``
  (a transactional message); push ``{"subscription_id": id}`` or ``{}`` (the shop's newest subscription);
  Flow ``{"trigger": handle}`` (``flowTriggerReceive`` with the trigger's sample values, naming the shop's
  newest customer and product). 409 while the channel cannot send, 404 for another shop's subscription,
  503 when the queue is unreachable (``app.web.channel_test_forms``).
- ``GET /api/admin/channels/tests/<id>``: ``queued``, ``sending``, ``sent`` (with the provider's id) or ``failed``
  (with the reason); another shop's id, or an expired one, is 404.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, g, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from app import tasks
from app.crypto import TokenCipher
from app.db import session_scope
from app.stores import channel_settings, channel_tests
from app.stores.channels import save_email_settings
from app.stores.sms import save_sms_settings
from app.web import channel_forms, settings
from app.web.channel_forms import FormError
from app.web.channel_test_forms import TESTABLE, NotFound, NotReady, test_target
from app.web.session_auth import require_session_token

bp = Blueprint("admin_channels", __name__)

EXTENSIONS = Path(__file__).resolve().parents[2] / "extensions"


def _error(status: int, error: str, message: str, **extra: Any):
    return jsonify(error=error, message=message, **extra), status


@bp.errorhandler(IntegrityError)
def _raced(_exc: IntegrityError):
    """Two first saves of the same shop's row at once: one wins, the other is asked to try again."""
    return _error(
        409, "conflict", "these settings were saved by another request at the same moment; try again"
    )


def _invalid(exc: FormError):
    return _error(400, "invalid_field", str(exc), field=exc.field)


@lru_cache(maxsize=1)
def flow_triggers() -> tuple[dict[str, str], ...]:
    """The Shopify Flow trigger extensions this app ships (``extensions/*/shopify.extension.toml``)."""
    found = []
    for path in sorted(EXTENSIONS.glob("*/shopify.extension.toml")):
        try:
            spec = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for ext in spec.get("extensions", []):
            if ext.get("type") == "flow_trigger" and ext.get("handle"):
                found.append({"handle": ext["handle"], "name": ext.get("name") or ext["handle"]})
    return tuple(found)


def _cipher() -> TokenCipher:
    return TokenCipher(settings().encryption_keys)


@bp.get("/api/admin/channels")
@require_session_token
def channels():
    cfg = settings()
    shop_id = g.shop.id
    with session_scope(cfg.database_url) as session:
        email = channel_settings.email_view(session, _cipher(), shop_id, cfg.attune_smtp_url)
        sms = channel_settings.sms_view(session, _cipher(), shop_id)
        push = channel_settings.push_view(session, shop_id)
        record = channel_settings.flow_record(session, shop_id)
    triggers = [
        {**t, **record.get(t["handle"], {"fired": 0, "failed": 0, "pending": 0, "last_at": None})}
        for t in flow_triggers()
    ]
    flow = {"ready": bool(triggers), "triggers": triggers}
    return jsonify(email=email, sms=sms, push=push, flow=flow)


@bp.put("/api/admin/channels/email")
@require_session_token
def save_email():
    try:
        values, smtp_url = channel_forms.email_settings(request.get_json(silent=True))
    except FormError as exc:
        return _invalid(exc)
    cfg = settings()
    with session_scope(cfg.database_url) as session:
        save_email_settings(session, _cipher(), g.shop.id, values, smtp_url)
    return channels()


@bp.put("/api/admin/channels/sms")
@require_session_token
def save_sms():
    cfg = settings()
    shop_id = g.shop.id
    with session_scope(cfg.database_url) as session:
        stored = channel_settings.has_secret(session, shop_id, "sms")
        try:
            values, token = channel_forms.sms_settings(request.get_json(silent=True), stored)
        except FormError as exc:
            return _invalid(exc)
        save_sms_settings(session, _cipher(), shop_id, values, token)
    return channels()


@bp.post("/api/admin/channels/<channel>/test")
@require_session_token
def send_test(channel: str):
    if channel not in TESTABLE:
        return _error(404, "not_found", f"test messages go by {', '.join(TESTABLE)}")
    body = request.get_json(silent=True)
    cfg = settings()
    shop_id = g.shop.id
    with session_scope(cfg.database_url) as session:
        try:
            recipient, details = test_target(session, cfg, _cipher(), shop_id, channel, body)
        except FormError as exc:
            if exc.field == "body":
                return _error(400, "invalid_request", str(exc))
            return _invalid(exc)
        except NotReady as exc:
            return _error(409, "channel_not_ready", str(exc))
        except NotFound as exc:
            return _error(404, "not_found", str(exc))
    try:
        test = channel_tests.create(cfg.redis_url, shop_id, channel, recipient, details)
    except RedisError:
        return _error(503, "queue_unavailable", "the job queue is unreachable; try again in a minute")
    if not tasks.send_test_message(cfg.redis_url, shop_id, test["test_id"]):
        return _error(503, "queue_unavailable", "the job queue is unreachable; try again in a minute")
    return jsonify(_status(test)), 202


@bp.get("/api/admin/channels/tests/<test_id>")
@require_session_token
def test_status(test_id: str):
    try:
        test = channel_tests.get(settings().redis_url, g.shop.id, test_id)
    except RedisError:
        return _error(503, "queue_unavailable", "test results are unreachable; try again in a minute")
    if test is None:
        return _error(404, "not_found", "no such test message for this shop (results are kept for a day)")
    return jsonify(_status(test))


def _status(test: dict[str, Any]) -> dict[str, Any]:
    return {**test, "status_url": f"/api/admin/channels/tests/{test['test_id']}"}
