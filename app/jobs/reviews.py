"""Review imports: parse, match and store a CSV of product reviews for one shop, then refresh the reviewers.

``import_reviews`` is what ``attune reviews import`` and ``POST /api/admin/reviews/import`` call: it stores
the good rows in one transaction and, after the commit, refreshes each reviewer's profile (reviews count,
average rating, liked / disliked products) and personal lists (low ratings block a product like a return)
— queued as one ``refresh_reviewers`` job, or inline when asked (the command line's default).
"""

from __future__ import annotations

from typing import Any

from app.commerce.reviews import ImportResult, parse_reviews_csv, store_reviews
from app.config import Settings, get_settings
from app.db import after_commit, session_scope
from app.queue import enqueue

REFRESH_JOB = "app.jobs.reviews.refresh_reviewers"


def import_reviews(
    settings: Settings, shop_id: int, text: str, *, source: str = "csv", inline_refresh: bool = False
) -> ImportResult:
    """Store the file's good rows (raises ``ReviewFileError`` for an unusable file); refresh after commit."""
    rows, rejected = parse_reviews_csv(text)
    with session_scope(settings.database_url) as session:
        result = store_reviews(session, shop_id, rows, source=source)
        customers = result.customers
        if customers and not inline_refresh:
            redis_url = settings.redis_url
            after_commit(
                session, lambda: enqueue(redis_url, REFRESH_JOB, shop_id, customers, queue="low") or None
            )
    result.rejected = sorted(rejected + result.rejected, key=lambda r: r["row"])
    if customers and inline_refresh:
        refresh_reviewers(shop_id, customers)
    return result


def refresh_reviewers(shop_id: int, customer_ids: list[int]) -> dict[str, Any]:
    """RQ job: rebuild each reviewer's profile and personal lists (the process settings' database).
    Idempotent: both are recomputed from their sources."""
    from app.jobs.profiles import refresh_profile
    from app.jobs.recommendations import refresh_for_customer

    settings = get_settings()
    for cid in customer_ids:
        refresh_profile(shop_id, f"customer:{int(cid)}")
        refresh_for_customer(shop_id, int(cid), settings)
    return {"customers": len(customer_ids)}
