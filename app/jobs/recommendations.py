"""Precompute the storefront's recommendation lists per shop, product, customer and placement.

``refresh_for_shop`` rebuilds every list of a shop from its commerce rows (the shop's stored ranker ranks the
personal lists; before its first training, which the install's sync queues, the untrained fallback computed
here); ``refresh_personal_lists``
rewrites only the customers' lists, after a training. ``refresh_for_customer``
rewrites one customer's personal lists, from the stored ranker and that customer's own rows only (plus the
cards of the ranked products and the shop's rules): its cost does not grow with the shop. It also queues a
retraining once enough new orders arrived since the last one. ``refresh_customers_lists`` is the same for many
customers at once, ranked together: the batched refresh after orders and refunds
(``app.jobs.customer_refresh``) calls it. All are idempotent and queued after the commit of the change that
makes them stale (``app.tasks.refresh_lists_after_commit``, ``app.tasks.customer_changed``). The
app proxy serves the stored rows; nothing here runs on a storefront request.
"""

from __future__ import annotations

import logging

import numpy as np
from sqlmodel import Session

from app import tasks
from app.config import Settings, get_settings
from app.db import get_engine, retry_lost_race
from app.models.base import utcnow
from app.recommend.lists import DAY, ListSpec, compute_lists, customer_specs, personal_specs
from app.recommend.nextbasket import retrain_threshold, retrain_wait
from app.recommend.personal import personal_lists, rank_personal
from app.stores.lists import customer_rules, load_shop_data, write_lists
from app.stores.ranker import StoredRanker, load_ranker, orders_since, purchase_lines

log = logging.getLogger(__name__)


def refresh_for_shop(shop_id: int, settings: Settings | None = None, *, personal: bool = True) -> int:
    """Rebuild every list of the shop (without ``personal``: all but the customers' own). Returns how many lists
    it wrote."""
    settings = settings or get_settings()
    scopes: dict[str, None] = {"placement": None, "product": None} | ({"customer": None} if personal else {})

    def work() -> int:
        with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
            now = utcnow()
            data = load_shop_data(session, shop_id)
            specs = compute_lists(data, now=now.timestamp(), personal=personal)
            n = write_lists(session, shop_id, specs, replace_scopes=scopes, now=now)
            session.commit()
        return n

    # a customer refresh may insert one of the same rows meanwhile: recompute rather than fail the job
    n = retry_lost_race(work)
    log.info("recommendations: shop %s, %s lists", shop_id, n)
    return n


def refresh_personal_lists(shop_id: int, settings: Settings | None = None) -> int:
    """Rewrite every customer's personal lists with the shop's stored ranker (queued after each training; the
    product and placement lists do not depend on it and stay as they are)."""
    settings = settings or get_settings()

    def work() -> int:
        with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
            now = utcnow()
            data = load_shop_data(session, shop_id, with_content=False)
            specs = personal_specs(data, None, now.timestamp())
            n = write_lists(session, shop_id, specs, replace_scopes={"customer": None}, now=now)
            session.commit()
        return n

    n = retry_lost_race(work)
    log.info("recommendations: shop %s, %s personal lists", shop_id, n)
    return n


def customer_lists(
    session: Session, shop_id: int, customer_ids: list[int], stored: StoredRanker, now
) -> list[ListSpec]:
    """These customers' personal lists from the stored ranker: reads their orders and returns, the cards of
    the ranked products and the shop's rules; nothing else of the shop. Ranked together, each as alone."""
    ranker = stored.ranker
    history = purchase_lines(session, shop_id, customer_ids, with_products=False).baskets(ranker.catalogue)
    cs = ranker.customers(history)
    row_of = {str(c): r for r, c in enumerate(history.customers)}
    when = now.timestamp() / DAY
    known = [str(c) for c in customer_ids if str(c) in row_of]
    # none of their orders is of a product the ranker knows yet: the best sellers until it retrains
    cold = [str(c) for c in customer_ids if str(c) not in row_of]
    rankings = []
    if known:
        rows = np.array([row_of[c] for c in known], np.int64)
        rankings.append(rank_personal(ranker, cs, rows, np.full(len(rows), when)))
    if cold:
        zeros = np.zeros(len(cold), np.int64)
        rankings.append(rank_personal(ranker, None, zeros, np.full(len(cold), when), customer_ids=cold))
    product_ids = set().union(*(r.product_ids() for r in rankings))
    cards, rules = customer_rules(session, shop_id, list(customer_ids), product_ids, stored.currency)
    specs: list[ListSpec] = []
    for ranked in rankings:
        specs += customer_specs(cards, ranked, personal_lists(ranked, rules), stored.info())
    return specs


def refresh_customers_lists(
    session: Session, shop_id: int, customer_ids: list[int], now
) -> tuple[int, float | None]:
    """Rewrite these customers' personal lists in ``session`` (no commit). Returns (lists written, seconds until
    a retraining is due: 0 for now, when enough new orders arrived or no ranker knows any order yet; more while
    the last training is recent; None when none is due)."""
    stored = load_ranker(session, shop_id)
    if stored is None or stored.ranker.shop is None:
        return 0, 0.0  # no ranker (or one trained before any order): the training refreshes every list
    specs = customer_lists(session, shop_id, customer_ids, stored, now)
    subjects = {str(c) for c in customer_ids}
    n = write_lists(session, shop_id, specs, replace_scopes={"customer": subjects}, now=now)
    cap = retrain_threshold(stored.orders)
    since = (now - stored.trained_at).total_seconds()
    return n, retrain_wait(stored.orders, orders_since(session, shop_id, stored.last_order_at, cap), since)


def refresh_for_customer(shop_id: int, customer_id: int, settings: Settings | None = None) -> int:
    """Rewrite one customer's personal lists (home, buy it again) with the shop's stored ranker."""
    settings = settings or get_settings()
    wait: float | None = None

    def work() -> int:
        nonlocal wait
        with Session(get_engine(settings.database_url), expire_on_commit=False) as session:
            n, wait = refresh_customers_lists(session, shop_id, [customer_id], utcnow())
            session.commit()
        return n

    n = retry_lost_race(work)
    if wait is not None:
        tasks.train_ranker(settings.redis_url, shop_id, delay_s=wait)
    return n
