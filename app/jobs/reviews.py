"""Review imports: match and store an uploaded file of product reviews, then refresh the reviewers.

- ``run_review_import(import_id)``: the worker job behind ``POST /api/admin/reviews/import``. It stores the
  file's good rows in one transaction with the import's result, clears the stored file, and after the commit
  queues one ``refresh_reviewers`` job. Idempotent: a finished import is not run again, and the upsert is keyed
  by ``review_key``, so a retry after a crash stores nothing twice.
- ``import_reviews(settings, shop_id, text)``: the same import for ``attune reviews import`` (the command line
  runs it in its own process and, by default, refreshes the reviewers inline).
- ``refresh_reviewers``: rebuild each reviewer's profile (reviews count, average rating, liked / disliked
  products) and personal lists (low ratings block a product like a return).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app import tasks
from app.commerce.reviews import ImportResult, ReviewFileError, parse_reviews_csv, store_reviews
from app.config import Settings, get_settings
from app.db import after_commit, session_scope
from app.jobs.profiles import refresh_profile
from app.jobs.recommendations import refresh_for_customer
from app.models.base import utcnow
from app.models.feedback import ReviewImport
from app.queue import enqueue


def _store(session: Session, shop_id: int, text: str, source: str) -> ImportResult:
    """Parse and store the file's good rows (raises ``ReviewFileError`` for an unusable file). No commit."""
    rows, rejected = parse_reviews_csv(text)
    result = store_reviews(session, shop_id, rows, source=source)
    result.rejected = sorted(rejected + result.rejected, key=lambda r: r["row"])
    return result


def _refresh_after_commit(
    session: Session, redis_url: str | None, shop_id: int, customers: list[int]
) -> None:
    if customers:
        after_commit(
            session,
            lambda: enqueue(redis_url, tasks.REFRESH_REVIEWERS, shop_id, customers, queue="low") or None,
        )
        after_commit(session, lambda: tasks.sync_knowledge(redis_url, shop_id) or None)  # reviews answer too


def run_review_import(import_id: int) -> dict[str, Any]:
    """RQ job: import one uploaded file (see the module docstring). Returns the import's status and result."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        upload = session.get(ReviewImport, import_id)
        if upload is None:
            return {"status": "missing"}
        if upload.status != "queued" or upload.body is None:
            return {"status": upload.status, "result": upload.result}
        try:
            result = _store(session, upload.shop_id, upload.body, upload.source)
        except ReviewFileError as exc:
            upload.status, upload.error = "failed", str(exc)
        else:
            upload.status, upload.result = "done", result.as_dict()
            _refresh_after_commit(session, settings.redis_url, upload.shop_id, result.customers)
        upload.body, upload.finished_at = None, utcnow()
        session.add(upload)
        return {"status": upload.status, "result": upload.result}


def import_reviews(
    settings: Settings, shop_id: int, text: str, *, source: str = "csv", inline_refresh: bool = False
) -> ImportResult:
    """Store the file's good rows now (raises ``ReviewFileError`` for an unusable file) and refresh the
    reviewers: queued after the commit, or inline when asked (the command line's default)."""
    with session_scope(settings.database_url) as session:
        result = _store(session, shop_id, text, source)
        if not inline_refresh:
            _refresh_after_commit(session, settings.redis_url, shop_id, result.customers)
    if result.customers and inline_refresh:
        refresh_reviewers(shop_id, result.customers)
    return result


def refresh_reviewers(shop_id: int, customer_ids: list[int]) -> dict[str, Any]:
    """RQ job: rebuild each reviewer's profile and personal lists (the process settings' database).
    Idempotent: both are recomputed from their sources."""
    settings = get_settings()
    for cid in customer_ids:
        refresh_profile(shop_id, f"customer:{int(cid)}")
        refresh_for_customer(shop_id, int(cid), settings)
    return {"customers": len(customer_ids)}
