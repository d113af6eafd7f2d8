"""Late orders, before the shopper asks (issue 18, "help before it is asked"): a shipped order that runs late
against the shop's shipping policy gets one transactional update with an apology and its tracking link. Pure:
facts in, ``Proposal``s out; the orchestrator decides (the support agent's holdout; a transactional message
needs no marketing consent and keeps to no budget) and the outbox sends.

Rules:
- late is ``app.knowledge.order_status.late``: a parcel not delivered after the policy's longest promise,
  counted from when it shipped (an order the policy promises nothing for is never late);
- one update per order (dedupe key ``late-order:<order id>``), on the shopper's first reachable channel;
- it says what is known (the order, the carrier, the tracking link, the status page), apologises, and says the
  shop has been told: it never promises a date, a refund or a discount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.knowledge.order_status import Shipment, late
from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper

AGENT = "support"
CHANNELS = ("email", "sms", "push", "onsite")
SEND_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ShippedOrder:
    order_id: int
    name: str
    shopper: Shopper
    placed_at: datetime | None
    shipments: tuple[Shipment, ...]
    status_url: str | None


def propose(
    shop_id: int,
    shop_name: str,
    orders: Sequence[ShippedOrder],
    promise: tuple[int, int] | None,
    now: datetime,
) -> list[Proposal]:
    """One transactional update per late order."""
    out = []
    for o in orders:
        if not o.shipments or not late(o.placed_at, o.shipments, promise, now):
            continue
        track = next((s for s in o.shipments if s.url or s.number), None)
        tracking = ""
        if track is not None:
            carrier = f" with {track.company}" if track.company else ""
            number = f" (tracking number {track.number})" if track.number else ""
            tracking = f"It is on its way{carrier}{number}."
        data = {
            "subject": f"Your order {o.name} is taking longer than expected",
            "heading": f"Your order {o.name} is taking longer than expected",
            "paragraphs": [
                p
                for p in (
                    f"We're sorry: your order {o.name} from {shop_name} is taking longer than our shipping policy "
                    "promises.",
                    tracking,
                    "We've let the shop's team know, and they will follow up if anything is wrong.",
                )
                if p
            ],
            "cta_url": (track.url if track and track.url else None) or o.status_url or "",
            "cta_label": "Track your parcel" if track and track.url else "See your order",
        }
        out.append(
            Proposal(
                agent=AGENT,
                shop_id=shop_id,
                shopper=o.shopper,
                purpose=Purpose.TRANSACTIONAL,
                content=Content("message", data),
                channels=CHANNELS,
                earliest=now,
                latest=now + SEND_WINDOW,
                dedupe_key=f"late-order:{o.order_id}",
                reason=f"order {o.name} is late against the shipping policy ({promise[1] if promise else '?'} days)",
                proposed_at=now,
            )
        )
    return out
