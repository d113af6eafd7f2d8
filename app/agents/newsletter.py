"""Newsletters: the merchant writes one; each recipient gets their own. Pure: the campaign and one shopper's facts
in, a ``Proposal`` out; the orchestrator decides it (marketing consent, quiet hours, the contact budget, the global
holdout and the campaign's own holdout) and the outbox sends it.

Personalised per recipient:
- **the product block**: the shopper's own recommendations (the recommendation agent's list for them), in stock,
  else the checklist of the interest they are most likely to buy from next (what they do not own yet), else none;
- **the subject line**: the merchant's subject (or the bandit's variant of it, ``app.orchestrator.variants``) with
  ``{first_name}``, ``{shop}`` and ``{interest}`` filled in;
- **the send hour**: the hour the shopper is usually active (from their profile), in their time zone, the next
  time it comes round (the orchestrator then keeps quiet hours).

Every recipient's message is the agent ``newsletter-<campaign id>`` with the dedupe key ``newsletter:<id>``: one
per shopper per campaign however often the job runs, and a holdout (and lift) of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.orchestrator.clock import best_hour, send_time
from app.orchestrator.content import Card
from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper

SEND_WINDOW = timedelta(hours=36)
# Incremental conversion per newsletter before the shop has its own estimate (the MineThatData e-mail test's
# +0.3 points on a cold list): the value that competes for the contact budget.
NEWSLETTER_UPLIFT = 0.003


def agent_name(campaign_id: int) -> str:
    return f"newsletter-{campaign_id}"


def dedupe_key(campaign_id: int) -> str:
    return f"newsletter:{campaign_id}"


@dataclass(frozen=True)
class Newsletter:
    """What the merchant wrote."""

    campaign_id: int
    subject: str
    body: str
    products: int = 3


@dataclass(frozen=True)
class Recipient:
    """One shopper, as the newsletter needs them (times timezone-aware)."""

    shopper: Shopper
    first_name: str | None = None
    stage: str = "unknown"  # the journey stage: the segment the variants' readout is split by
    recommended: Sequence[Card] = ()  # their own list, best first
    interest: str | None = None  # the interest they are most likely to buy from next
    checklist: Sequence[Card] = ()  # its items they do not own yet, best first
    hours: Sequence[int] = field(default_factory=lambda: [0] * 24)
    time_zone: str | None = None
    average_order_value: float = 0.0


def product_block(newsletter: Newsletter, r: Recipient) -> tuple[str, list[Card]]:
    """Which products this recipient sees and why: ``recommended``, ``interest`` or ``none``."""
    if newsletter.products <= 0:
        return "none", []
    own = [c for c in r.recommended if c.available][: newsletter.products]
    if own:
        return "recommended", own
    listed = [c for c in r.checklist if c.available][: newsletter.products]
    if listed and r.interest:
        return "interest", listed
    return "none", []


def _card(c: Card) -> dict[str, Any]:
    return {"id": c.product_id, "title": c.title, "url": c.url, "price": c.price, "amount": c.value or None,
            "currency": c.currency}  # fmt: skip


def propose(
    shop_id: int, shop_name: str, newsletter: Newsletter, r: Recipient, now: datetime, shop_aov: float
) -> Proposal:
    """The recipient's newsletter as a proposal."""
    block, cards = product_block(newsletter, r)
    earliest = send_time(now, best_hour(r.hours), r.time_zone)
    data: dict[str, Any] = {
        "copy": "newsletter",
        "shop_name": shop_name,
        "first_name": r.first_name or "",
        "subject_template": newsletter.subject,
        "body": newsletter.body,
        "block": block,
        "interest": r.interest if block == "interest" else None,
        "products": [_card(c) for c in cards],
        "campaign": newsletter.campaign_id,
    }
    if cards:
        data["cta_url"] = cards[0].url
    why = {
        "recommended": f"{len(cards)} product(s) from their own recommendations",
        "interest": f"{len(cards)} {r.interest} item(s) they do not own yet",
        "none": "no personal products (none in stock)",
    }[block]
    value = NEWSLETTER_UPLIFT * (r.average_order_value or shop_aov)
    return Proposal(
        agent=agent_name(newsletter.campaign_id),
        shop_id=shop_id,
        shopper=r.shopper,
        purpose=Purpose.MARKETING,
        content=Content("message", data),
        channels=("email",),
        earliest=earliest,
        latest=earliest + SEND_WINDOW,
        dedupe_key=dedupe_key(newsletter.campaign_id),
        reason=f"Newsletter {newsletter.campaign_id}: {why}; sent at their usual hour"[:280],
        expected_value=round(value, 4),
        product_ids=tuple(c.product_id for c in cards),
        proposed_at=now,
        features={"stage": r.stage, "block": block},
    )
