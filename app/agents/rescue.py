"""Checkout rescue, after the session: an abandoned checkout gets a recovery sequence of at most three
messages, each stopped by a purchase. Pure: facts in, ``Proposal``s out; the orchestrator decides (holdout,
consent, quiet hours, the one contact budget) and the outbox sends.

Rules:
- a checkout is **abandoned** when it names a known customer, has items, was not completed, not deleted, and
  neither it nor anything since was ordered for ``ABANDONED_AFTER`` after its last update (the job also skips
  a checkout whose token or cart token an order carries);
- the **first delay** after the last update is drawn among ``DELAYS`` (1 h, 24 h, 72 h) from a stable hash of
  shop and checkout token, so a retry draws the same arm and each shop learns its best timing; the arm travels
  on the decision's features (``delay_h``) for held-out checkouts too, so every arm has its own holdout;
- the follow-ups come ``FOLLOW_UPS`` after the first; each message is ``cancel_on_purchase`` (the orchestrator
  and the relay both re-check), and its dedupe key ``rescue:<checkout token>:<step>`` makes it unique per
  shopper: a second run or a retried job proposes nothing new (the store also skips a checkout whose sequence
  was decided, whatever the decision: a sequence suppressed for lack of consent is not re-proposed every run);
- **stock**: a checkout with a sold-out variant in it is not proposed (its link would restore a cart that cannot
  be bought) until that variant is back; the orchestrator and the relay also stop a message about a sold-out
  product;
- the link restores the cart: Shopify's ``abandoned_checkout_url`` (the recovery URL) when the checkout has
  one, else a cart permalink ``https://<shop>/cart/<variant>:<qty>,…``;
- channels in order of preference; the orchestrator takes the first the shopper has consented to;
- three **sources** (``source``): a known customer's checkout; a **guest** checkout (an e-mail address or a
  phone number, no account: the shopper is ``client:guest:<hash>``, by e-mail when the guest ticked the
  checkout's e-mail box, else by SMS when they ticked its SMS box with a valid number, ``app.stores.guests``); and a known customer's **cart** that never reached checkout (from the
  pixel's cart events: the link is the cart permalink). Every source goes through the same sequence, holdout
  and orchestrator; ``source`` travels on the decision's features.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper

AGENT = "rescue"
ABANDONED_AFTER = timedelta(hours=1)
DELAYS = (timedelta(hours=1), timedelta(hours=24), timedelta(hours=72))
FOLLOW_UPS = (timedelta(0), timedelta(days=1), timedelta(days=3))  # after the first message
MAX_MESSAGES = len(FOLLOW_UPS)
SEND_WINDOW = timedelta(hours=24)
CHANNELS = ("email", "sms", "push", "onsite")
# Incremental recovery of one sequence before the shop has its own estimate: the low end of the market's
# 3-5 % attributed recovery (attributed overstates incremental, so the low end).
UPLIFT_PRIOR = 0.03
MAX_LINES = 10
SOURCE_TEXT = {"checkout": "Checkout", "guest": "Guest checkout", "cart": "Cart (no checkout started)"}


@dataclass(frozen=True)
class Line:
    product_id: int | None
    variant_id: int | None
    quantity: int
    title: str
    price: str | None = None


@dataclass(frozen=True)
class AbandonedCheckout:
    """One checkout as the agent needs it (times timezone-aware)."""

    token: str
    shopper: Shopper
    updated_at: datetime
    lines: Sequence[Line]
    total: float = 0.0
    currency: str | None = None
    recovery_url: str | None = None
    completed: bool = False
    ordered: bool = False  # an order carries its token or cart token
    features: dict[str, float | str | None] = field(default_factory=dict)
    source: str = (
        "checkout"  # checkout (a customer's) | guest (a guest checkout) | cart (no checkout started)
    )
    channels: tuple[str, ...] = CHANNELS


def step_key(token: str, step: int) -> str:
    """The dedupe key of message ``step`` of a checkout's sequence (unique per shopper in the outbox)."""
    return f"rescue:{token[:100]}:{step}"


def first_key(token: str) -> str:
    return step_key(token, 1)


