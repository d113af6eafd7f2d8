"""A pixel batch's ``customerId`` is an unverified claim (the pixel key is public): spoofing it gets the attacker's
browser nothing of the customer it names, through any app proxy endpoint, and leaves the customer's profile
alone. Only verified sources tie a browser to a customer: the proxy's signed ``logged_in_customer_id``
(``POST /proxy/identify``) and Shopify's order webhooks naming the browser's cart token.

Every proxy request runs twice: through the app as deployed (the WSGI fast path in front of Flask) and through
the Flask routes alone.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlmodel import Session, select
from webhook_support import DATA_WEBHOOKS, deliver, run_jobs

from app.jobs.ranker import train_ranker
from app.jobs.recommendations import refresh_for_shop
from app.models.commerce import Customer, Order
from app.models.profiles import CustomerProfile
from app.models.serving import HoldoutPolicy, Nudge, RecommendationList
from app.models.shop import Shop
from app.shopify.verify import proxy_signature
from app.storefront.demo_data import DEMO_CUSTOMER, STOVE_CUSTOMER, seed_demo_shop
from app.storefront.lists import PLACEMENTS
from app.stores.identity import members_of, resolve
from tests.conftest import TEST_API_SECRET

SHOP = "claim-demo.myshopify.com"
VICTIM = DEMO_CUSTOMER
ATTACKER = "attacker-browser"
VICTIM_BROWSER = "victim-browser"


@pytest.fixture(params=["fast path", "flask only"])
def client(request, app):
    from app.web.proxy_fast import ProxyFastPath

    assert isinstance(app.wsgi_app, ProxyFastPath)
    if request.param == "flask only":
        app.wsgi_app = app.wsgi_app.inner
    return app.test_client()


@pytest.fixture
def shop(session: Session, settings, jobs_env):
    demo = seed_demo_shop(session, SHOP)
    session.add(HoldoutPolicy(shop_id=demo.shop_id, agent="recommendations", share=0.0))
    session.commit()
    train_ranker(demo.shop_id, settings)
    refresh_for_shop(demo.shop_id, settings)  # the victim's home and buy-again lists, from their orders
    return session.exec(select(Shop).where(Shop.id == demo.shop_id)).one()


def signed(path: str, params: dict | None = None, *, customer: int | None = None) -> str:
    pairs = list((params or {}).items()) + [
        ("shop", SHOP),
        ("logged_in_customer_id", str(customer or "")),
        ("path_prefix", "/apps/attune"),
        ("timestamp", str(int(time.time()))),
    ]
    pairs.append(("signature", proxy_signature(pairs, TEST_API_SECRET)))
    return f"/proxy{path}?{urlencode(pairs)}"


def pixel_batch(shop: Shop, client_id: str, customer: Any, *, cart: str | None = None) -> dict[str, Any]:
    """What the pixel posts: browsing, a cart and a checkout, with ``customerId`` as the browser says."""
    now = datetime.now(UTC).isoformat()

    def ev(name: str, data: dict[str, Any]) -> dict[str, Any]:
        context = {
            "url": f"https://{SHOP}/products/x",
            "userAgent": "Mozilla/5.0 (Windows NT 10.0) Chrome/120",
        }
        return {"id": f"ev-{uuid.uuid4()}", "name": name, "type": "standard", "timestamp": now, "seq": 1,
                "context": context, "data": data}  # fmt: skip

    checkout = {"token": f"chk-{client_id}", "customerId": customer, "countryCode": "FR"}
    return {
        "shop": shop.domain,
        "pixelKey": shop.pixel_key,
        "clientId": client_id,
        "customerId": customer,
        "timeZone": "Europe/Paris",
        "events": [
            ev("product_viewed", {"variant": {"product": {"id": "1001", "title": "Trail shoe"}}}),
            ev("cart_viewed", {"cart": {"id": f"gid://shopify/Cart/{cart or 'cart-' + client_id}?key=k"}}),
            ev("checkout_started", {"checkout": checkout}),
        ],
    }


def post_pixel(client, body: dict[str, Any]) -> None:
    response = client.post("/pixel/events", data=json.dumps(body), content_type="text/plain;charset=UTF-8")
    assert response.status_code == 200, response.get_data(as_text=True)


def identify(client, customer: int | None, client_id: str, **kw: Any):
    params = {"client_id": client_id} if client_id else {}
    return client.post(signed("/identify", params, customer=customer), **({"json": {}} | kw))


def profile(session: Session, shop_id: int, key: str) -> CustomerProfile | None:
    session.expire_all()
    return session.exec(
        select(CustomerProfile).where(CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == key)
    ).first()


def test_a_spoofed_customer_id_gets_the_attacker_nothing_of_the_victim(client, session, shop, jobs_env):
    sid = shop.id
    # The victim: signed in on their own browser (verified), saved a product, asked about their order.
    post_pixel(client, pixel_batch(shop, VICTIM_BROWSER, None))
    assert identify(client, VICTIM, VICTIM_BROWSER).status_code == 200
    wish = client.post(signed("/wishlist", customer=VICTIM), json={"product_id": 1004})
    assert wish.status_code == 201
    asked = client.post(signed("/support", customer=VICTIM), json={"question": "Where is my order?"})
    victim_order = asked.json["order"]
    assert victim_order  # the victim does get their order status (its name)
    run_jobs(jobs_env.redis_url)
    victim_events = profile(session, sid, f"customer:{VICTIM}").event_count
    assert victim_events == 3

    # The attacker: the shop's public pixel key, their own browser, the victim's customer id (both forms).
    post_pixel(client, pixel_batch(shop, ATTACKER, f"gid://shopify/Customer/{VICTIM}"))
    post_pixel(client, pixel_batch(shop, ATTACKER, VICTIM))
    run_jobs(jobs_env.redis_url)

    # The identity graph never ties the attacker's browser to the victim.
    assert resolve(session, sid, f"client:{ATTACKER}") == f"client:{ATTACKER}"
    victim_nodes = members_of(session, sid, f"customer:{VICTIM}")
    assert f"client:{VICTIM_BROWSER}" in victim_nodes and f"client:{ATTACKER}" not in victim_nodes
    # The on-site channel addresses the victim's messages to the victim and every browser linked to them.
    for member in victim_nodes:
        kind, _, value = member.partition(":")
        if kind == "client":
            session.add(
                Nudge(shop_id=sid, customer_id=VICTIM, client_id=value, agent="rescue", text="Victim: cart")
            )
    session.add(Nudge(shop_id=sid, customer_id=VICTIM, agent="journey", text="Victim: 12 to free shipping"))
    # Even a message that names both the victim and the attacker's browser is the victim's, not the browser's.
    session.add(
        Nudge(shop_id=sid, customer_id=VICTIM, client_id=ATTACKER, agent="rescue", text="Victim: misrouted")
    )
    session.add(Nudge(shop_id=sid, agent="journey", text="Spring sale"))  # every shopper's
    session.commit()

    # Every proxy endpoint, as the attacker's browser (no signed customer).
    as_attacker = {"client_id": ATTACKER}
    bodies: list[str] = []
    victim_lists = set(
        session.exec(
            select(RecommendationList.id).where(
                RecommendationList.shop_id == sid,
                RecommendationList.scope == "customer",
                RecommendationList.subject == str(VICTIM),
            )
        ).all()
    )
    assert victim_lists  # the victim has personal lists to leak
    for placement in sorted(PLACEMENTS):
        params = as_attacker | {"placement": placement, "product_id": "1001", "limit": "20"}
        r = client.get(signed("/recommendations", params))
        bodies.append(r.get_data(as_text=True))
        if placement == "buy_again":
            assert r.status_code == 403
        else:
            assert r.status_code == 200 and r.json["list_id"] not in victim_lists, placement
    for path, params in (("/reorder", {}), ("/reorder", {"order_id": "7001"})):
        r = client.get(signed(path, as_attacker | params))
        bodies.append(r.get_data(as_text=True))
        assert r.status_code == 403
    r = client.get(
        signed("/recommendations", as_attacker | {"placement": "home", "customer_id": str(VICTIM)})
    )
    assert r.status_code == 403  # asking for the victim by id
    nudges = client.get(signed("/nudges", as_attacker))
    bodies.append(nudges.get_data(as_text=True))
    assert [n["text"] for n in nudges.json["nudges"]] == ["Spring sale"]
    wishlist = client.get(signed("/wishlist", as_attacker))
    bodies.append(wishlist.get_data(as_text=True))
    assert wishlist.json["items"] == []
    for question in ("Where is my order?", "What is my email address?", "When will my order arrive?"):
        r = client.post(signed("/support", as_attacker), json={"question": question})
        bodies.append(r.get_data(as_text=True))
        assert r.status_code == 200 and r.json["order"] is None
        assert r.json["conversation"] != asked.json["conversation"]
    r = client.get(signed("/search", as_attacker | {"q": "boots"}))
    bodies.append(r.get_data(as_text=True))
    assert identify(client, None, ATTACKER).status_code == 403  # no signed customer: cannot claim one

    email = session.exec(
        select(Customer.email).where(Customer.shop_id == sid, Customer.shopify_id == VICTIM)
    ).one()
    order_names = session.exec(
        select(Order.name).where(Order.shop_id == sid, Order.customer_shopify_id == VICTIM)
    ).all()
    seen = "\n".join(bodies)
    assert email and email not in seen
    assert victim_order not in seen and not any(name and f'"{name}"' in seen for name in order_names)
    assert "Victim:" not in seen

    # The reverse harm: the attacker's browsing did not land in the victim's profile.
    run_jobs(jobs_env.redis_url)
    assert profile(session, sid, f"customer:{VICTIM}").event_count == victim_events
    assert profile(session, sid, f"client:{ATTACKER}").event_count == 6


def test_identify_links_only_a_signed_in_browser(client, session, shop, jobs_env):
    sid = shop.id
    post_pixel(client, pixel_batch(shop, VICTIM_BROWSER, VICTIM))  # browsing, with the (unverified) claim
    client.post(signed("/wishlist", {"client_id": VICTIM_BROWSER}), json={"product_id": 1002})
    run_jobs(jobs_env.redis_url)
    assert profile(session, sid, f"client:{VICTIM_BROWSER}").event_count == 3  # the claim merged nothing

    # the storefront's script, on a signed-in page: a JSON POST with the signed logged_in_customer_id
    first = identify(client, VICTIM, VICTIM_BROWSER)
    assert first.status_code == 200 and first.json == {"linked": True, "changed": True}
    assert first.headers["Cache-Control"] == "no-store"
    run_jobs(jobs_env.redis_url)  # the customer's profile refresh, queued after the commit
    merged = profile(session, sid, f"customer:{VICTIM}")
    assert profile(session, sid, f"client:{VICTIM_BROWSER}") is None
    assert merged.event_count == 3  # the anonymous history joined the customer
    assert [i["product_id"] for i in merged.explicit["wishlist"]["items"]] == [1002]
    again = identify(client, VICTIM, VICTIM_BROWSER)
    assert again.status_code == 200 and again.json == {"linked": True, "changed": False}

    # a shared device: another customer signing in on it is refused, nothing moves
    refused = identify(client, STOVE_CUSTOMER, VICTIM_BROWSER)
    assert refused.status_code == 409 and "another customer" in refused.json["error"]
    assert resolve(session, sid, f"client:{VICTIM_BROWSER}") == f"customer:{VICTIM}"

    # bad input: clear errors, no link
    assert identify(client, None, "someone").status_code == 403
    assert identify(client, VICTIM, "").status_code == 400
    assert identify(client, VICTIM, "bad id with spaces").status_code == 400
    form = identify(client, VICTIM, "cross-site", json=None, data={"x": "1"})  # a cross-site form post
    assert form.status_code == 415
    assert resolve(session, sid, "client:cross-site") == "client:cross-site"
    assert client.get(signed("/identify", {"client_id": "via-link"}, customer=VICTIM)).status_code == 405


def test_an_order_webhook_naming_the_browsers_cart_token_stitches_it(client, session, shop, jobs_env):
    sid = shop.id
    post_pixel(client, pixel_batch(shop, "buyer-browser", None, cart="CART-77"))
    run_jobs(jobs_env.redis_url)
    assert profile(session, sid, "client:buyer-browser").event_count == 3

    order = json.loads((DATA_WEBHOOKS / "orders__create.json").read_text())
    order["cart_token"] = "CART-77"
    order["customer"]["id"] = STOVE_CUSTOMER
    assert deliver(client, "orders/create", order, shop=SHOP).status_code == 200
    run_jobs(jobs_env.redis_url)
    assert resolve(session, sid, "client:buyer-browser") == f"customer:{STOVE_CUSTOMER}"
    assert profile(session, sid, "client:buyer-browser") is None
    assert profile(session, sid, f"customer:{STOVE_CUSTOMER}").event_count == 3
