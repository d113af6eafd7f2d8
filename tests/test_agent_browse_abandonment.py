"""The browse-abandonment agent, pure: who gets a reminder, of what, with what, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.agents.browse_abandonment import (
    AGENT,
    BrowseHistory,
    abandoned_product,
    best_hour,
    propose,
    send_time,
)
from app.orchestrator.content import Card
from app.orchestrator.proposal import Purpose, Shopper

NOW = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
ANN = Shopper(customer_id=7)
CARDS = {
    42: Card(42, "Blue Mug", "https://mugs.test/products/blue-mug", "12.00 USD", 12.0),
    43: Card(43, "Saucer", "https://mugs.test/products/saucer", "5.00 USD", 5.0),
    44: Card(44, "Spoon", "https://mugs.test/products/spoon", "3.00 USD", 3.0, available=False),
    45: Card(45, "Tea", "https://mugs.test/products/tea", "8.00 USD", 8.0),
    46: Card(46, "Green Mug", "https://mugs.test/products/green-mug", "12.00 USD", 12.0),
}
PAIRS = {42: [42, 44, 43, 45, 46]}


def history(views=None, **kw) -> BrowseHistory:
    views = views if views is not None else {42: [NOW - timedelta(days=3), NOW - timedelta(days=1)]}
    return BrowseHistory(shopper=ANN, views=views, **kw)


def test_two_views_in_a_week_without_cart_or_purchase_is_abandoned():
    found = abandoned_product(history(), NOW)
    assert (found.product_id, found.views) == (42, 2)
    assert abandoned_product(history({42: [NOW - timedelta(days=1)]}), NOW) is None  # one view
    old = {42: [NOW - timedelta(days=9), NOW - timedelta(days=1)]}
    assert abandoned_product(history(old), NOW) is None  # the first view is out of the week
    assert abandoned_product(history(carted=frozenset({42})), NOW) is None  # it went to the cart
    bought = history(purchases=(NOW - timedelta(days=2),))
    assert abandoned_product(bought, NOW) is None  # a purchase after the first view
    before = history(purchases=(NOW - timedelta(days=5),))
    assert abandoned_product(before, NOW).product_id == 42  # a purchase before the views does not count
    here = {42: [NOW - timedelta(hours=2), NOW - timedelta(minutes=20)]}
    assert abandoned_product(history(here), NOW) is None  # still browsing: never mid-visit


def test_the_most_viewed_product_is_the_one_reminded():
    views = {
        46: [NOW - timedelta(days=2), NOW - timedelta(days=1)],
        42: [NOW - timedelta(days=4), NOW - timedelta(days=3), NOW - timedelta(days=2)],
    }
    assert abandoned_product(history(views), NOW).product_id == 42


def test_the_proposal_carries_the_product_two_available_recommendations_and_its_reasons():
    p = propose(1, "Mugs & Co", history(), NOW, CARDS, PAIRS)
    assert p.agent == AGENT and p.shopper == ANN and p.purpose is Purpose.MARKETING
    assert p.product_ids == (42, 43, 45)  # the product itself and the out-of-stock spoon are skipped
    assert [x["title"] for x in p.content.data["products"]] == ["Blue Mug", "Saucer", "Tea"]
    assert p.content.data["cta_url"] == "https://mugs.test/products/blue-mug"
    assert p.dedupe_key == "browse:42" and p.cancel_on_purchase and p.proposed_at == NOW
    assert p.reason.startswith("Viewed Blue Mug 2 times in 7 days")
    assert p.expected_value == pytest.approx(0.003 * 12.0)
    assert p.channels[0] == "email" and "onsite" in p.channels
    assert p.latest - p.earliest == timedelta(hours=48)


def test_nothing_is_proposed_for_a_product_that_cannot_be_sold_or_has_no_card():
    views = {44: [NOW - timedelta(days=2), NOW - timedelta(days=1)]}
    assert propose(1, "Mugs", history(views), NOW, CARDS, PAIRS) is None
    views = {99: [NOW - timedelta(days=2), NOW - timedelta(days=1)]}
    assert propose(1, "Mugs", history(views), NOW, CARDS, PAIRS) is None


def test_it_is_sent_in_the_shoppers_most_active_hour_in_their_zone():
    hours = [0] * 24
    hours[19], hours[3] = 5, 9  # 03:00 is the busiest, but not a time to send
    assert best_hour(hours) == 19
    assert best_hour([0] * 24) is None  # unknown: no reason to wait
    p = propose(1, "Mugs", history(hours=hours, time_zone="Europe/Paris"), NOW, CARDS, PAIRS)
    local = p.earliest.astimezone(p.earliest.tzinfo)
    assert (local.hour, local.minute) == (19, 0) and str(p.earliest.tzinfo) == "Europe/Paris"
    assert p.earliest.astimezone(UTC) == datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # today, 19:00 in Paris


def test_without_a_known_hour_it_goes_at_the_first_pleasant_moment():
    assert send_time(datetime(2026, 12, 7, 12, 20, tzinfo=UTC), None, "UTC") == datetime(
        2026, 12, 7, 12, 20, tzinfo=UTC
    )
    assert send_time(datetime(2026, 12, 7, 6, 0, tzinfo=UTC), None, "UTC") == datetime(
        2026, 12, 7, 9, 0, tzinfo=UTC
    )
    late = send_time(datetime(2026, 12, 7, 21, 30, tzinfo=UTC), None, "America/New_York")  # 16:30 in New York
    assert late == datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
    assert send_time(datetime(2026, 12, 7, 22, 5, tzinfo=UTC), None, "UTC") == datetime(
        2026, 12, 8, 9, 0, tzinfo=UTC
    )
    p = propose(1, "Mugs", history(), datetime(2026, 12, 7, 10, 0, tzinfo=UTC), CARDS, PAIRS)
    assert p.earliest == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # no history of hours: now


def test_send_time_inside_the_hour_is_now_and_after_it_is_tomorrow():
    at = datetime(2026, 12, 7, 12, 20, tzinfo=UTC)
    assert send_time(at, 12, "UTC") == at
    assert send_time(at, 11, "UTC") == datetime(2026, 12, 8, 11, 0, tzinfo=UTC)
    assert send_time(at, 14, "UTC") == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert send_time(at, 14, "Not/AZone") == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # unknown zone: UTC
    # across a DST change (Paris, 2027-03-28): still 10:00 local the next day
    spring = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)  # 13:00 in Paris
    nxt = send_time(spring, 10, "Europe/Paris")
    assert nxt.astimezone(UTC) == datetime(2027, 3, 28, 8, 0, tzinfo=UTC)
