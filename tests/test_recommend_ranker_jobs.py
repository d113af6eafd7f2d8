"""The shop's next-basket ranker as a job: trained nightly and after a sync, stored per shop with its version,
training time and data size; the lists it ranks say so; a customer refresh without a ranker asks for one."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from redis import Redis
from rq import Queue
from sqlmodel import select

from app import tasks
from app.jobs.ranker import train_all_rankers, train_ranker
from app.jobs.recommendations import refresh_for_customer, refresh_for_shop, refresh_personal_lists
from app.models.base import utcnow
from app.models.commerce import Order, OrderLine, Product
from app.models.serving import RecommendationList
from app.models.shop import Shop
from app.models.shop_models import RankerModel
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
from app.stores.ranker import load_ranker, purchase_lines, save_ranker
from app.worker import PERIODIC_JOBS
from webhooks.handlers.compliance import customer_redact

pytestmark = pytest.mark.usefixtures("hashing_embedder")


def _queued(settings) -> list[str]:
    return Queue("low", connection=Redis.from_url(settings.redis_url)).job_ids


def test_the_ranker_is_stored_versioned_with_its_training_time_and_size(session, settings):
    shop = seed_demo_shop(session)
    first = train_ranker(shop.shop_id, settings)
    # 62 shoppers, 125 orders: too little to learn from, so the stored model is the untrained fallback
    assert first["kind"] == "untrained" and first["version"] == 1 and first["orders"] == 125
    assert first["why"] == (
        "too little history to learn from: 42 customers with a repeat order and 125 orders "
        "(it learns from 30 and 200)"
    )
    assert _queued(settings) == [tasks.personal_lists_job_id(shop.shop_id)]  # personal lists follow it
    row = session.exec(select(RankerModel).where(RankerModel.shop_id == shop.shop_id)).one()
    assert row.customers == 62 and row.items == 16 and row.size_bytes == len(row.blob) > 0
    assert row.last_order_at is not None and row.trained_at >= row.last_order_at
    assert row.params["ranker"] == "lightgbm lambdarank" and row.currency == "USD"

    refresh_for_shop(shop.shop_id, settings)
    written = refresh_personal_lists(shop.shop_id, settings)
    personal = session.exec(
        select(RecommendationList.subject, RecommendationList.placement).where(
            RecommendationList.shop_id == shop.shop_id, RecommendationList.scope == "customer"
        )
    ).all()
    assert written == len(personal) and len({s for s, p in personal if p == "home"}) == 62
    home = session.exec(
        select(RecommendationList).where(
            RecommendationList.shop_id == shop.shop_id,
            RecommendationList.subject == str(DEMO_CUSTOMER),
            RecommendationList.placement == "home",
        )
    ).one()
    assert home.strategy == "nextbasket_untrained" and home.model_version == 1
    assert home.model_note.startswith("fallback (TIFU + popularity, untrained) v1, trained ")
    assert "on 125 orders of 62 customers: too little history to learn from" in home.model_note

    # the same history is not trained again (the same data gives the same ranker)
    assert train_ranker(shop.shop_id, settings) == {
        "shop_id": shop.shop_id,
        "trained": False,
        "unchanged": True,
    }
    session.add(Order(shop_id=shop.shop_id, shopify_id=9902, customer_shopify_id=501, processed_at=utcnow()))
    session.add(
        OrderLine(
            shop_id=shop.shop_id,
            shopify_id=990201,
            order_shopify_id=9902,
            product_shopify_id=1002,
            quantity=1,
        )
    )
    session.commit()
    assert train_ranker(shop.shop_id, settings)["version"] == 2  # a new history, a new version
    session.expire_all()
    stored = load_ranker(session, shop.shop_id)
    assert stored.version == 2 and stored.orders == 126
    # a training that started before the stored one finished is dropped, not stored over it
    lines = purchase_lines(session, shop.shop_id)
    early = stored.trained_at - timedelta(minutes=5)
    assert (
        save_ranker(
            session, shop.shop_id, stored.ranker, trained_at=early, lines=lines, currency="USD", params={}
        )
        is None
    )
    session.rollback()


def test_a_shopper_the_ranker_knows_no_orders_of_gets_best_sellers_and_the_list_says_so(session, settings):
    shop = seed_demo_shop(session)
    train_ranker(shop.shop_id, settings)
    # a new shopper's first order is of a product added after the training
    session.add(Product(shop_id=shop.shop_id, shopify_id=2001, title="New Lantern", status="active"))
    session.add(Order(shop_id=shop.shop_id, shopify_id=9901, customer_shopify_id=777, processed_at=utcnow()))
    session.add(
        OrderLine(
            shop_id=shop.shop_id,
            shopify_id=990101,
            order_shopify_id=9901,
            product_shopify_id=2001,
            quantity=1,
        )
    )
    session.commit()
    assert refresh_for_customer(shop.shop_id, 777, settings) == 1  # home only: nothing to buy again
    row = session.exec(
        select(RecommendationList).where(
            RecommendationList.shop_id == shop.shop_id, RecommendationList.subject == "777"
        )
    ).one()
    assert row.placement == "home" and row.strategy == "popular" and row.model_version == 1
    assert row.model_note.startswith("best sellers: no orders of products the ranker knows yet")
    assert row.items and all(i["reason"] in ("Popular this week", "Popular in this shop") for i in row.items)


def test_one_training_at_a_time_per_shop(session, settings):
    shop = seed_demo_shop(session)
    assert tasks.claim_training(settings.redis_url, shop.shop_id)  # another worker is training it
    assert train_ranker(shop.shop_id, settings) == {"shop_id": shop.shop_id, "trained": False, "busy": True}
    tasks.training_done(settings.redis_url, shop.shop_id)
    assert train_ranker(shop.shop_id, settings)["trained"] is True
    assert tasks.claim_training(settings.redis_url, shop.shop_id)  # released when it finished


def test_after_a_training_the_personal_lists_go_first_and_new_vectors_leave_them_alone(session, settings):
    """One pass of personal lists after an install: the training's refresh jumps the slow work a sync queued
    (knowledge, embeddings), and the shared lists' refresh after new vectors does not rewrite them again."""
    shop = seed_demo_shop(session)
    tasks.sync_knowledge(settings.redis_url, shop.shop_id, full=True)
    tasks.embed_products(settings.redis_url, shop.shop_id)
    train_ranker(shop.shop_id, settings)
    assert _queued(settings)[0] == tasks.personal_lists_job_id(shop.shop_id)
    Queue("low", connection=Redis.from_url(settings.redis_url)).empty()

    refresh_for_shop(shop.shop_id, settings)
    lists = select(
        RecommendationList.scope, RecommendationList.subject, RecommendationList.computed_at
    ).where(RecommendationList.shop_id == shop.shop_id)
    before = {(scope, subject): at for scope, subject, at in session.exec(lists).all()}
    assert {scope for scope, _ in before} == {"placement", "product", "customer"}
    assert refresh_for_shop(shop.shop_id, settings, personal=False) > 0
    session.expire_all()
    after = {(scope, subject): at for scope, subject, at in session.exec(lists).all()}
    assert set(after) == set(before)  # nothing dropped, the customers' lists included
    for key, at in after.items():
        assert (at == before[key]) == (key[0] == "customer"), key  # only the shared lists were rewritten


