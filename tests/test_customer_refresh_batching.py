"""The batched customer refresh (issue 14, freshness): changes mark customers per shop and one job per shop and
tick refreshes them all, each once; it is safe to retry, one run per shop at a time, ranks a batch as it ranks
each customer alone, and a new order of one customer reads that customer's rows, however large the shop."""

from __future__ import annotations

import pytest
from ranker_support import double_shop, new_order, order_rows_read, replay_sample
from redis import Redis
from rq import Queue
from sqlmodel import select

from app import tasks
from app.commerce.upserts import upsert_order
from app.db import get_engine
from app.jobs import customer_refresh
from app.jobs.customer_refresh import refresh_customers
from app.jobs.ranker import train_ranker
from app.jobs.recommendations import customer_lists, refresh_for_shop
from app.models.base import utcnow
from app.models.profiles import CustomerProfile
from app.models.serving import RecommendationList
from app.storefront.demo_data import seed_demo_shop
from app.stores.ranker import load_ranker

pytestmark = pytest.mark.usefixtures("hashing_embedder")


def _default(settings) -> Queue:
    return Queue("default", connection=Redis.from_url(settings.redis_url))


def _computed(session, shop_id: int) -> dict[tuple[str, str], object]:
    session.expire_all()
    rows = session.exec(
        select(RecommendationList).where(
            RecommendationList.shop_id == shop_id, RecommendationList.scope == "customer"
        )
    ).all()
    return {(r.subject, r.placement): r.computed_at for r in rows}


def _profile_versions(session, shop_id: int) -> dict[str, int]:
    session.expire_all()
    rows = session.exec(select(CustomerProfile).where(CustomerProfile.shop_id == shop_id)).all()
    return {r.customer_key: r.version for r in rows}


def _shop(session, settings):
    shop = seed_demo_shop(session)
    train_ranker(shop.shop_id, settings)
    refresh_for_shop(shop.shop_id, settings)
    customers = sorted({int(s) for s, _ in _computed(session, shop.shop_id)})
    Redis.from_url(settings.redis_url).flushdb()
    return shop.shop_id, customers


def test_changes_coalesce_into_one_job_per_shop_that_refreshes_each_customer_once(session, jobs_env):
    shop_id, customers = _shop(session, jobs_env)
    a, b, c = customers[:3]
    for cid in (a, b, a, a):  # orders and refunds: profile and lists
        assert tasks.queue_customer_refresh(jobs_env.redis_url, shop_id, [cid])
    assert tasks.queue_customer_refresh(jobs_env.redis_url, shop_id, [c], lists=False)  # a checkout
    assert _default(jobs_env).job_ids == [tasks.customers_job_id(shop_id)]  # one waiting job for all
    before_lists, before_profiles = _computed(session, shop_id), _profile_versions(session, shop_id)

    out = refresh_customers(shop_id)
    assert out == {"shop_id": shop_id, "profiles": 3, "customers_lists": 2, "lists": out["lists"]}
    assert out["lists"] >= 2
    after = _computed(session, shop_id)
    changed = {s for (s, _), at in after.items() if at != before_lists.get((s, _))}
    assert changed == {str(a), str(b)}  # the checkout's customer keeps their lists
    profiles = _profile_versions(session, shop_id)
    assert {k for k in profiles if profiles[k] != before_profiles.get(k)} == {
        f"customer:{x}" for x in (a, b, c)
    }
    assert _default(jobs_env).job_ids == [tasks.customers_job_id(shop_id)]  # the one run, nothing after it
    assert refresh_customers(shop_id) == {"shop_id": shop_id, "profiles": 0, "customers_lists": 0, "lists": 0}


