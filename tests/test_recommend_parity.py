"""The storefront serves what the backtest measures (issue 14): a shop replayed from the shipped transactions CSV
through the app (fake Shopify order bodies through the commerce upserts), its ranker trained by the job, its lists
computed by the jobs; each customer's served ``home`` list is ``attune_top_k``'s top 10 for that customer at the
list's ``computed_at``, both after the whole-shop refresh and after one customer's new order. And a customer's
refresh reads that customer's order rows plus one count, however large the shop."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from ranker_support import (
    double_shop,
    new_order,
    order_lines_of,
    order_rows_read,
    replay_sample,
    transactions,
)
from redis import Redis
from rq import Queue
from sqlmodel import select

from app import tasks
from app.backtest.datasets import baskets_from_frame
from app.backtest.recommendations import attune_top_k
from app.commerce.upserts import upsert_order
from app.db import get_engine
from app.jobs.ranker import train_ranker
from app.jobs.recommendations import refresh_for_customer, refresh_for_shop
from app.models.base import utcnow
from app.models.serving import RecommendationList
from app.models.shop_models import RankerModel
from app.recommend.lists import DAY
from app.recommend.nextbasket import RETRAIN_MIN_INTERVAL_S, NextBasketRecommender

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("hashing_embedder")]


def _served(session, shop_id: int) -> dict[str, RecommendationList]:
    session.expire_all()
    rows = session.exec(
        select(RecommendationList).where(
            RecommendationList.shop_id == shop_id,
            RecommendationList.scope == "customer",
            RecommendationList.placement == "home",
        )
    ).all()
    return {r.subject: r for r in rows}


def _backtest_top10(
    ranker, frame: pd.DataFrame, served: dict[str, RecommendationList]
) -> dict[str, list[int]]:
    """The backtest function's top 10 for each served customer, at that list's ``computed_at``."""
    history = baskets_from_frame(frame)
    customers = ranker.customers(history)
    ids = sorted(served)
    rows = np.array([int(np.flatnonzero(history.customers == c)[0]) for c in ids])
    now = np.array([served[c].computed_at.timestamp() / DAY for c in ids])
    top = attune_top_k(ranker, customers, rows, now)
    return {c: [int(ranker.items[i]) for i in t] for c, t in zip(ids, top, strict=True)}


def test_served_personal_lists_are_the_backtests_top_10(session, settings):
    shop = replay_sample(session, "parity.myshopify.com", customers=60)
    frame = transactions(shop.payloads, shop.types)
    result = train_ranker(shop.shop_id, settings)
    assert result["kind"] == "ranker", result  # 60 shoppers, 462 orders: enough to learn from
    refresh_for_shop(shop.shop_id, settings)

    # the backtest's recommender, trained on the same transactions as a CSV, is the ranker the job stored
    ranker = NextBasketRecommender().train(baskets_from_frame(frame))
    assert ranker.kind == "ranker"
    served = _served(session, shop.shop_id)
    assert len(served) == 60
    expected = _backtest_top10(ranker, frame, served)
    for customer, row in served.items():
        assert [i["product_id"] for i in row.items[:10]] == expected[customer], customer
        assert row.strategy == "nextbasket" and row.model_version == 1
        assert row.model_note.startswith("next-basket ranker v1, trained ")
        assert all(i["reason"] for i in row.items)

    # one shopper orders again: their refresh alone (the stored ranker, their own rows) serves the backtest's
    # top 10 for them with the new order in their history
    customer = sorted(served)[7]
    before, top10 = served[customer].computed_at, [i["product_id"] for i in served[customer].items[:10]]
    body = new_order(shop.store, int(customer), top10[:2], utcnow())
    upsert_order(session, shop.shop_id, body)
    session.commit()
    refresh_for_customer(shop.shop_id, int(customer), settings)
    after = _served(session, shop.shop_id)
    assert after[customer].computed_at > before
    grown = pd.concat([frame, transactions([body], shop.types)], ignore_index=True)
    mine = _backtest_top10(ranker, grown, {customer: after[customer]})
    assert [i["product_id"] for i in after[customer].items[:10]] == mine[customer]
    assert [i["product_id"] for i in after[customer].items[:10]] != top10  # the new order counts


def test_a_customer_refresh_reads_only_that_customers_rows(session, settings):
    shop = replay_sample(session, "cost.myshopify.com", customers=60)
    train_ranker(shop.shop_id, settings)
    refresh_for_shop(shop.shop_id, settings)
    engine = get_engine(settings.database_url)
    customers = sorted({b["customer"]["id"] for b in shop.payloads})

    def read(customer: int) -> int:
        with order_rows_read(engine) as count:
            assert refresh_for_customer(shop.shop_id, customer, settings) >= 1
        return count.rows

    queue = Queue("low", connection=Redis.from_url(settings.redis_url))
    queue.empty()
    for customer in customers[:3]:
        lines, returned = order_lines_of(session, shop.shop_id, customer)
        # the customer's order lines and returned lines, and one count (orders since the last training)
        assert read(customer) == lines + returned + 1, customer
    assert queue.job_ids == []  # no new orders since the training: no retraining

    # the shop doubles (every shopper orders their history again, a year later): nobody else's rows are read
    first = customers[0]
    before = read(first)
    lines, _ = order_lines_of(session, shop.shop_id, first)
    double_shop(session, shop, first)
    assert read(first) == before  # the same rows as before the shop doubled
    # and the retraining rule saw the new orders (more than 10 % of the 462 trained on): one training queued
    stored = session.exec(select(RankerModel).where(RankerModel.shop_id == shop.shop_id)).one()
    assert stored.orders == len(shop.payloads) == 462
    refresh_for_customer(shop.shop_id, customers[1], settings)
    # trained moments ago: the retraining is scheduled for 10 minutes after that training, not queued now
    job_id = tasks.ranker_job_id(shop.shop_id)
    assert queue.job_ids == [] and queue.scheduled_job_registry.get_job_ids() == [job_id]
    at = queue.scheduled_job_registry.get_scheduled_time(job_id)
    assert abs((at - stored.trained_at).total_seconds() - RETRAIN_MIN_INTERVAL_S) < 60
    refresh_for_customer(shop.shop_id, customers[2], settings)  # scheduled once, however many ask
    assert queue.scheduled_job_registry.get_job_ids() == [job_id]
    # ten minutes on, the next order's refresh queues it at once (and the one scheduled goes)
    stored.trained_at -= timedelta(seconds=RETRAIN_MIN_INTERVAL_S)
    session.add(stored)
    session.commit()
    refresh_for_customer(shop.shop_id, customers[1], settings)
    assert queue.job_ids == [job_id] and queue.scheduled_job_registry.get_job_ids() == []
