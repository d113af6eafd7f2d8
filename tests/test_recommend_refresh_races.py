"""Precompute jobs that race each other (two workers, same shop) both finish, and leave one row per list."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from app.db import retry_lost_race
from app.jobs.recommendations import refresh_for_customer, refresh_for_shop
from app.models.serving import RecommendationList
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop

pytestmark = pytest.mark.usefixtures("hashing_embedder")


def test_a_lost_race_is_recomputed_and_a_persistent_conflict_still_fails():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))
        return "done"

    assert retry_lost_race(flaky) == "done" and len(calls) == 3

    def always():
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    with pytest.raises(IntegrityError):
        retry_lost_race(always, attempts=2)

    with pytest.raises(ValueError):  # anything else is a real failure, raised at once
        retry_lost_race(lambda: (_ for _ in ()).throw(ValueError("bug")))


def test_concurrent_shop_and_customer_refreshes_all_succeed(session, settings):
    shop = seed_demo_shop(session)
    session.commit()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def run(fn, *args):
        start.wait()
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(refresh_for_shop, shop.shop_id, settings)),
        threading.Thread(target=run, args=(refresh_for_shop, shop.shop_id, settings)),
        threading.Thread(target=run, args=(refresh_for_customer, shop.shop_id, DEMO_CUSTOMER, settings)),
        threading.Thread(target=run, args=(refresh_for_customer, shop.shop_id, DEMO_CUSTOMER, settings)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors

    key = (RecommendationList.scope, RecommendationList.subject, RecommendationList.placement)
    dupes = session.exec(
        select(*key).where(RecommendationList.shop_id == shop.shop_id).group_by(*key).having(func.count() > 1)
    ).all()
    assert dupes == []
    mine = session.exec(
        select(RecommendationList.placement).where(
            RecommendationList.shop_id == shop.shop_id,
            RecommendationList.scope == "customer",
            RecommendationList.subject == str(DEMO_CUSTOMER),
        )
    ).all()
    assert {"home", "buy_again"} <= set(mine)


def test_a_shop_wide_pass_never_overwrites_a_newer_customer_list(session, settings):
    """The pass reads its data at ``t0`` and ranks for a while; an order arrives and the customer's list is
    refreshed at ``t1``; when the pass writes, that newer list stays (neither replaced nor deleted)."""
    from datetime import timedelta

    from app.models.base import utcnow
    from app.recommend.lists import ListSpec
    from app.stores.lists import write_lists

    shop = seed_demo_shop(session)
    refresh_for_shop(shop.shop_id, settings)
    lists = select(RecommendationList).where(
        RecommendationList.shop_id == shop.shop_id, RecommendationList.scope == "customer"
    )
    rows = session.exec(lists).all()
    t0 = utcnow()
    newer = [r for r in rows if r.subject == str(DEMO_CUSTOMER)]
    assert newer
    t1 = t0 + timedelta(seconds=5)
    for r in newer:  # the customer's refresh after the order, committed while the pass ranks
        r.items, r.computed_at = [{"product_id": 1, "reason": "after the order"}], t1
        session.add(r)
    session.commit()
    stale = [{"product_id": 2, "reason": "from before the order"}]
    others = sorted({r.subject for r in rows} - {str(DEMO_CUSTOMER)})
    specs = [ListSpec("customer", s, "home", "ranker", stale) for s in [str(DEMO_CUSTOMER), *others]]
    # the pass produces no buy_again lists: older ones are deleted, the newer customer's stays
    written = write_lists(session, shop.shop_id, specs, replace_scopes={"customer": None}, now=t0)
    session.commit()
    session.expire_all()
    after = {(r.subject, r.placement): r for r in session.exec(lists).all()}
    assert written == len(others)
    for r in newer:
        kept = after[(r.subject, r.placement)]
        assert kept.computed_at == t1 and kept.items == [{"product_id": 1, "reason": "after the order"}]
    assert all(after[(s, "home")].items == stale and after[(s, "home")].computed_at == t0 for s in others)
    assert not [k for k in after if k[0] in others and k[1] != "home"]
