"""Embedded-admin support escalations (session-token auth, every query scoped by ``g.shop.id``):

- ``GET /api/admin/support/escalations``: the questions the storefront assistant handed to a person and nobody
  has resolved yet, longest waiting first, each with the shopper's question, the assistant's answer and who
  asked (``customer_id`` for a signed-in customer, else ``client_id``); ``?limit=`` 1-200 (50).
- ``POST /api/admin/support/escalations/<id>/resolve``, optional JSON ``{"note": "the reply you sent"}``:
  marks it resolved. Idempotent: resolving it again answers 200 with the first resolution unchanged
  (``changed: false``). Another shop's id, or a message that was not escalated, is 404.

A resolution queues the shopper's profile refresh after its commit, so the profile's ``support`` block shows
it (open and resolved escalations, with the note).
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from app import tasks
from app.db import session_scope
from app.stores.support import MAX_NOTE, open_escalations, refresh_key, resolve_escalation
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_support", __name__)

MAX_LIMIT = 200
MAX_ID = 2**63 - 1
REPLY_CHANNELS = ("fb:", "ig:", "email:", "sms:")


def _error(status: int, error: str, message: str):
    return jsonify(error=error, message=message), status


@bp.get("/api/admin/support/escalations")
@require_session_token
def escalations():
    raw = request.args.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return _error(400, "invalid_limit", f"limit is a whole number from 1 to {MAX_LIMIT}")
    with session_scope(settings().database_url) as session:
        items, total = open_escalations(session, g.shop.id, int(raw))
    return jsonify(escalations=items, open=total)


@bp.post("/api/admin/support/escalations/<int:message_id>/resolve")
@require_session_token
def resolve(message_id: int):
    note = None
    if request.get_data(cache=True).strip():
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) - {"note"}:
            return _error(400, "invalid_request", 'send nothing, or a JSON object {"note": "your reply"}')
        note = body.get("note")
        if note is not None and not isinstance(note, str):
            return _error(400, "invalid_note", "note must be text")
        if note is not None and len(note) > MAX_NOTE:
            return _error(400, "invalid_note", f"note is longer than {MAX_NOTE} characters")
    if message_id > MAX_ID:
        return _error(404, "not_found", "no such escalation in this shop")
    cfg = settings()
    shop_id = g.shop.id
    with session_scope(cfg.database_url) as session:
        found = resolve_escalation(session, shop_id, message_id, note)
        if found is None:
            return _error(404, "not_found", "no such escalation in this shop")
        escalation, changed = found
        if changed:
            customer = int(escalation["customer_id"]) if escalation["customer_id"] else None
            key = refresh_key(customer, escalation["client_id"])
            tasks.refresh_profile_after_commit(session, cfg.redis_url, shop_id, key)
            if escalation["note"] and (escalation["client_id"] or "").startswith(REPLY_CHANNELS):
                # the shopper asked on Messenger, Instagram, by e-mail or SMS: the note goes back to them there
                tasks.human_reply_after_commit(session, cfg.redis_url, shop_id, message_id)
    return jsonify(escalation=escalation, changed=changed)