def test_without_a_ranker_a_customer_refresh_queues_one(session, settings):
    shop = seed_demo_shop(session)
    assert refresh_for_customer(shop.shop_id, DEMO_CUSTOMER, settings) == 0
    assert _queued(settings) == [tasks.ranker_job_id(shop.shop_id)]
    refresh_for_customer(shop.shop_id, DEMO_CUSTOMER, settings)
    assert _queued(settings) == [tasks.ranker_job_id(shop.shop_id)]  # deduplicated by job id


@pytest.mark.usefixtures("jobs_env")
def test_rankers_are_trained_nightly_for_every_installed_shop(session, settings):
    assert (tasks.TRAIN_ALL_RANKERS, "low", None, "27 3 * * *") in PERIODIC_JOBS
    a = seed_demo_shop(session, "a.myshopify.com")
    b = seed_demo_shop(session, "b.myshopify.com")
    assert train_all_rankers() == 2
    assert sorted(_queued(settings)) == sorted(tasks.ranker_job_id(s.shop_id) for s in (a, b))


def test_a_redacted_customer_is_forgotten_by_a_retrained_ranker(session, settings, jobs_env):
    shop = seed_demo_shop(session)
    assert train_ranker(shop.shop_id, settings)["version"] == 1
    before = load_ranker(session, shop.shop_id)
    own = session.exec(
        select(Order.shopify_id).where(
            Order.shop_id == shop.shop_id, Order.customer_shopify_id == DEMO_CUSTOMER
        )
    ).all()
    Queue("low", connection=Redis.from_url(settings.redis_url)).empty()

    customer_redact(
        session,
        session.get(Shop, shop.shop_id),
        {"customer": {"id": DEMO_CUSTOMER}},
        SimpleNamespace(id=None),
    )
    assert _queued(settings) == []  # queued only once the redaction commits
    session.commit()
    assert _queued(settings) == [tasks.ranker_job_id(shop.shop_id)]
    # the same order lines, but the customer's orders are guest orders now: a new history, a new ranker
    retrained = train_ranker(shop.shop_id, settings)
    assert retrained["trained"] is True and retrained["version"] == 2
    session.expire_all()
    after = load_ranker(session, shop.shop_id)
    assert after.customers == before.customers - 1 + len(own) > before.customers  # one shopper: now guests
    lines = purchase_lines(session, shop.shop_id)
    assert str(DEMO_CUSTOMER) not in set(lines.customers.tolist())
