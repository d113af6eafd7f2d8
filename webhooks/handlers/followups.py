"""What a webhook's change makes stale, queued once its transaction commits (never before: Saleor's rule).

- a customer's orders, returns or checkouts → their profile (explicit + derived) and their precomputed lists;
- the catalogue or stock → the shop's precomputed lists and product vectors (one job each per shop,
  deduplicated by job id; the vector job re-embeds only changed texts).
"""

from __future__ import annotations

from sqlmodel import Session

from app.config import get_settings


def customer_changed(session: Session, shop_id: int, customer_id: int | None) -> None:
    if customer_id is None:
        return
    from app.jobs.profiles import enqueue_refresh
    from app.jobs.recommendations import enqueue_refresh_after_commit

    enqueue_refresh(session, shop_id, customer_id)
    enqueue_refresh_after_commit(session, get_settings(), shop_id, customer_id)


def catalog_changed(session: Session, shop_id: int) -> None:
    from app.jobs.catalog import enqueue_embed_after_commit
    from app.jobs.recommendations import enqueue_refresh_after_commit

    enqueue_refresh_after_commit(session, get_settings(), shop_id)
    enqueue_embed_after_commit(session, get_settings(), shop_id)
