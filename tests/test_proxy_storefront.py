"""The app proxy: signatures, tenancy, customer boundaries, cache headers, served-list log, reorder, wishlist.

Every test runs twice: through the app as deployed (the WSGI fast path in front of Flask answers ordinary
recommendation requests) and through the Flask routes alone.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from app.jobs.ranker import train_ranker
from app.jobs.recommendations import refresh_for_customer, refresh_for_shop
from app.jobs.served_log import flush_served_log
from app.models.serving import HoldoutPolicy, Nudge, RecommendationList, ServedList
from app.shopify.verify import proxy_signature
from app.storefront.demo_data import (
    DEMO_CUSTOMER,
    OUT_OF_STOCK,
    RETURNED,
    STOVE_CUSTOMER,
    VARIANT,
    seed_demo_shop,
)
from app.storefront.holdout import holdout_bucket, in_holdout
from tests.conftest import TEST_API_SECRET, TEST_PREVIOUS_SECRET

SHOP = "attune-demo.myshopify.com"


def signed(
    path: str,
    params: dict | None = None,
    *,
    customer: int | None = None,
    secret: str = TEST_API_SECRET,
    timestamp: int | None = None,
    shop: str = SHOP,
) -> str:
    pairs = list((params or {}).items()) + [
        ("shop", shop),
        ("logged_in_customer_id", str(customer or "")),
        ("path_prefix", "/apps/attune"),
        ("timestamp", str(timestamp if timestamp is not None else int(time.time()))),
    ]
    pairs.append(("signature", proxy_signature(pairs, secret)))
    return f"/proxy{path}?{urlencode(pairs)}"


@pytest.fixture(params=["fast path", "flask only"])
def client(request, app):
    from app.web.proxy_fast import ProxyFastPath

    assert isinstance(app.wsgi_app, ProxyFastPath)
    if request.param == "flask only":
        app.wsgi_app = app.wsgi_app.inner
    return app.test_client()


@pytest.fixture
def demo(session, settings):
    shop = seed_demo_shop(session, SHOP)
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="recommendations", share=0.0))
    session.commit()
    train_ranker(shop.shop_id, settings)  # as after the install's sync (too small to learn: the fallback)
    refresh_for_shop(shop.shop_id, settings)
    return shop


def test_forged_stale_and_unsigned_requests_get_401(client, demo):
    assert client.get(signed("/recommendations", {"placement": "home"}, secret="wrong")).status_code == 401
    stale = signed("/recommendations", {"placement": "home"}, timestamp=int(time.time()) - 3600)
    assert client.get(stale).status_code == 401
    assert client.get("/proxy/recommendations?placement=home&shop=" + SHOP).status_code == 401
    tampered = signed("/recommendations", {"placement": "home"}, customer=DEMO_CUSTOMER).replace(
        f"logged_in_customer_id={DEMO_CUSTOMER}", f"logged_in_customer_id={STOVE_CUSTOMER}"
    )
    assert client.get(tampered).status_code == 401
    # the previous secret is still accepted during a rotation
    assert (
        client.get(signed("/recommendations", {"placement": "home"}, secret=TEST_PREVIOUS_SECRET)).status_code
        == 200
    )


def test_unknown_or_uninstalled_shop_is_refused(client, demo):
    r = client.get(signed("/recommendations", {"placement": "home"}, shop="other.myshopify.com"))
    assert r.status_code == 403 and "installed" in r.json["error"]


def test_another_customers_data_is_403(client, demo):
    asked = signed(
        "/recommendations",
        {"placement": "buy_again", "customer_id": str(STOVE_CUSTOMER)},
        customer=DEMO_CUSTOMER,
    )
    assert client.get(asked).status_code == 403
    anonymous = signed("/recommendations", {"placement": "home", "customer_id": str(DEMO_CUSTOMER)})
    assert client.get(anonymous).status_code == 403
    other_order = signed("/reorder", {"order_id": "7101"}, customer=DEMO_CUSTOMER)
    assert client.get(other_order).status_code == 403
    assert client.get(signed("/reorder")).status_code == 403  # not signed in
    assert client.get(signed("/recommendations", {"placement": "buy_again"})).status_code == 403


def test_bad_input_is_a_clear_4xx(client, demo):
    r = client.get(signed("/recommendations", {"placement": "nowhere"}))
    assert r.status_code == 400 and "placement" in r.json["error"]
    assert client.get(signed("/recommendations", {"placement": "fbt"})).status_code == 400
    assert (
        client.get(signed("/recommendations", {"placement": "product", "product_id": "abc"})).status_code
        == 400
    )
    assert client.get(signed("/search", {"q": ""})).status_code == 400
    assert client.get(signed("/reorder", {"order_id": "999999"}, customer=DEMO_CUSTOMER)).status_code == 404


def test_product_page_recommendations_with_reasons_and_no_out_of_stock(client, demo):
    r = client.get(
        signed("/recommendations", {"placement": "fbt", "product_id": "1010", "client_id": "abc-1"})
    )
    assert r.status_code == 200
    body = r.json
    ids = [i["product_id"] for i in body["items"]]
    assert ids[0] == 1011  # stove -> fuel
    assert body["items"][0]["reason"] == "Often bought with Compact Camping Stove"
    assert body["items"][0]["variant_id"] == VARIANT[1011]
    assert body["strategy"] == "bought_together" and body["variant"] and body["holdout"] is False
    assert "private" in r.headers["Cache-Control"] and "Vary" in r.headers
    for placement in ("home", "product", "cart", "assistant"):
        r = client.get(
            signed("/recommendations", {"placement": placement, "product_id": "1008", "limit": "20"})
        )
        ids = [i["product_id"] for i in r.json["items"]]
        assert ids and OUT_OF_STOCK not in ids and 1008 not in ids
    anon = client.get(signed("/recommendations", {"placement": "home"}))
    assert anon.headers["Cache-Control"].startswith("public")


def test_customer_lists_know_history_and_never_return_returned_items(client, demo):
    r = client.get(
        signed("/recommendations", {"placement": "buy_again", "limit": "10"}, customer=DEMO_CUSTOMER)
    )
    items = r.json["items"]
    assert {i["product_id"] for i in items} >= {1002}  # the socks come back
    assert all(i["reason"] for i in items)
    home = client.get(
        signed("/recommendations", {"placement": "home", "limit": "20"}, customer=DEMO_CUSTOMER)
    )
    ids = [i["product_id"] for i in home.json["items"]]
    assert RETURNED not in ids and 1004 not in ids  # returned shoes, and boots (a one-off) already bought
    # the ranker's own repeat signal leads: the socks they buy every month, with their cycle as the reason
    assert home.json["items"][0]["product_id"] == 1002
    assert home.json["items"][0]["reason"] == "You buy this about every 4 weeks"
    assert "private" in home.headers["Cache-Control"]


def test_each_served_list_is_logged_with_strategy_variant_and_holdout(client, demo, session, settings):
    client.get(signed("/recommendations", {"placement": "home"}, customer=DEMO_CUSTOMER))
    client.get(signed("/recommendations", {"placement": "fbt", "product_id": "1004", "client_id": "cid-9"}))
    assert flush_served_log(settings.database_url, settings.redis_url) == 2
    assert flush_served_log(settings.database_url, settings.redis_url) == 0
    rows = session.exec(select(ServedList).order_by(ServedList.id)).all()
    assert [(r.subject_kind, r.subject, r.placement, r.strategy, r.holdout) for r in rows] == [
        ("customer", str(DEMO_CUSTOMER), "home", "nextbasket_untrained", False),
        ("client", "cid-9", "fbt", "bought_together", False),
    ]
    assert rows[1].product_ids[0] == 1002 and rows[0].variant == "A"


def test_holdout_group_gets_the_control_list_and_is_logged(client, demo, session, settings):
    policy = session.exec(select(HoldoutPolicy)).one()
    policy.share = 0.5
    session.add(policy)
    session.commit()
    clients = [f"client-{n}" for n in range(40)]
    held = [c for c in clients if in_holdout(demo.shop_id, "recommendations", "client", c, 0.5)]
    assert 5 < len(held) < 35
    for c in clients[:10]:
        r = client.get(signed("/recommendations", {"placement": "fbt", "product_id": "1010", "client_id": c}))
        assert r.json["holdout"] is (c in held)
        assert r.json["strategy"] == ("popular" if c in held else "bought_together")
    flush_served_log(settings.database_url, settings.redis_url)
    logged = {r.subject: r.holdout for r in session.exec(select(ServedList)).all()}
    assert logged == {c: c in held for c in clients[:10]}


def test_holdout_bucket_is_stable_and_per_agent():
    a = holdout_bucket(1, "recommendations", "customer", "42")
    assert a == holdout_bucket(1, "recommendations", "customer", "42")
    buckets = {
        holdout_bucket(1, agent, "customer", "42") for agent in ("recommendations", "journey", "winback", "x")
    }
    assert len(buckets) > 1
    assert not in_holdout(1, "recommendations", "client", "", 1.0)
    assert in_holdout(1, "recommendations", "client", "someone", 1.0)


def test_reorder_links_are_cart_permalinks_net_of_returns(client, demo):
    r = client.get(signed("/reorder", {"order_id": "7002"}, customer=DEMO_CUSTOMER))
    assert r.status_code == 200
    order = r.json["orders"][0]
    assert order["permalink"] == f"/cart/{VARIANT[1002]}:2,{VARIANT[1009]}:1"  # the returned shoes are gone
    recent = client.get(signed("/reorder", customer=DEMO_CUSTOMER)).json["orders"]
    assert [o["order_id"] for o in recent] == [7003, 7002, 7001]
    assert "private" in r.headers["Cache-Control"]


def test_nudges_for_the_shopper_only(client, demo, session):
    session.add(
        Nudge(
            shop_id=demo.shop_id,
            customer_id=DEMO_CUSTOMER,
            agent="journey",
            kind="shipping",
            text="You're $12 away from free shipping",
            url="/cart",
            priority=5,
        )
    )
    session.add(Nudge(shop_id=demo.shop_id, customer_id=STOVE_CUSTOMER, agent="journey", text="Not for you"))
    session.add(Nudge(shop_id=demo.shop_id, client_id="c-1", agent="rescue", text="For this browser"))
    # names a customer: shown to that signed-in customer only, never on the strength of a client id
    session.add(
        Nudge(shop_id=demo.shop_id, customer_id=STOVE_CUSTOMER, client_id="c-1", agent="rescue", text="Stove")
    )
    session.add(
        Nudge(shop_id=demo.shop_id, agent="journey", text="Spring sale", url="https://evil.example/x")
    )
    session.commit()
    mine = client.get(signed("/nudges", customer=DEMO_CUSTOMER)).json["nudges"]
    assert [n["text"] for n in mine] == ["You're $12 away from free shipping", "Spring sale"]
    assert mine[1]["url"] is None  # never off-site
    anon = client.get(signed("/nudges", {"client_id": "c-1"})).json["nudges"]
    assert sorted(n["text"] for n in anon) == ["For this browser", "Spring sale"]
    stove = client.get(signed("/nudges", {"client_id": "c-1"}, customer=STOVE_CUSTOMER)).json["nudges"]
    assert "Stove" in [n["text"] for n in stove]  # the signed-in customer it names does see it


def test_wishlist_save_is_idempotent_and_scoped(client, demo):
    url = signed("/wishlist", {"client_id": "cid-1"})
    assert client.post(url, json={"product_id": 1001}).status_code == 201
    assert client.post(url, json={"product_id": 1001}).status_code == 200
    assert client.post(url, json={"product_id": 424242}).status_code == 404
    assert client.post(url, json={"product_id": "x"}).status_code == 400
    assert [
        i["product_id"] for i in client.get(signed("/wishlist", {"client_id": "cid-1"})).json["items"]
    ] == [1001]
    assert client.get(signed("/wishlist", {"client_id": "cid-2"})).json["items"] == []
    assert client.post(signed("/wishlist"), json={"product_id": 1001}).status_code == 400


def test_new_shop_without_orders_gets_sensible_lists(client, session, settings):
    shop = seed_demo_shop(session, SHOP, orders=False)
    refresh_for_shop(shop.shop_id, settings)
    r = client.get(signed("/recommendations", {"placement": "product", "product_id": "1001"}))
    items = r.json["items"]
    assert items and items[0]["reason"] == "Similar to Alpine Down Jacket"
    assert OUT_OF_STOCK not in [i["product_id"] for i in items]
    assert client.get(signed("/recommendations", {"placement": "home"})).json["strategy"] == "new_arrivals"


def test_refresh_for_customer_rewrites_only_that_customer(session, settings, demo):
    before = {
        (r.scope, r.subject, r.placement): r.computed_at for r in session.exec(select(RecommendationList))
    }
    assert refresh_for_customer(demo.shop_id, DEMO_CUSTOMER, settings) >= 1
    session.expire_all()
    after = {
        (r.scope, r.subject, r.placement): r.computed_at for r in session.exec(select(RecommendationList))
    }
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed and all(k[0] == "customer" and k[1] == str(DEMO_CUSTOMER) for k in changed)
