"""Embedded-admin support knowledge (session-token auth, every query scoped by ``g.shop.id``):

- ``GET /api/admin/support/faq``: the merchant's FAQ entries; ``POST`` ``{"question", "answer"}`` adds one
  (201), ``PUT /api/admin/support/faq/<id>`` replaces one, ``DELETE`` removes it (and its passages). Each
  change queues the shop's local knowledge sync after its commit. Bad input is 400 with the ``field`` named.
- ``GET /api/admin/support/knowledge``: how many passages the assistant answers from, by kind.
- ``POST /api/admin/support/knowledge/sync``: re-read the shop's policies and pages from Shopify and re-sync
  everything (202; the job is deduplicated per shop).
- ``GET /api/admin/support/resolution?days=30``: the AI resolution rate, the hand-off rate and the questions
  the assistant could not answer, grouped, with the published references beside them.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from app import tasks
from app.db import session_scope
from app.stores.knowledge import knowledge_counts
from app.stores.knowledge_faq import delete_faq, list_faq, save_faq
from app.stores.support_stats import support_resolution
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_knowledge", __name__)
MAX_ID = 2**63 - 1
MAX_BODY = 16_384


def _error(status: int, error: str, message: str, field: str | None = None):
    return jsonify(error=error, message=message, **({"field": field} if field else {})), status


def _entry_body() -> tuple[object, object] | tuple[None, tuple]:
    if (request.content_length or 0) > MAX_BODY:
        return None, _error(413, "too_large", f"the body exceeds {MAX_BODY} bytes")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"question", "answer"}:
        return None, _error(400, "invalid_request", 'send a JSON object {"question": …, "answer": …}')
    return (body.get("question"), body.get("answer")), ()


def _save(faq_id: int | None):
    parsed, failure = _entry_body()
    if parsed is None:
        return failure
    question, answer = parsed  # type: ignore[misc]
    cfg = settings()
    with session_scope(cfg.database_url) as session:
        try:
            entry = save_faq(session, g.shop.id, question, answer, faq_id)
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            return _error(400, "invalid_faq", message, field)
        if entry is None:
            return _error(404, "not_found", "no such FAQ entry in this shop")
        tasks.knowledge_changed(session, g.shop.id)
    return jsonify(faq=entry), 201 if faq_id is None else 200


@bp.get("/api/admin/support/faq")
@require_session_token
def faq_list():
    with session_scope(settings().database_url) as session:
        return jsonify(faq=list_faq(session, g.shop.id))


@bp.post("/api/admin/support/faq")
@require_session_token
def faq_create():
    return _save(None)


@bp.put("/api/admin/support/faq/<int:faq_id>")
@require_session_token
def faq_update(faq_id: int):
    if faq_id > MAX_ID:
        return _error(404, "not_found", "no such FAQ entry in this shop")
    return _save(faq_id)


@bp.delete("/api/admin/support/faq/<int:faq_id>")
@require_session_token
def faq_delete(faq_id: int):
    if faq_id > MAX_ID:
        return _error(404, "not_found", "no such FAQ entry in this shop")
    with session_scope(settings().database_url) as session:
        if not delete_faq(session, g.shop.id, faq_id):
            return _error(404, "not_found", "no such FAQ entry in this shop")
    return jsonify(deleted=True)


@bp.get("/api/admin/support/knowledge")
@require_session_token
def knowledge_summary():
    with session_scope(settings().database_url) as session:
        counts = knowledge_counts(session, g.shop.id)
    return jsonify(passages=sum(counts.values()), by_kind=counts)


@bp.post("/api/admin/support/knowledge/sync")
@require_session_token
def knowledge_sync():
    queued = tasks.sync_knowledge(settings().redis_url, g.shop.id, full=True)
    return jsonify(queued=bool(queued)), 202


@bp.get("/api/admin/support/resolution")
@require_session_token
def resolution():
    raw = request.args.get("days", "30")
    if not raw.isdigit():
        return _error(400, "invalid_days", "days is a whole number from 1 to 365", "days")
    with session_scope(settings().database_url) as session:
        try:
            figures = support_resolution(session, g.shop.id, int(raw))
        except ValueError as exc:
            return _error(400, "invalid_days", str(exc).partition(": ")[2], "days")
    return jsonify(figures)
