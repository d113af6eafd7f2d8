"""Replenishment: a shopper whose supply of a consumable runs out soon gets one reminder with a one-click reorder.
Pure: facts in (the stored forecasts of ``app.recommend.replenishment``, the catalogue's stock), ``Proposal``s out;
the orchestrator decides (holdout, consent, quiet hours, the one budget) and the outbox sends.

Rules:
- an item is due when its predicted run-out minus the shop's delivery time is at most ``LEAD`` away (or past);
  only consumables bought on two days or more (a single purchase has no rhythm of the shopper's own to quote),
  never a pair the model says has stopped or one covered by an active subscription, and only with a variant
  to put in the cart;
- where the shop sells a due item on subscription, the reminder also offers to subscribe instead (its product
  page, where the shopper picks the plan);
- a due item that is out of stock is never in the cart: where the shop has an in-stock product of the same kind
  (``substitute``) the reminder offers it with the reason, else the item is left out;
- one reminder per shopper and due cycle of its most due item (the dedupe key names the product and due date);
- it carries every due item at the shopper's usual quantity in a cart permalink (``/cart/{variant}:{qty},…``)
  and at most ``COMPLEMENTS`` in-stock items that shoppers add when restocking these;
- it goes out at the shopper's best local hour (``app.orchestrator.clock``) and a purchase cancels it;
- beside it, the Flow trigger "replenishment due" (``attune-replenishment-due``) for the merchant's own workflows,
  worth half the reminder in the one contact budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.orchestrator.clock import best_hour, send_time
from app.orchestrator.content import Card
from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper
from app.recommend.replenishment import reorder_reason

AGENT = "replenishment"
FLOW_TRIGGER = "attune-replenishment-due"
LEAD = timedelta(days=3)  # remind this long before the run-out minus delivery
DELIVERY = timedelta(days=3)  # a shop's delivery time when it has not set one
SEND_WINDOW = timedelta(hours=48)
CHANNELS = ("email", "push", "sms", "onsite")
COMPLEMENTS = 2
# Incremental reorder probability of one reminder before the shop has its own estimate: the same prior as the
# other agents (the MineThatData e-mail's effect on conversion, about +0.3 points; ../shared/data/hillstrom_email).
UPLIFT_PRIOR = 0.003


@dataclass(frozen=True)
class Supply:
    """One product the shopper replenishes: the stored forecast and the catalogue's card of it."""

    product_id: int
    variant_id: int | None
    title: str
    url: str
    price: str | None
    value: float
    usual_quantity: int
    cycle_days: float
    last_purchase_at: datetime
    due_at: datetime
    p_within_14d: float
    supply_left: float
    status: str  # stocked | due | stopped
    consumable: bool
    available: bool = True
    subscribed: bool = False  # an active subscription covers it
    subscribable: bool = False  # the shop sells it on subscription
    personal: bool = True  # the shopper's own rhythm (False: one purchase, the product's prior only)
    substitute: Card | None = (
        None  # an in-stock product of the same kind, offered when this one is out of stock
    )


@dataclass(frozen=True)
class ReplenishmentFacts:
    shopper: Shopper
    supplies: Sequence[Supply]
    hours: Sequence[int] = field(default_factory=lambda: [0] * 24)
    time_zone: str | None = None
    features: Mapping[str, float | str | None] = field(default_factory=dict)


def _due(s: Supply, now: datetime, delivery: timedelta) -> bool:
    return (
        s.consumable
        and s.personal
        and s.status != "stopped"
        and not s.subscribed
        and s.usual_quantity > 0
        and s.due_at - delivery - LEAD <= now
    )


def _order(s: Supply) -> tuple[datetime, float, int]:
    return (s.due_at, -s.p_within_14d, s.product_id)


def due_items(supplies: Sequence[Supply], now: datetime, delivery: timedelta = DELIVERY) -> list[Supply]:
    """The supplies to remind of now and put in the cart, the most due first (earliest run-out, then most
    likely bought): in stock, with a variant to add."""
    due = [s for s in supplies if _due(s, now, delivery) and s.available and s.variant_id is not None]
    return sorted(due, key=_order)


def swaps(supplies: Sequence[Supply], now: datetime, delivery: timedelta = DELIVERY) -> list[Supply]:
    """The due supplies that are out of stock and have an in-stock substitute (offered with the reason, never
    put in the cart unasked), the most due first."""
    out = [
        s
        for s in supplies
        if _due(s, now, delivery) and not s.available and s.substitute is not None and s.substitute.available
    ]
    return sorted(out, key=_order)


def swap_reason(item: Supply) -> str:
    """Why the substitute: "Your usual Dark Roast is out of stock; House Blend is the same kind at a similar
    price"."""
    assert item.substitute is not None
    return f"Your usual {item.title} is out of stock; {item.substitute.title} is the same kind at a similar price"


