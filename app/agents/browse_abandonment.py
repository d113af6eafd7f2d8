"""Browse abandonment: a shopper who looked at a product at least twice in 7 days, never put it in the cart and
did not buy gets one reminder of it, with two recommendations, at their best hour. Pure: facts in, a
``Proposal`` out; the orchestrator decides (holdout, consent, quiet hours, the one budget) and the outbox sends.

Rules, in order:
- the product was viewed ``MIN_VIEWS`` times or more in the last ``WINDOW``; the last view is at least
  ``LEFT_AFTER`` old (the shopper has left: never a reminder in the middle of a visit);
- it was never added to the cart in the window, and the shopper bought nothing after the first of those views
  (a purchase also cancels a pending reminder: ``cancel_on_purchase``);
- the product can still be sold (a card with a sellable variant);
- one reminder per shopper and product, ever (the dedupe key names the product);
- of several such products, the one viewed most (then most recently).

The send time is the next moment inside the shopper's most active local hour within the pleasant part of the
day (from the profile's hour histogram, in their time zone; without any activity there, the next moment inside
that part of the day), at least ``LEFT_AFTER`` after the last view; the
reminder may go out until ``SEND_WINDOW`` later. The expected incremental value is the product's price times the
shopper's uplift: the prior until the shop has enough randomised exposures, then the shop's own uplift model's
prediction for this shopper (the job asks it; a shopper it predicts no gain for is not proposed at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.orchestrator.clock import best_hour, send_time
from app.orchestrator.content import Card
from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper

AGENT = "browse_abandonment"
WINDOW = timedelta(days=7)
MIN_VIEWS = 2
LEFT_AFTER = timedelta(hours=1)
SEND_WINDOW = timedelta(hours=48)
CHANNELS = ("email", "push", "sms", "onsite")  # the orchestrator takes the first one allowed
# Incremental conversion of one reminder before the shop has its own estimate: the e-mail's effect on
# conversion in the randomised MineThatData test (../shared/data/hillstrom_email: 0.88 % with the e-mail,
# about 0.57 % without, so about +0.3 percentage points).
UPLIFT_PRIOR = 0.003
RECOMMENDATIONS = 2


@dataclass(frozen=True)
class BrowseHistory:
    """One shopper's storefront history in the window (times timezone-aware)."""

    shopper: Shopper
    views: Mapping[int, Sequence[datetime]]  # product -> its view times
    carted: frozenset[int] = frozenset()  # products added to the cart
    purchases: Sequence[datetime] = ()  # when the shopper bought anything (orders, completed checkouts)
    hours: Sequence[int] = field(default_factory=lambda: [0] * 24)  # activity per local hour
    time_zone: str | None = None
    features: Mapping[str, float | str | None] = field(default_factory=dict)  # recorded with the decision


@dataclass(frozen=True)
class Abandoned:
    product_id: int
    views: int
    first_view: datetime
    last_view: datetime


def abandoned_product(history: BrowseHistory, now: datetime) -> Abandoned | None:
    """The product this shopper abandoned while browsing, or None."""
    found = []
    for pid, times in history.views.items():
        recent = sorted(t for t in times if now - WINDOW <= t <= now)
        if len(recent) < MIN_VIEWS or pid in history.carted or now - recent[-1] < LEFT_AFTER:
            continue
        if any(p >= recent[0] for p in history.purchases):
            continue
        found.append(Abandoned(pid, len(recent), recent[0], recent[-1]))
    if not found:
        return None
    return max(found, key=lambda a: (a.views, a.last_view, -a.product_id))


def _recommendations(pid: int, pairs: Mapping[int, Sequence[int]], cards: Mapping[int, Card]) -> list[Card]:
    out: list[Card] = []
    for other in pairs.get(pid, ()):
        card = cards.get(other)
        if other != pid and card is not None and card.available and card not in out:
            out.append(card)
        if len(out) == RECOMMENDATIONS:
            break
    return out


def propose(
    shop_id: int,
    shop_name: str,
    history: BrowseHistory,
    now: datetime,
    cards: Mapping[int, Card],
    pairs: Mapping[int, Sequence[int]],
    uplift: float = UPLIFT_PRIOR,
) -> Proposal | None:
    """The reminder for ``history``'s shopper, or None. ``pairs``: product -> products to recommend with it
    (bought together first, then similar), ``cards``: what to show of each product."""
    found = abandoned_product(history, now)
    if found is None:
        return None
    card = cards.get(found.product_id)
    if card is None or not card.available:
        return None
    recs = _recommendations(found.product_id, pairs, cards)
    earliest = send_time(max(now, found.last_view + LEFT_AFTER), best_hour(history.hours), history.time_zone)
    products = [card, *recs]
    data = {  # the words are written in the shopper's language by app.channels.copy ("browse_reminder")
        "copy": "browse_reminder",
        "product_title": card.title,
        "shop_name": shop_name,
        "products": [
            {
                "id": c.product_id,
                "title": c.title,
                "url": c.url,
                "price": c.price,
                "amount": c.value or None,
                "currency": c.currency,
            }
            for c in products
        ],
        "cta_url": card.url,
    }
    return Proposal(
        agent=AGENT,
        shop_id=shop_id,
        shopper=history.shopper,
        purpose=Purpose.MARKETING,
        content=Content("message", data),
        channels=CHANNELS,
        earliest=earliest,
        latest=earliest + SEND_WINDOW,
        dedupe_key=f"browse:{found.product_id}",
        reason=(
            f"Viewed {card.title[:120]} {found.views} times in 7 days, never added it to the cart, no purchase since"
        ),
        expected_value=round(uplift * card.value, 4),
        product_ids=tuple(c.product_id for c in products),
        cancel_on_purchase=True,
        proposed_at=now,
        features=history.features,
    )