def test_a_failed_run_leaves_its_customers_for_the_retry(session, jobs_env, monkeypatch):
    shop_id, customers = _shop(session, jobs_env)
    tasks.queue_customer_refresh(jobs_env.redis_url, shop_id, customers[:2])
    real = customer_refresh.refresh_chunk

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(customer_refresh, "refresh_chunk", fail)
    with pytest.raises(RuntimeError):
        refresh_customers(shop_id)
    monkeypatch.setattr(customer_refresh, "refresh_chunk", real)
    before = _computed(session, shop_id)
    out = refresh_customers(shop_id)  # RQ's retry (or the next change's run): the claim is taken again
    assert out["profiles"] == 2 and out["customers_lists"] == 2
    after = _computed(session, shop_id)
    assert {s for (s, p), at in after.items() if at != before[(s, p)]} == {str(c) for c in customers[:2]}


def test_one_run_per_shop_and_the_busy_one_queues_the_next(session, jobs_env):
    shop_id, customers = _shop(session, jobs_env)
    assert tasks.start_customer_refresh(jobs_env.redis_url, shop_id, "other-run")
    tasks.queue_customer_refresh(jobs_env.redis_url, shop_id, customers[:1])
    _default(jobs_env).empty()
    assert refresh_customers(shop_id) == {"shop_id": shop_id, "busy": True}  # leaves the marks alone
    tasks.finish_customer_refresh(jobs_env.redis_url, shop_id, "other-run")
    assert _default(jobs_env).job_ids == [tasks.customers_job_id(shop_id)]  # customers changed meanwhile
    assert refresh_customers(shop_id)["profiles"] == 1


def test_a_run_takes_at_most_its_limit_and_queues_the_next_for_the_rest(session, jobs_env, monkeypatch):
    shop_id, customers = _shop(session, jobs_env)
    monkeypatch.setattr(customer_refresh, "RUN_LIMIT", 2)
    monkeypatch.setattr(customer_refresh, "CHUNK", 1)
    tasks.queue_customer_refresh(jobs_env.redis_url, shop_id, customers[:3])
    _default(jobs_env).empty()
    assert refresh_customers(shop_id)["profiles"] == 2
    assert _default(jobs_env).job_ids == [tasks.customers_job_id(shop_id)]  # for the one left
    assert refresh_customers(shop_id)["profiles"] == 1
    assert refresh_customers(shop_id)["profiles"] == 0


def test_a_batch_is_ranked_as_each_customer_alone(session, settings):
    shop_id, customers = _shop(session, settings)
    stored = load_ranker(session, shop_id)
    now = utcnow()
    batch = customers[:12] + [987654]  # and a customer the ranker knows no orders of

    def key(specs):
        return {(s.subject, s.placement): (s.strategy, s.items, s.model_version, s.model_note) for s in specs}

    together = key(customer_lists(session, shop_id, batch, stored, now))
    alone = {}
    for cid in batch:
        alone |= key(customer_lists(session, shop_id, [cid], stored, now))
    assert together == alone and ("987654", "home") in together


@pytest.mark.slow
def test_a_new_order_of_one_customer_reads_that_customers_rows_however_large_the_shop(session, jobs_env):
    shop = replay_sample(session, "batch-cost.myshopify.com", customers=60)
    train_ranker(shop.shop_id, jobs_env)
    refresh_for_shop(shop.shop_id, jobs_env)
    engine = get_engine(jobs_env.database_url)
    customers = sorted({b["customer"]["id"] for b in shop.payloads})
    first = customers[0]

    def read(ids: list[int]) -> int:
        tasks.queue_customer_refresh(jobs_env.redis_url, shop.shop_id, ids)
        with order_rows_read(engine) as count:
            assert refresh_customers(shop.shop_id)["customers_lists"] == len(ids)
        return count.rows

    mine = next(b for b in shop.payloads if b["customer"]["id"] == first)
    body = new_order(shop.store, first, [ln["product_id"] for ln in mine["line_items"][:2]], utcnow())
    upsert_order(session, shop.shop_id, body)
    session.commit()
    before = read([first])
    # a batch of two reads what each alone reads (less the shared count): one order of theirs is no shop scan
    pair = read([first, customers[1]])
    assert pair < before + read([customers[1]])

    # the shop doubles (every other shopper orders their history again, a year later): nobody else's rows
    double_shop(session, shop, first)
    assert read([first]) == before
