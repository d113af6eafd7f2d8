"""The support agent's order answers (issue 18): status, carrier, tracking number and link, the order status page
and the delivery the shipping policy promises, to the signed-in customer or to a visitor who gives the order's
number and e-mail; nothing to anyone else, not even whether an order exists; a late order acknowledged with an
apology and a hand-off. Orders come from Shopify's own sample payload, through the real upsert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.agents.support import OrderFacts, answer
from app.commerce import bulk
from app.commerce.upserts import fulfillments, upsert_order
from app.knowledge.order_status import Shipment, delivery_promise, late, order_reference
from app.models.knowledge import KnowledgePassage
from tests import test_support
from tests.conftest import FIXTURES, needs_shared
from tests.test_support import ask

shops = test_support.shops  # fixtures
NOW = datetime.now(UTC)
ORDER_SAMPLE = FIXTURES / "webhooks" / "orders__updated.json"  # Shopify's own: order #9999, jon@example.com
needs_sample = needs_shared(ORDER_SAMPLE)


def sample() -> dict:
    return json.loads(ORDER_SAMPLE.read_text())


@pytest.mark.parametrize(
    ("question", "found"),
    [
        ("Where is order #9999? My email is Jon@Example.com", ("9999", "jon@example.com")),
        ("order number 9999 jon@example.com", ("9999", "jon@example.com")),
        ("where is my order #9999", None),  # no e-mail: no look-up
        ("jon@example.com here, where is my stuff", None),  # no number
    ],
)
def test_an_order_reference_needs_both_number_and_email(question, found):
    assert order_reference(question) == found


@pytest.mark.parametrize(
    ("policy", "days"),
    [
        ("Orders ship in 1 day and arrive in 3–5 business days.", (5, 7)),
        ("Delivery takes 2 to 4 days within the EU.", (2, 4)),
        ("We deliver within 10 days.", (10, 10)),
        ("We ship worldwide.", None),
        (None, None),
    ],
)
def test_the_shipping_policys_promise_in_calendar_days(policy, days):
    assert delivery_promise(policy) == days


def test_late_is_past_the_longest_promise_and_not_delivered():
    shipped = Shipment(
        "UPS", "1Z999", "https://ups.test/1Z999", "success", "in_transit", NOW - timedelta(days=9)
    )
    assert late(NOW - timedelta(days=10), (shipped,), (5, 7), NOW)
    assert not late(NOW - timedelta(days=10), (shipped,), (5, 10), NOW)
    delivered = Shipment("UPS", "1Z999", None, "success", "delivered", NOW - timedelta(days=9))
    assert not late(NOW - timedelta(days=10), (delivered,), (5, 7), NOW)
    assert late(NOW - timedelta(days=8), (), (5, 7), NOW)  # not shipped after the whole promise
    assert not late(NOW - timedelta(days=8), (), None, NOW)  # no promise: never called late


def test_a_visitor_learns_nothing_of_an_order_they_did_not_name_with_its_email():
    order = OrderFacts("#1001", NOW, "paid", "fulfilled", False, 2, status_url="https://s.test/status")
    reply = answer("where is my order", signed_in=False, order=order)
    assert "#1001" not in reply.text and "status" not in reply.text and reply.order is None


@pytest.fixture
def shop(session, shops):
    a, _ = shops
    payload = sample()
    payload.update(
        test=False, cancelled_at=None
    )  # Shopify's sample is a cancelled test order: a live one here
    payload["processed_at"] = payload["created_at"] = (NOW - timedelta(days=4)).isoformat()
    payload["updated_at"] = NOW.isoformat()
    payload["fulfillments"] = [
        {"id": 1, "status": "success", "shipment_status": "in_transit", "tracking_company": "UPS",
         "tracking_number": "1Z2345", "tracking_url": "https://ups.test/track/1Z2345",
         "created_at": (NOW - timedelta(days=3)).isoformat()}
    ]  # fmt: skip
    upsert_order(session, a.shop_id, payload)
    session.add(
        KnowledgePassage(shop_id=a.shop_id, source_key="policy:SHIPPING_POLICY", position=0, kind="policy",
                         title="Shipping policy", text="Orders arrive in 3–5 business days.", digest="d",
                         model="m", dim=1, vector=b"\\0\\0\\0\\0")
    )  # fmt: skip
    session.commit()
    return a


@needs_sample
def test_a_visitor_with_number_and_email_gets_the_tracking_and_status_page(client, shop):
    body = ask(client, "Where is order #9999? jon@example.com", client_id="cl-9").json
    assert body["topic"] == "order_status" and body["escalated"] is False and body["order"] == "#9999"
    text = body["answer"]
    assert "UPS" in text and "1Z2345" in text and "https://ups.test/track/1Z2345" in text
    assert sample()["order_status_url"] in text and "delivery takes 5–7 days" in text
    assert "item" not in text and "199" not in text and "Jon" not in text  # nothing else about the order


@needs_sample
def test_a_wrong_email_and_a_missing_order_get_the_same_answer(client, shop):
    wrong = ask(client, "Where is order #9999? someone@else.test", client_id="cl-9").json
    missing = ask(client, "Where is order #8888? jon@example.com", client_id="cl-9").json
    assert wrong["answer"] == missing["answer"] and wrong["order"] is None is missing["order"]
    assert "1Z2345" not in wrong["answer"] and "#9999" not in wrong["answer"]


@needs_sample
def test_a_late_order_gets_an_apology_and_a_hand_off(client, session, shop):
    late_one = sample()
    for n, line in enumerate(late_one["line_items"]):
        line["id"] = 777100 + n
    late_one.update(test=False, cancelled_at=None, id=777001, name="#9001", updated_at=NOW.isoformat(),
                    processed_at=(NOW - timedelta(days=20)).isoformat())  # fmt: skip
    late_one["fulfillments"] = [{"status": "success", "shipment_status": "in_transit", "tracking_number": "X1",
                                 "created_at": (NOW - timedelta(days=15)).isoformat()}]  # fmt: skip
    upsert_order(session, shop.shop_id, late_one)
    session.commit()
    body = ask(client, "where is order #9001, jon@example.com", client_id="cl-9").json
    assert body["escalated"] is True and body["handoff"] == "late_order"
    assert body["answer"].startswith("Your order #9001") and "I'm sorry" in body["answer"]


@needs_sample
def test_order_look_ups_by_visitors_are_limited_per_shop(client, shop, monkeypatch):
    monkeypatch.setattr("app.stores.support.ANONYMOUS_LOOKUPS_PER_HOUR", 2)
    for n in range(2):
        assert ask(client, f"order #{8000 + n} jon@example.com", client_id=f"guess-{n}").status_code == 200
    # a new client id does not reset it: the limit is the shop's
    assert ask(client, "order #9999 jon@example.com", client_id="guess-9").status_code == 429
    assert ask(client, "warm socks", client_id="guess-9").status_code == 200  # other questions still work


@needs_sample
def test_another_shop_never_finds_the_order(client, shops, shop):
    _, b = shops
    body = ask(
        client, "Where is order #9999? jon@example.com", client_id="cl-9", shop="beta-support.myshopify.com"
    ).json
    assert body["order"] is None and "1Z2345" not in body["answer"]


def test_the_bulk_sync_maps_graphql_fulfilments_to_the_webhooks_shape():
    node = {
        "id": "gid://shopify/Order/5", "name": "#1005", "statusPageUrl": "https://s.test/5/orders/abc/authenticate",
        "fulfillments": [{"status": "SUCCESS", "displayStatus": "IN_TRANSIT", "createdAt": "2026-12-01T10:00:00Z",
                          "trackingInfo": [{"company": "DHL", "number": "JD01", "url": "https://dhl.test/JD01"}]},
                         {"status": "CANCELLED", "displayStatus": None, "createdAt": "2026-11-30T10:00:00Z",
                          "trackingInfo": []}],
    }  # fmt: skip
    data = bulk.order(node, [])
    assert data["order_status_url"] == node["statusPageUrl"]
    assert fulfillments(data["fulfillments"]) == [
        {"status": "success", "shipment_status": "in_transit", "tracking_company": "DHL", "tracking_number": "JD01",
         "tracking_url": "https://dhl.test/JD01", "created_at": "2026-12-01T10:00:00+00:00"},
        {"status": "cancelled", "shipment_status": None, "tracking_company": None, "tracking_number": None,
         "tracking_url": None, "created_at": "2026-11-30T10:00:00+00:00"},
    ]  # fmt: skip
    assert fulfillments([{"tracking_url": "javascript:alert(1)"}, "junk"])[0]["tracking_url"] is None
