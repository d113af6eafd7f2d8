"""``POST /api/admin/reviews/import``: a CSV of product reviews for the authenticated shop (session token).

The body is the CSV itself (``Content-Type: text/csv``) or a multipart form with the file in ``file``; at most
``MAX_BODY`` bytes. Optional query parameter ``source`` (``csv`` by default, e.g. ``judgeme``). Columns and
matching rules: ``app.commerce.reviews``.

The request only checks and records the file: 400 an unusable file (not UTF-8, no header, a required column
missing), 413 too large, 422 no row is readable (each listed with its row number and reason); otherwise 202
with the import's id, how many rows are readable and the rows rejected so far. A worker job
(``app.jobs.reviews.run_review_import``) matches the rows to the shop's customers and products and stores
them; ``GET /api/admin/reviews/imports/<id>`` answers its status and, once done, what was stored, updated and
rejected. The reviewers' profiles and personal lists are refreshed by a job after that commit.
"""

from __future__ import annotations

import re

from flask import Blueprint, g, jsonify, request

from app import tasks
from app.commerce.reviews import ReviewFileError, parse_reviews_csv
from app.db import after_commit, session_scope
from app.models.feedback import ReviewImport
from app.queue import enqueue
from app.web import settings
from app.web.session_auth import require_session_token

bp = Blueprint("admin_reviews", __name__)

MAX_BODY = 5 * 1024 * 1024
_SOURCE = re.compile(r"^[a-z0-9_-]{1,32}$")


def _error(status: int, error: str, message: str, **extra):
    return jsonify(error=error, message=message, **extra), status


@bp.post("/api/admin/reviews/import")
@require_session_token
def import_csv():
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(413, "body_too_large", f"the file exceeds {MAX_BODY} bytes")
    source = request.args.get("source", "csv")
    if not _SOURCE.match(source):
        return _error(400, "invalid_source", "source is a short lowercase name like csv or judgeme")
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            return _error(400, "no_file", "send the CSV in the form field 'file'")
        raw = upload.stream.read(MAX_BODY + 1)
    else:
        raw = request.stream.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        return _error(413, "body_too_large", f"the file exceeds {MAX_BODY} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _error(400, "invalid_encoding", "the file is not UTF-8 text")
    try:
        rows, rejected = parse_reviews_csv(text)
    except ReviewFileError as exc:
        return _error(400, "invalid_file", str(exc))
    if not rows:
        return _error(422, "no_valid_rows", "no row could be stored", rows=0, rejected=rejected)
    cfg = settings()
    with session_scope(cfg.database_url) as session:
        upload = ReviewImport(shop_id=g.shop.id, source=source, body=text)
        session.add(upload)
        session.flush()
        import_id = upload.id
        redis_url = cfg.redis_url
        after_commit(session, lambda: enqueue(redis_url, tasks.IMPORT_REVIEWS, import_id) or None)
    return jsonify(_status(upload) | {"rows": len(rows), "rejected": rejected}), 202


@bp.get("/api/admin/reviews/imports/<int:import_id>")
@require_session_token
def import_status(import_id: int):
    """One import of this shop: queued, done (with its result) or failed (with the reason)."""
    with session_scope(settings().database_url) as session:
        upload = session.get(ReviewImport, import_id)
        if upload is None or upload.shop_id != g.shop.id:
            return _error(404, "not_found", "no such review import for this shop")
        return jsonify(_status(upload))


def _status(upload: ReviewImport) -> dict:
    out = {
        "import_id": upload.id,
        "status": upload.status,
        "status_url": f"/api/admin/reviews/imports/{upload.id}",
    }
    if upload.result is not None:
        out |= upload.result
    if upload.error:
        out["error"] = upload.error
    return out
