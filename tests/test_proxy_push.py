"""The app proxy's web push endpoints: the service worker, the shop's VAPID key (made once), subscribe and
unsubscribe for the signed-in customer or a browser's client id, and bad input answered with the right status."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.channels.push_loopback import LoopbackPush
from app.channels.vapid import b64url_decode
from app.models.events import IdentityLink
from app.models.messaging import ChannelConfig, PushSubscription
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
from app.stores.privacy import erase_customer, export_customer
from tests.test_onsite_channel import SHOP, signed


@pytest.fixture
def demo(session):
    return seed_demo_shop(session, SHOP)


@pytest.fixture
def sub():
    with LoopbackPush() as service:
        yield service.new_subscription()


def rows(session) -> list[tuple[str, int | None, str | None]]:
    session.expire_all()
    return [
        (r.shopper_key, r.customer_shopify_id, r.client_id)
        for r in session.exec(select(PushSubscription).order_by(PushSubscription.id)).all()
    ]


def test_the_service_worker_is_served_as_javascript_under_the_proxy(client, demo):
    answer = client.get(signed("/sw.js"))
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    body = answer.get_data(as_text=True)
    assert "addEventListener('push'" in body and "showNotification" in body
    assert client.get("/proxy/sw.js?shop=" + SHOP).status_code == 401


def test_the_vapid_key_is_made_once_per_shop_and_its_private_half_is_encrypted(client, demo, session):
    first = client.get(signed("/push/key"))
    assert first.status_code == 200 and first.json["scope"] == "/apps/attune/"
    key = first.json["public_key"]
    assert len(b64url_decode(key)) == 65 and b64url_decode(key)[0] == 4
    assert client.get(signed("/push/key", {"client_id": "c-2"})).json["public_key"] == key
    (config,) = session.exec(select(ChannelConfig).where(ChannelConfig.channel == "push")).all()
    assert config.shop_id == demo.shop_id and "PRIVATE KEY" not in (config.secret_enc or "")
    assert "PRIVATE KEY" not in str(config.settings)


def test_a_browser_subscribes_for_the_signed_in_customer_or_its_client_id(client, demo, session, sub):
    made = client.post(signed("/push/subscribe", {"client_id": "c-1"}), json=sub)
    assert made.status_code == 201 and made.json == {"subscribed": True, "created": True}
    assert rows(session) == [("client:c-1", None, "c-1")]
    again = client.post(signed("/push/subscribe", {"client_id": "c-1"}), json=sub)
    assert again.status_code == 200 and again.json["created"] is False
    # the same browser, now signed in: the subscription follows the customer
    signed_in = client.post(signed("/push/subscribe", {"client_id": "c-1"}, customer=DEMO_CUSTOMER), json=sub)
    assert signed_in.status_code == 200
    assert rows(session) == [(f"customer:{DEMO_CUSTOMER}", DEMO_CUSTOMER, "c-1")]
    off = client.post(signed("/push/unsubscribe", {"client_id": "c-1"}), json={"endpoint": sub["endpoint"]})
    assert off.status_code == 200 and off.json == {"subscribed": False, "removed": True}
    assert rows(session) == []
    assert (
        client.post(signed("/push/unsubscribe"), json={"endpoint": sub["endpoint"]}).json["removed"] is False
    )


def test_bad_subscriptions_are_refused_with_a_clear_400(client, demo, session, sub):
    url = signed("/push/subscribe", {"client_id": "c-1"})
    bad_keys = {"p256dh": "AAAA", "auth": sub["keys"]["auth"]}
    cases = [
        ({"keys": sub["keys"]}, "endpoint"),
        ({**sub, "endpoint": "ftp://push.test/x"}, "https"),
        ({**sub, "endpoint": "http://push.example.com/x"}, "https"),
        ({**sub, "endpoint": "https://p.test/" + "x" * 1100}, "endpoint"),
        ({**sub, "keys": None}, "keys"),
        ({**sub, "keys": bad_keys}, "p256dh"),
        ({**sub, "keys": {**sub["keys"], "auth": "c2hvcnQ"}}, "auth"),
        ({**sub, "keys": {**sub["keys"], "auth": 12}}, "auth"),
        ([1, 2], "JSON object"),
    ]
    for body, word in cases:
        answer = client.post(url, json=body)
        assert answer.status_code == 400 and word in answer.json["error"], (body, answer.json)
    assert client.post(url, data="not json", content_type="application/json").status_code == 400
    nobody = client.post(signed("/push/subscribe"), json=sub)
    assert nobody.status_code == 400 and "client_id" in nobody.json["error"]
    big = client.post(url, json={**sub, "padding": "x" * 5000})
    assert big.status_code == 413
    forged = client.post(signed("/push/subscribe", {"client_id": "c-1"}).replace("c-1", "c-2"), json=sub)
    assert forged.status_code == 401
    assert rows(session) == []


def test_gdpr_export_and_erasure_cover_the_customers_browsers(client, demo, session):
    with LoopbackPush() as service:
        mine, before_sign_in, stranger = (service.new_subscription() for _ in range(3))
    client.post(signed("/push/subscribe", customer=DEMO_CUSTOMER), json=mine)
    client.post(signed("/push/subscribe", {"client_id": "c-7"}), json=before_sign_in)
    client.post(signed("/push/subscribe", {"client_id": "c-8"}), json=stranger)
    session.add(IdentityLink(shop_id=demo.shop_id, node="client:c-7", root=f"customer:{DEMO_CUSTOMER}"))
    session.add(
        IdentityLink(shop_id=demo.shop_id, node=f"customer:{DEMO_CUSTOMER}", root=f"customer:{DEMO_CUSTOMER}")
    )
    session.commit()
    exported = export_customer(session, demo.shop_id, DEMO_CUSTOMER)["push_subscriptions"]
    assert sorted(e["endpoint"] for e in exported) == sorted([mine["endpoint"], before_sign_in["endpoint"]])
    assert erase_customer(session, demo.shop_id, DEMO_CUSTOMER)["push_subscription"] == 2
    session.commit()
    assert rows(session) == [("client:c-8", None, "c-8")]
