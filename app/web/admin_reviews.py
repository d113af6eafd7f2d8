"""``POST /api/admin/reviews/import``: a CSV of product reviews for the authenticated shop (session token).

The body is the CSV itself (``Content-Type: text/csv``) or a multipart form with the file in ``file``; at most
``MAX_BODY`` bytes. Optional query parameter ``source`` (``csv`` by default, e.g. ``judgeme``). Columns and
matching rules: ``app.commerce.reviews``.

Answers, like the pixel endpoint: 200 every row stored, 207 some rows rejected (listed with their row number
and reason; the good rows are stored), 422 no row could be kept, 400 an unusable file (not UTF-8, no header,
a required column missing), 413 too large. The reviewers' profiles and personal lists are refreshed by a job
after the commit.
"""

from __future__ import annotations

import re

from flask import Blueprint, g, jsonify, request

from app.commerce.reviews import ReviewFileError
from app.jobs.reviews import import_reviews
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
        result = import_reviews(settings(), g.shop.id, text, source=source)
    except ReviewFileError as exc:
        return _error(400, "invalid_file", str(exc))
    body = result.as_dict()
    if not result.stored and not result.updated:
        return _error(422, "no_valid_rows", "no row could be stored", **body)
    return jsonify(body), (207 if result.rejected else 200)
