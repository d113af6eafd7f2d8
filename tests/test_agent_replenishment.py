"""The replenishment agent's rules (pure): when an item is due, the one-click reorder, complements, stock,
subscriptions, the Flow trigger and the reason text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.agents.replenishment import (
    FLOW_TRIGGER,
    ReplenishmentFacts,
    Supply,
    cart_permalink,
    due_items,
    propose,
    reason,
)
from app.channels.flow import build_payload
from app.orchestrator.content import Card
from app.orchestrator.proposal import Shopper

NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)


def supply(pid=11, due_in=4, **kw):
    base = dict(
        product_id=pid, variant_id=pid * 10, title=f"Coffee {pid}", url=f"/products/c{pid}", price="9.00",
        value=9.0, usual_quantity=2, cycle_days=21.0, last_purchase_at=NOW - timedelta(days=19),
        due_at=NOW + timedelta(days=due_in), p_within_14d=0.6, supply_left=0.2, status="due", consumable=True,
    )  # fmt: skip
    base.update(kw)
    return Supply(**base)


def facts(*supplies, hours=None):
    return ReplenishmentFacts(Shopper(customer_id=7), supplies, hours=hours or [0] * 24, time_zone="UTC")


def test_due_when_run_out_minus_delivery_is_near():
    near = supply(11, due_in=6)  # 6 days out: run-out − 3 days' delivery − 3 days' lead = now
    far = supply(12, due_in=7)
    overdue = supply(13, due_in=-5)
    assert [s.product_id for s in due_items([far, near, overdue], NOW)] == [13, 11]
    assert [s.product_id for s in due_items([far], NOW, delivery=timedelta(days=5))] == [12]


@pytest.mark.parametrize(
    "change",
    [
        {"status": "stopped"},  # a long silence: stopped buying, not due
        {"consumable": False},  # durables never get reminders
        {"available": False},  # out of stock: no reminder
        {"subscribed": True},  # an active subscription covers it
        {"variant_id": None},  # nothing to put in the cart
        {"personal": False},  # one purchase: no rhythm of the shopper's own
    ],
)
def test_no_reminder(change):
    assert propose(1, "Shop", "s.myshopify.com", facts(supply(**change)), NOW, {}) == []


def test_reminder_carries_the_usual_cart_two_complements_and_the_flow_trigger():
    a, b = supply(11, due_in=2), supply(12, due_in=5, usual_quantity=1)
    comps = {
        11: [Card(31, "Filter", "/p/31", "3.00", available=False), Card(32, "Mug", "/p/32", "8.00"),
             Card(12, "Coffee 12", "/p/12", "9.00")],
        12: [Card(33, "Grinder", "/p/33", "40.00"), Card(34, "Beans", "/p/34", "7.00")],
    }  # fmt: skip
    message, flow = propose(
        1, "Shop", "s.myshopify.com", facts(a, b, hours=[0] * 15 + [5] + [0] * 8), NOW, comps
    )
    data = message.content.data
    assert data["cta_url"] == "https://s.myshopify.com/cart/110:2,120:1"
    assert [p["id"] for p in data["products"]] == [11, 12, 32, 33]  # due items, then two in-stock complements
    assert message.product_ids == (11, 12) and message.cancel_on_purchase
    assert message.earliest == NOW.replace(
        hour=15, minute=0
    ) and message.latest - message.earliest == timedelta(hours=48)
    assert (
        message.dedupe_key == "replenish:11:2026-06-03" and flow.dedupe_key == "flow:replenish:11:2026-06-03"
    )
    assert "you usually reorder every 3 weeks; last order 19 days ago" in message.reason
    assert "80 % through" in data["paragraphs"][0]
    assert flow.channels == ("flow",) and flow.content.template == FLOW_TRIGGER
    payload = build_payload(FLOW_TRIGGER, "7", flow.content.data)  # what the Flow channel will fire
    assert payload["customer_id"] == 7 and payload["product_id"] == 11 and payload["Due date"] == "2026-06-03"
    assert message.expected_value == pytest.approx(0.003 * (9 * 2 + 9 * 1)) == 2 * flow.expected_value


def test_reason_text():
    assert reason(supply(cycle_days=21, last_purchase_at=NOW - timedelta(days=19)), NOW) == (
        "you usually reorder every 3 weeks; last order 19 days ago"
    )
    assert reason(supply(cycle_days=10.4), NOW).startswith("you usually reorder every 10 days")
    assert (
        cart_permalink("x.myshopify.com", [replace(supply(), usual_quantity=0)])
        == "https://x.myshopify.com/cart/110:1"
    )


def test_an_out_of_stock_item_is_offered_a_substitute_never_put_in_the_cart():
    sub = Card(21, "House Blend", "https://s.myshopify.com/products/house", "8.50 USD", 8.5)
    gone = supply(11, due_in=2, available=False, substitute=sub)
    (message, flow) = propose(1, "Shop", "s.myshopify.com", facts(gone), NOW, {})
    data = message.content.data
    assert data["cta_url"] == sub.url and data["cta_label"] == "See House Blend"  # no cart with it unasked
    assert [p["id"] for p in data["products"]] == [21]
    assert (
        "Your usual Coffee 11 is out of stock; House Blend is the same kind at a similar price."
        in data["paragraphs"]
    )
    assert message.product_ids == (21,)  # the orchestrator's stock check looks at what is offered
    assert message.dedupe_key == "replenish:11:2026-06-03"  # still one reminder per due cycle of the item
    assert flow.content.data["cart_url"] == sub.url
    assert message.expected_value == pytest.approx(0.003 * 8.5 * 2)


def test_in_stock_items_go_in_the_cart_and_the_substitute_beside_them():
    sub = Card(21, "House Blend", "https://s.myshopify.com/products/house", "8.50 USD", 8.5)
    (message, _) = propose(
        1, "Shop", "s.myshopify.com",
        facts(supply(11, due_in=2), supply(12, due_in=1, available=False, substitute=sub)), NOW, {},
    )  # fmt: skip
    data = message.content.data
    assert data["cta_url"] == "https://s.myshopify.com/cart/110:2" and data["cta_label"] == "Reorder"
    assert [p["id"] for p in data["products"]] == [11, 21] and message.product_ids == (11, 21)


def test_no_substitute_that_is_itself_out_of_stock():
    sub = Card(21, "House Blend", "/products/house", "8.50 USD", 8.5, available=False)
    assert (
        propose(1, "Shop", "s.myshopify.com", facts(supply(11, available=False, substitute=sub)), NOW, {})
        == []
    )


def test_where_the_shop_sells_it_on_subscription_the_reminder_offers_to_subscribe():
    (message, _) = propose(1, "Shop", "s.myshopify.com", facts(supply(11, subscribable=True)), NOW, {})
    data = message.content.data
    assert (
        data["subscribe_url"] == "/products/c11" and data["cta_url"] == "https://s.myshopify.com/cart/110:2"
    )
    assert "Subscribe to Coffee 11 and it arrives before you run out." in data["paragraphs"]
    (plain, _) = propose(1, "Shop", "s.myshopify.com", facts(supply(11)), NOW, {})
    assert "subscribe_url" not in plain.content.data
