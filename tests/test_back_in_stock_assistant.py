"""The assistant's "notify me" (issue 19): the support agent's reply when the best match is sold out (pure: facts in,
reply out), and through the signed app proxy the support answer's payload (the sold-out match first, with the
variants one may ask about, then the in-stock ones) and the request it leads to, stored with source "assistant"."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from sqlmodel import Session, select

from app.agents.support import ProductFacts, answer
from app.config import get_settings
from app.jobs.catalog import embed_shop_products
from app.models.back_in_stock import BackInStockRequest
from app.models.commerce import InventoryLevel, Product, ProductVariant
from app.shopify.verify import proxy_signature
from tests.back_in_stock_support import DOMAIN, seed
from tests.conftest import TEST_API_SECRET
from tests.test_back_in_stock import signed

JACKET, HAT = 80, 90
JACKET_VARIANTS = {801: "Medium", 802: "Large"}  # both sold out
HAT_VARIANT = 901  # in stock


def sold_out(pid=JACKET, notify=((801, "Medium"), (802, "Large"))):
    return ProductFacts(
        pid, "Rain Jacket", "/products/rain-jacket", "80.00", "USD", sold_out=True, notify=notify
    )


def in_stock(pid=HAT, title="Rain Hat"):
    return ProductFacts(pid, title, f"/products/{pid}", "20.00", "USD")


def test_a_sold_out_best_match_is_said_and_offered_with_the_in_stock_ones_after_it():
    reply = answer("rain jacket", signed_in=False, products=[sold_out(), in_stock()], topic="product")
    assert reply.text == (
        "Rain Jacket is sold out right now. I can tell you when it's back: leave your e-mail below. "
        "In stock now: Rain Hat."
    )
    assert not reply.escalated
    assert [p.product_id for p in reply.products] == [JACKET, HAT]
    assert reply.products[0].notify == ((801, "Medium"), (802, "Large"))
    assert reply.reason.startswith("the best match is sold out: a notify-me is offered")


def test_a_sold_out_best_match_alone_is_an_answer_not_an_escalation():
    reply = answer("rain jacket", signed_in=False, products=[sold_out()], topic="product")
    assert (
        reply.text
        == "Rain Jacket is sold out right now. I can tell you when it's back: leave your e-mail below."
    )
    assert not reply.escalated and [p.product_id for p in reply.products] == [JACKET]


def test_sold_out_products_that_cannot_be_asked_for_or_are_not_the_best_are_not_shown():
    nothing_to_ask = answer("rain jacket", signed_in=False, products=[sold_out(notify=())], topic="product")
    assert nothing_to_ask.escalated and nothing_to_ask.products == ()
    assert nothing_to_ask.reason == "no product in stock matched"
    second = answer("hat", signed_in=False, products=[in_stock(), sold_out()], topic="product")
    assert second.text == "Here is what I found in the shop: Rain Hat." and [
        p.product_id for p in second.products
    ] == [HAT]


def test_from_card_reads_the_notify_variants():
    card = {
        "product_id": 1,
        "title": "T",
        "url": "/products/t",
        "sold_out": True,
        "notify": [{"variant_id": 5, "title": "S"}],
    }
    assert ProductFacts.from_card(card) == ProductFacts(1, "T", "/products/t", None, None, True, ((5, "S"),))
    assert ProductFacts.from_card({**card, "sold_out": None, "notify": None}).notify == ()


def add_rain_gear(session: Session, shop_id: int) -> None:
    """A sold-out rain jacket (both variants tracked at 0) and an in-stock rain hat, embedded for search."""
    session.add(Product(shop_id=shop_id, shopify_id=JACKET, title="Waterproof Rain Jacket", handle="rain-jacket",
                        status="active", body_html="A waterproof rain jacket for wet hikes."))  # fmt: skip
    for i, (vid, title) in enumerate(JACKET_VARIANTS.items()):
        session.add(ProductVariant(shop_id=shop_id, shopify_id=vid, product_shopify_id=JACKET, title=title,
                                   price="80.00", position=i + 1, inventory_item_id=vid * 10))  # fmt: skip
        session.add(InventoryLevel(shop_id=shop_id, inventory_item_id=vid * 10, location_id=1, available=0))
    session.add(Product(shop_id=shop_id, shopify_id=HAT, title="Waterproof Rain Hat", handle="rain-hat",
                        status="active", body_html="A waterproof rain hat."))  # fmt: skip
    session.add(ProductVariant(shop_id=shop_id, shopify_id=HAT_VARIANT, product_shopify_id=HAT, title="One size",
                               price="20.00", position=1, inventory_item_id=9010))  # fmt: skip
    session.add(InventoryLevel(shop_id=shop_id, inventory_item_id=9010, location_id=1, available=5))
    session.commit()
    embed_shop_products(shop_id, get_settings())


def support_url(params) -> str:
    pairs = list(params.items()) + [
        ("shop", DOMAIN), ("logged_in_customer_id", ""), ("path_prefix", "/apps/attune"),
        ("timestamp", str(int(time.time()))),
    ]  # fmt: skip
    pairs.append(("signature", proxy_signature(pairs, TEST_API_SECRET)))
    return f"/proxy/support?{urlencode(pairs)}"


@pytest.fixture
def rain_shop(jobs_env, session):
    shop_id = seed(session, jobs_env.encryption_keys, "smtp://127.0.0.1:1")
    add_rain_gear(session, shop_id)
    return shop_id


def test_the_support_payload_offers_the_sold_out_match_and_the_request_is_stored_as_the_assistants(
    client, session, rain_shop
):
    got = client.post(support_url({"client_id": "shopper-1"}), json={"question": "waterproof rain jacket"})
    assert got.status_code == 200, got.get_json()
    body = got.get_json()
    assert (
        body["answer"].startswith("Waterproof Rain Jacket is sold out right now.") and not body["escalated"]
    )
    first = body["products"][0]
    assert first["product_id"] == JACKET and first["sold_out"] is True and first["available"] is False
    assert first["notify"] == [{"variant_id": v, "title": t} for v, t in JACKET_VARIANTS.items()]
    assert all(p["available"] and not p.get("sold_out") for p in body["products"][1:])

    posted = client.post(
        signed({"client_id": "shopper-1"}),
        json={"variant_id": "802", "channel": "email", "email": "Jo@Example.com", "source": "assistant"},
    )
    assert posted.status_code == 201, posted.get_json()
    row = session.exec(select(BackInStockRequest)).one()
    assert (row.variant_shopify_id, row.address, row.source) == (802, "jo@example.com", "assistant")


def test_plain_search_still_shows_only_in_stock_products(client, rain_shop):
    pairs = [("q", "waterproof rain jacket"), ("shop", DOMAIN), ("logged_in_customer_id", ""),
             ("path_prefix", "/apps/attune"), ("timestamp", str(int(time.time())))]  # fmt: skip
    pairs.append(("signature", proxy_signature(pairs, TEST_API_SECRET)))
    items = client.get(f"/proxy/search?{urlencode(pairs)}").get_json()["items"]
    assert JACKET not in [i["product_id"] for i in items] and HAT in [i["product_id"] for i in items]
