"""The rescue agent alone (pure): when a checkout is abandoned, the sequence it proposes (three messages, first
delay drawn among 1 h / 24 h / 72 h and recorded, follow-ups, purchase-cancelled, dedupe keys), and the link that
restores the cart."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.agents.rescue import (
    DELAYS,
    FOLLOW_UPS,
    AbandonedCheckout,
    Line,
    cart_permalink,
    delay_arm,
    propose,
)
from app.channels.copy import localize
from app.orchestrator.proposal import Shopper

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LINES = (Line(42, 1042, 2, "Blue Mug", "12.00"), Line(43, 1043, 1, "Saucer", "4.00"))


def checkout(**kw) -> AbandonedCheckout:
    base = AbandonedCheckout("tok-1", Shopper(customer_id=7), NOW - timedelta(hours=2), LINES, total=28.0,
                             recovery_url="https://shop.test/1/checkouts/tok-1/recover?key=k")  # fmt: skip
    return replace(base, **kw)


def test_an_abandoned_checkout_gets_three_messages_from_its_drawn_delay():
    out = propose(1, "Mugs & Co", "mugs.myshopify.com", checkout(), NOW)
    delay = DELAYS[delay_arm(1, "tok-1")]
    first = max(NOW, NOW - timedelta(hours=2) + delay)
    assert [p.earliest for p in out] == [first + f for f in FOLLOW_UPS]
    assert [p.dedupe_key for p in out] == ["rescue:tok-1:1", "rescue:tok-1:2", "rescue:tok-1:3"]
    assert all(p.cancel_on_purchase and p.proposed_at == NOW and p.agent == "rescue" for p in out)
    assert {p.features["delay_h"] for p in out} == {int(delay.total_seconds() // 3600)}
    assert [p.features["step"] for p in out] == [1, 2, 3]
    assert out[0].content.data["cta_url"] == "https://shop.test/1/checkouts/tok-1/recover?key=k"
    assert localize(out[0].content.data, "en")["subject"] == "You left Blue Mug and 1 more in your cart"
    assert out[0].product_ids == (42, 43) and out[0].channels[0] == "email"


@pytest.mark.parametrize(
    "change",
    [
        {"updated_at": NOW - timedelta(minutes=59)},  # the shopper may still be there
        {"completed": True},
        {"ordered": True},
        {"lines": (Line(42, 1042, 0, "Blue Mug"),)},  # nothing left in it
        {"recovery_url": None, "lines": (Line(42, None, 1, "Blue Mug"),)},  # no link can restore it
    ],
)
def test_no_sequence_when_not_abandoned_or_not_restorable(change):
    assert propose(1, "Mugs & Co", "mugs.myshopify.com", checkout(**change), NOW) == []


def test_a_sold_out_variant_in_the_cart_holds_the_sequence_back():
    """The link would restore a cart that cannot be bought: nothing until the variant is back; a sold-out
    variant the cart no longer holds (quantity 0) does not count."""
    assert propose(1, "Mugs & Co", "mugs.myshopify.com", checkout(), NOW, sold_out=frozenset({1043})) == []
    emptied = checkout(lines=(LINES[0], Line(43, 1043, 0, "Saucer")))
    assert len(propose(1, "Mugs & Co", "mugs.myshopify.com", emptied, NOW, sold_out=frozenset({1043}))) == 3
    assert len(propose(1, "Mugs & Co", "mugs.myshopify.com", checkout(), NOW, sold_out=frozenset({9}))) == 3


def test_without_a_recovery_url_the_link_is_a_cart_permalink():
    (first, *_) = propose(1, "Mugs & Co", "mugs.myshopify.com", checkout(recovery_url=None), NOW)
    assert first.content.data["cta_url"] == "https://mugs.myshopify.com/cart/1042:2,1043:1"
    assert cart_permalink("mugs.myshopify.com", (Line(None, None, 1, "x"),)) is None


def test_the_first_delay_is_drawn_evenly_and_stably():
    counts = Counter(delay_arm(3, f"tok-{i}") for i in range(3000))
    assert set(counts) == {0, 1, 2} and all(900 <= c <= 1100 for c in counts.values())
    assert all(delay_arm(3, f"tok-{i}") == delay_arm(3, f"tok-{i}") for i in range(50))
    assert [delay_arm(s, "tok-9") for s in range(1, 40)].count(delay_arm(1, "tok-9")) < 39  # per shop


def test_each_message_of_the_sequence_is_written_in_the_shoppers_language():
    out = propose(1, "Mugs & Co", "mugs.myshopify.com", checkout(lines=LINES[:1]), NOW)
    english = [localize(p.content.data, "en") for p in out]
    german = [localize(p.content.data, "de") for p in out]
    assert [m["subject"] for m in english] == [
        "You left Blue Mug in your cart",
        "Your cart at Mugs & Co is still saved",
        "Last reminder: your cart at Mugs & Co is waiting",
    ]
    assert [m["subject"] for m in german] == [
        "Du hast Blue Mug im Warenkorb gelassen",
        "Dein Warenkorb bei Mugs & Co ist noch gespeichert",
        "Letzte Erinnerung: Dein Warenkorb bei Mugs & Co wartet",
    ]
    assert german[0]["cta_label"] == "Zurück zum Warenkorb" and german[0]["locale"] == "de"
    assert german[0]["products"][0]["title"] == "2 × Blue Mug"