def cart_permalink(shop_domain: str, items: Sequence[Supply]) -> str:
    """Shopify's cart permalink that fills the cart with ``items`` at their usual quantities."""
    lines = ",".join(f"{s.variant_id}:{max(int(s.usual_quantity), 1)}" for s in items)
    return f"https://{shop_domain}/cart/{lines}"


def reason(item: Supply, now: datetime) -> str:
    """Why this item, in the shopper's words: "you usually reorder every 3 weeks; last order 19 days ago"."""
    return reorder_reason(item.cycle_days, (now - item.last_purchase_at).days)


def _complements(items: Sequence[Supply], complements: Mapping[int, Sequence[Card]]) -> list[Card]:
    taken = {s.product_id for s in items}
    out: list[Card] = []
    for s in items:
        for card in complements.get(s.product_id, ()):
            if card.available and card.product_id not in taken and card not in out:
                out.append(card)
            if len(out) == COMPLEMENTS:
                return out
    return out


def propose(
    shop_id: int,
    shop_name: str,
    shop_domain: str,
    facts: ReplenishmentFacts,
    now: datetime,
    complements: Mapping[int, Sequence[Card]],
    delivery: timedelta = DELIVERY,
    uplift: float = UPLIFT_PRIOR,
) -> list[Proposal]:
    """The reminder and its Flow trigger for ``facts``' shopper, or nothing."""
    items = due_items(facts.supplies, now, delivery)
    swapped = swaps(facts.supplies, now, delivery)
    if not items and not swapped:
        return []
    lead = items[0] if items else swapped[0]
    extra = _complements(items, complements) if items else []
    subs = [s.substitute for s in swapped if s.substitute is not None]
    cart = cart_permalink(shop_domain, items) if items else None
    earliest = send_time(now, best_hour(facts.hours), facts.time_zone)
    why = reason(lead, now)
    left = int(round(100 * (1 - lead.supply_left)))
    data = {
        "subject": f"Running low on {lead.title}?",
        "heading": f"Running low on {lead.title}?",
        "paragraphs": [
            f"You are about {left} % through your {lead.title}: {why}.",
            *(f"{swap_reason(s)}." for s in swapped),
            (
                "Your usual order is one click away."
                if len(items) == 1
                else "Your usual items are one click away."
            )
            if items
            else "",
            *(f"Subscribe to {s.title} and it arrives before you run out." for s in items if s.subscribable),
            "Shoppers restocking these often add:" if extra else "",
        ],
        "products": [
            *(
                {
                    "id": s.product_id,
                    "title": s.title,
                    "url": s.url,
                    "price": s.price,
                    "quantity": s.usual_quantity,
                }
                for s in items
            ),
            *({"id": c.product_id, "title": c.title, "url": c.url, "price": c.price} for c in subs),
            *({"id": c.product_id, "title": c.title, "url": c.url, "price": c.price} for c in extra),
        ],  # fmt: skip
        "cta_url": cart or subs[0].url,
        "cta_label": "Reorder" if cart else f"See {subs[0].title}",
    }
    if subscribe := next((s for s in items if s.subscribable), None):
        data["subscribe_url"] = subscribe.url
    data["paragraphs"] = [p for p in data["paragraphs"] if p]
    key = f"replenish:{lead.product_id}:{lead.due_at.date().isoformat()}"
    common = {
        "agent": AGENT,
        "shop_id": shop_id,
        "shopper": facts.shopper,
        "purpose": Purpose.MARKETING,
        "earliest": earliest,
        "latest": earliest + SEND_WINDOW,
        "reason": f"{lead.title[:100]} due {lead.due_at.date().isoformat()}: {why}"[:280],
        "expected_value": round(
            uplift * sum(s.value * s.usual_quantity for s in items)
            + uplift * sum(c.value * s.usual_quantity for s in swapped if (c := s.substitute)),
            4,
        ),
        "product_ids": tuple(s.product_id for s in items) + tuple(c.product_id for c in subs),
        "cancel_on_purchase": True,
        "proposed_at": now,
        "features": facts.features,
    }
    flow = {
        "product_id": lead.product_id,
        "product_title": lead.title,
        "due_date": lead.due_at.date().isoformat(),
        "reason": why,
        "cart_url": cart or subs[0].url,
    }
    # The Flow trigger hands the shopper to the merchant's own workflow, which is a contact too: it is worth half
    # the reminder, so under the orchestrator's one budget the reminder with the cart wins where it can be sent
    # (an on-site reminder counts against no budget, so then both go out).
    return [
        Proposal(content=Content("message", data), channels=CHANNELS, dedupe_key=key, **common),
        Proposal(
            content=Content(FLOW_TRIGGER, flow),
            channels=("flow",),
            dedupe_key=f"flow:{key}",
            **{**common, "expected_value": round(common["expected_value"] / 2, 4)},
        ),
    ]
