"""The replenishment forecasts in production (issue 17): the job stores what the backtested function computes,
from the mirror's orders, with cancellations and refunds kept out of consumption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from redis import Redis
from rq import Queue
from sqlmodel import select

from app import tasks
from app.jobs.replenishment import forecast_all_shops, forecast_shop
from app.models.commerce import Order, OrderLine, Refund, RefundLine
from app.models.replenishment import ReplenishmentForecast
from app.recommend.replenishment import forecast_history
from app.storefront.demo_data import seed_demo_shop
from app.stores.replenishment import customer_forecasts, history
from app.worker import PERIODIC_JOBS

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
COFFEE, SOCKS = 9001, 9002
_ids = iter(range(700_000, 800_000))


def order(session, shop_id, customer, days_ago, lines, *, cancelled=False):
    oid = next(_ids)
    at = NOW - timedelta(days=days_ago)
    session.add(
        Order(shop_id=shop_id, shopify_id=oid, customer_shopify_id=customer, processed_at=at,
              cancelled_at=at + timedelta(hours=1) if cancelled else None)
    )  # fmt: skip
    line_ids = []
    for product, qty in lines:
        lid = next(_ids)
        line_ids.append(lid)
        session.add(
            OrderLine(shop_id=shop_id, shopify_id=lid, order_shopify_id=oid, product_shopify_id=product,
                      quantity=qty, title="x")
        )  # fmt: skip
    return oid, line_ids


def refund(session, shop_id, oid, line_id, product, qty, days_ago):
    rid = next(_ids)
    at = NOW - timedelta(days=days_ago)
    session.add(Refund(shop_id=shop_id, shopify_id=rid, order_shopify_id=oid, processed_at=at))
    session.add(
        RefundLine(shop_id=shop_id, shopify_id=next(_ids), refund_shopify_id=rid, order_shopify_id=oid,
                   order_line_shopify_id=line_id, product_shopify_id=product, quantity=qty)
    )  # fmt: skip


def seed(session):
    shop = seed_demo_shop(session, orders=False, now=NOW)
    sid = shop.shop_id
    for c in range(20):  # coffee every ~14 days for the shop's regulars
        for k in range(6):
            order(session, sid, 1000 + c, 100 - 14 * k - c % 3, [(COFFEE, 1)])
    order(session, sid, 1, 40, [(COFFEE, 1)])  # shopper 1: two past orders, the last 26 days ago ...
    order(session, sid, 1, 26, [(COFFEE, 1), (SOCKS, 1)])
    order(session, sid, 1, 10, [(COFFEE, 2)], cancelled=True)  # ... a cancelled one ...
    oid, lines = order(session, sid, 1, 5, [(COFFEE, 1)])  # ... and one returned in full
    refund(session, sid, oid, lines[0], COFFEE, 1, 3)
    order(session, sid, 2, 8, [(COFFEE, 1)])  # shopper 2: one purchase
    session.commit()
    return sid


def test_the_job_stores_the_backtested_forecast(session, settings):
    sid = seed(session)
    assert forecast_shop(sid, settings, now=NOW) > 0
    rows = {(r.customer_shopify_id, r.product_shopify_id): r
            for r in session.exec(select(ReplenishmentForecast).where(ReplenishmentForecast.shop_id == sid))}  # fmt: skip
    one = rows[(1, COFFEE)]
    assert (
        one.purchase_days == 2 and one.basis == "personal"
    )  # the cancelled and the refunded order do not count
    assert one.last_purchase_at == NOW.replace(hour=0) - timedelta(days=26)
    assert one.consumable and one.usual_quantity == 1
    assert one.due_low <= one.due_at <= one.due_high and one.predicted_next_at >= NOW
    assert 0 <= one.p_within_14d <= one.p_within_30d <= 1 and one.status in {"due", "stopped"}
    two = rows[(2, COFFEE)]
    assert (
        two.purchase_days == 1 and two.basis == "product_prior"
    )  # no personal due date: the product's prior
    assert 10 <= two.cycle_days <= 20
    # what is stored is what forecast_history (the backtest's entry point) computes from the same lines
    lines = history(session, sid)
    types = {p: t for p, t in zip(lines.products, lines.types, strict=True) if t}
    today = (NOW - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400
    _, fc = forecast_history(
        lines.customers, lines.products, lines.days, lines.quantities, lines.orders, today, types
    )
    k = int(np.flatnonzero((fc.customer == "1") & (fc.product == str(COFFEE)))[0])
    assert one.p_within_14d == pytest.approx(fc.p_within_14d[k], abs=1e-4)
    assert one.predicted_next_at.timestamp() == pytest.approx(fc.predicted_next_at[k] * 86400, abs=1)
    # reruns rewrite, never duplicate; the customer's list is ordered by how due each item is
    assert forecast_shop(sid, settings, now=NOW) == len(rows)
    mine = customer_forecasts(session, sid, 1000)
    assert [r.product_shopify_id for r in mine] == [COFFEE]
    both = customer_forecasts(session, sid, 1, consumable_only=False)
    assert [r.p_within_14d for r in both] == sorted((r.p_within_14d for r in both), reverse=True)


def test_a_shop_without_orders_gets_no_forecasts(session, settings):
    shop = seed_demo_shop(session, orders=False, now=NOW)
    assert forecast_shop(shop.shop_id, settings, now=NOW) == 0


@pytest.mark.usefixtures("jobs_env")
def test_forecasts_are_refreshed_nightly_for_every_installed_shop(session, settings):
    assert (tasks.FORECAST_ALL_REPLENISHMENT, "low", None, "37 4 * * *") in PERIODIC_JOBS
    a = seed_demo_shop(session, "a.myshopify.com")
    b = seed_demo_shop(session, "b.myshopify.com")
    assert forecast_all_shops() == 2
    queued = Queue("low", connection=Redis.from_url(settings.redis_url)).job_ids
    assert sorted(queued) == sorted(tasks.replenishment_job_id(s.shop_id) for s in (a, b))