def delay_arm(shop_id: int, token: str) -> int:
    """Index into ``DELAYS``: uniform, stable per shop and checkout."""
    digest = hashlib.sha256(f"{shop_id}:rescue-delay:{token}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % len(DELAYS)


def is_abandoned(checkout: AbandonedCheckout, now: datetime) -> bool:
    return (
        not checkout.completed
        and not checkout.ordered
        and any(ln.quantity > 0 for ln in checkout.lines)
        and now - checkout.updated_at >= ABANDONED_AFTER
    )


def cart_permalink(domain: str, lines: Sequence[Line]) -> str | None:
    """``https://<domain>/cart/<variant>:<qty>,…`` (Shopify's cart permalink), or None without variants."""
    parts = [f"{ln.variant_id}:{ln.quantity}" for ln in lines if ln.variant_id and ln.quantity > 0]
    return f"https://{domain}/cart/{quote(','.join(parts), safe=':,')}" if parts and domain else None


def restore_link(checkout: AbandonedCheckout, domain: str) -> str | None:
    return checkout.recovery_url or cart_permalink(domain, checkout.lines)


def _content(checkout: AbandonedCheckout, shop_name: str, link: str, step: int) -> Content:
    """The message's facts; its words are written in the shopper's language by ``app.channels.copy``
    (``checkout_rescue``)."""
    items = [ln for ln in checkout.lines if ln.quantity > 0][:MAX_LINES]
    data = {
        "copy": "checkout_rescue",
        "step": step,
        "first_item": items[0].title,
        "more": len(items) - 1,
        "shop_name": shop_name,
        "products": [
            {"id": None, "title": f"{ln.quantity} × {ln.title}", "url": link, "price": ln.price}
            for ln in items
        ],
        "cta_url": link,
    }
    return Content("message", data)


def propose(
    shop_id: int,
    shop_name: str,
    domain: str,
    checkout: AbandonedCheckout,
    now: datetime,
    uplift: float = UPLIFT_PRIOR,
    sold_out: frozenset[int] = frozenset(),
) -> list[Proposal]:
    """The recovery sequence for ``checkout`` (empty when it is not abandoned, has no link to restore, or a line's
    variant is in ``sold_out``: the link would restore a cart that cannot be bought, so it waits for a restock)."""
    if not is_abandoned(checkout, now):
        return []
    if any(ln.variant_id in sold_out for ln in checkout.lines if ln.quantity > 0):
        return []
    link = restore_link(checkout, domain)
    if link is None:
        return []
    arm = delay_arm(shop_id, checkout.token)
    delay = DELAYS[arm]
    first = max(now, checkout.updated_at + delay)
    hours = int(delay.total_seconds() // 3600)
    features = {
        **checkout.features,
        "delay_h": hours,
        "checkout_token": checkout.token[:64],
        "cart_value": round(checkout.total, 2),
        "source": checkout.source,
    }
    what = SOURCE_TEXT.get(checkout.source, "Checkout")
    link_kind = "recovery URL" if checkout.recovery_url else "cart permalink"
    out = []
    for step, offset in enumerate(FOLLOW_UPS, start=1):
        earliest = first + offset
        out.append(
            Proposal(
                agent=AGENT,
                shop_id=shop_id,
                shopper=checkout.shopper,
                purpose=Purpose.MARKETING,
                content=_content(checkout, shop_name, link, step),
                channels=checkout.channels,
                earliest=earliest,
                latest=earliest + SEND_WINDOW,
                dedupe_key=step_key(checkout.token, step),
                reason=(
                    f"{what} abandoned with {len(checkout.lines)} item(s) worth {checkout.total:.2f}; "
                    f"message {step} of {MAX_MESSAGES}, first after {hours} h (randomised), {link_kind}"
                ),
                expected_value=round(uplift * checkout.total / MAX_MESSAGES, 4),
                product_ids=tuple(sorted({ln.product_id for ln in checkout.lines if ln.product_id})),
                cancel_on_purchase=True,
                proposed_at=now,
                features={**features, "step": step},
            )
        )
    return out
