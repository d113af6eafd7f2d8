"""Precompute the storefront's recommendation lists per shop, product, customer and placement.

``refresh_for_shop`` rebuilds every list of a shop from its commerce rows; ``refresh_for_customer``
rewrites only one customer's lists (after their order or refund). Both are idempotent and queued after the
commit of the change that makes them stale (``app.tasks.refresh_lists_after_commit``). The app proxy serves
the stored rows; nothing here runs on a storefront request.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from app.config import Settings, get_settings
from app.db import get_engine, retry_lost_race
from app.recommend.lists import compute_lists
from app.stores.lists import load_shop_data, write_lists

log = logging.getLogger(__name__)


def refresh_for_shop(shop_id: int, settings: Settings | None = None) -> int:
    """Rebuild every list of the shop. Returns how many lists it wrote."""
    settings = settings or get_settings()

    def work() -> int:
        with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
            specs = compute_lists(load_shop_data(session, shop_id))
            n = write_lists(
                session, shop_id, specs, replace_scopes={"placement": None, "product": None, "customer": None}
            )
            session.commit()
        return n

    # a customer refresh may insert one of the same rows meanwhile: recompute rather than fail the job
    n = retry_lost_race(work)
    log.info("recommendations: shop %s, %s lists", shop_id, n)
    return n


def refresh_for_customer(shop_id: int, customer_id: int, settings: Settings | None = None) -> int:
    """Rewrite one customer's lists (buy it again, personal home) from the shop's current history."""
    settings = settings or get_settings()

    def work() -> int:
        with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
            data = load_shop_data(session, shop_id, with_content=False)
            specs = compute_lists(data, customers={customer_id})
            n = write_lists(session, shop_id, specs, replace_scopes={"customer": {str(customer_id)}})
            session.commit()
        return n

    return retry_lost_race(work)
