"""The assistant's "Running low?" (issue 17): the app proxy serves a signed-in customer what the replenishment
agent would remind them of now (one code path with the reminder job), with a one-click reorder; substitutes for
what is out of stock; nothing to anyone else, nor to the agent's holdout. And the shop's delivery time, a
merchant setting both use."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.jobs.replenishment import forecast_shop, run_replenishment
from app.models.commerce import Product, ProductVariant
from app.models.messaging import MessageDecision
from app.models.serving import HoldoutPolicy
from app.stores.replenishment_supplies import delivery_time
from tests.fixtures_shopify import make_session_token
from tests.test_proxy_storefront import signed
from tests.test_replenishment_job import BIG_PACK, COFFEE, NOW, seed


@pytest.fixture
def shop(session, settings, monkeypatch):
    monkeypatch.setattr("app.web.proxy.utcnow", lambda: NOW)
    sid = seed(session)
    session.add(HoldoutPolicy(shop_id=sid, agent="replenishment", share=0.0))
    session.add(HoldoutPolicy(shop_id=sid, agent="global", share=0.0))  # nor the global one
    session.commit()
    forecast_shop(sid, settings, now=NOW)
    return sid


def test_a_due_customer_sees_their_item_with_the_reason_and_a_one_click_reorder(client, shop):
    r = client.get(signed("/running-low", customer=1))
    assert r.status_code == 200 and "private" in r.headers["Cache-Control"]
    (item,) = r.json["items"]
    assert (
        item["product_id"] == COFFEE and item["cart_url"] == f"/cart/{BIG_PACK}:1"
    )  # their variant, usual qty
    assert re.fullmatch(r"you usually reorder every 2 weeks; last order 15 days ago", item["reason"])
    assert 0 <= item["percent_through"] <= 150
    assert r.json["cart_url"] == f"/cart/{BIG_PACK}:1"


def test_nothing_for_one_purchase_for_anonymous_shoppers_or_for_someone_else(client, shop):
    assert client.get(signed("/running-low", customer=2)).json["items"] == []  # no rhythm of their own yet
    assert client.get(signed("/running-low")).status_code == 403  # not signed in
    asked_for_another = signed("/running-low", {"customer_id": "1"}, customer=2)
    assert client.get(asked_for_another).status_code == 403
    assert client.get(signed("/running-low", customer=1, secret="forged")).status_code == 401


def test_the_agents_holdout_sees_nothing(client, session, shop):
    policy = session.query(HoldoutPolicy).filter_by(shop_id=shop, agent="replenishment").one()
    policy.share = 1.0
    session.commit()
    assert client.get(signed("/running-low", customer=1)).json == {"items": [], "cart_url": None}


def test_an_out_of_stock_usual_variant_shows_its_substitute_without_a_cart(client, session, shop):
    session.query(ProductVariant).filter_by(shop_id=shop, shopify_id=BIG_PACK).one().inventory_quantity = 0
    session.add(Product(shop_id=shop, shopify_id=1_901, title="Trail Mix (12 pack)", handle="trail-mix",
                        product_type="Food", status="active"))  # fmt: skip
    session.add(ProductVariant(shop_id=shop, shopify_id=19_010, product_shopify_id=1_901, price="22.00",
                               inventory_quantity=9, position=1))  # fmt: skip
    session.commit()
    body = client.get(signed("/running-low", customer=1)).json
    (item,) = body["items"]
    assert item["product_id"] == 1_901 and item["instead_of"] == COFFEE and item["cart_url"] is None
    assert item["url"].endswith("/products/trail-mix") and "is out of stock" in item["reason"]
    assert body["cart_url"] is None


@pytest.mark.usefixtures("jobs_env")
def test_the_delivery_time_is_a_setting_the_reminders_follow(client, session, shop):
    headers = {"Authorization": f"Bearer {make_session_token('attune-demo.myshopify.com')}"}
    assert client.get("/api/admin/replenishment/settings", headers=headers).json == {"delivery_days": 3}
    for bad in (
        {"delivery_days": -1},
        {"delivery_days": 61},
        {"delivery_days": "5"},
        {"delivery_days": True},
        {},
    ):
        r = client.put("/api/admin/replenishment/settings", json=bad, headers=headers)
        assert r.status_code == 422 and r.json["field"] == "delivery_days"
    assert client.put("/api/admin/replenishment/settings", data="{", headers=headers).status_code == 422
    assert client.put("/api/admin/replenishment/settings", json={"delivery_days": 3}).status_code == 401
    earlier = NOW - timedelta(days=20)  # shopper 1 runs out about 2 days before NOW
    assert run_replenishment(shop, now=earlier)["proposals"] == 0  # 3 days' delivery: not due yet
    ok = client.put("/api/admin/replenishment/settings", json={"delivery_days": 30}, headers=headers)
    assert ok.status_code == 200 and delivery_time(session, shop) == timedelta(days=30)
    assert run_replenishment(shop, now=earlier)["proposals"] == 2  # 30 days' delivery: remind now (and Flow)
    assert session.query(MessageDecision).filter_by(shop_id=shop, customer_shopify_id=1).count() == 2
