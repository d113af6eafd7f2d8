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
