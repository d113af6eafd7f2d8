"""Back in stock (issue 19, the inventory agent's message to shoppers): a shopper who asked to be told when a
sold-out variant returns is told, once, when it does. Pure: the rules, facts in and ``Proposal``s out; the job
(``app.jobs.back_in_stock``) loads the facts, the orchestrator decides and the outbox sends.

The rules:
- **who asks**: a request is per shop, variant, channel and address (asking twice is one request). It is the
  shopper's consent for that one message on that channel (``Proposal.requested``), nothing more;
- **when**: a variant with waiting requests and units available (> 0, re-read before every batch: each job run
  is one batch) gets a batch; at 0 or below (sold out again) nobody more is told and the rest keep waiting for
  the next restock;
- **how many**: ``batch_size``: ``PER_UNIT`` shopper per unit available, less the shoppers told in the last
  ``HOLD`` who have not bought yet (their unit is still theirs to claim), at most ``MAX_BATCH`` a run. A shopper
  held out (the agent's or the global holdout) takes a place like a treated one (intention to treat: the arms
  are allocated alike), so a held-out shopper never frees a unit for someone else;
- **in what order**: first asked, first told (``requested_at``, then the request's id);
- **what the orchestrator may still refuse**: quiet hours defer it (it still holds its place), the contact
  budget or a switched-off card suppress it: the place goes to the next in line in the same run, and the
  refused request waits for the next batch, up to ``MAX_SUPPRESSIONS`` refusals;
- **sold out again before a deferred message went**: a message quiet hours deferred that is still unsent when
  the variant is at 0 again is recalled (cancelled) and its request goes back in line, in its old place;
- **expiry**: a request not met within ``REQUEST_LIFE`` expires; a message not sent within ``SEND_WINDOW`` is
  dropped (it would announce stock that may be gone);
- **conversion**: the shopper ordered the variant within ``ATTRIBUTION`` of the message (the admin's rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.orchestrator.proposal import Content, Proposal, Purpose, Shopper

AGENT = "back_in_stock"
PER_UNIT = 1
MAX_BATCH = 50
HOLD = timedelta(hours=24)
REQUEST_LIFE = timedelta(days=90)
SEND_WINDOW = timedelta(hours=24)
ATTRIBUTION = timedelta(days=7)
MAX_SUPPRESSIONS = 3


def batch_size(
    available: int | None, outstanding: int, per_unit: int = PER_UNIT, cap: int = MAX_BATCH
) -> int:
    """How many waiting shoppers to tell now: ``per_unit`` per unit ``available`` (None: untracked, never sold
    out, so nobody waits for it: 0), less the ``outstanding`` shoppers told within ``HOLD`` who have not bought,
    between 0 and ``cap``."""
    if available is None or available <= 0:
        return 0
    return max(0, min(cap, available * per_unit - max(outstanding, 0)))


@dataclass(frozen=True)
class Waiting:
    """One waiting request, as the rules see it."""

    request_id: int
    shopper: Shopper
    channel: str  # email | sms | push
    address: (
        str | None
    )  # the e-mail or phone the shopper gave (push: None, their subscription is the address)
    requested_at: datetime
    round_no: int = 0  # a request put back in line (its deferred message recalled) is proposed afresh


def in_line(waiting: Sequence[Waiting]) -> list[Waiting]:
    """First asked, first told."""
    return sorted(waiting, key=lambda w: (w.requested_at, w.request_id))


@dataclass(frozen=True)
class Restocked:
    """The variant that is back, as the message shows it."""

    shop_id: int
    shop_name: str
    product_id: int
    variant_id: int
    title: str  # the product's title, with the variant's when it has one
    url: str  # the product page with the variant selected
    price: float = 0.0


def dedupe_key(w: Waiting) -> str:
    """One message per request and round (a request asked again after it was told, or put back in line when its
    deferred message was recalled, is a new round)."""
    return f"back-in-stock:{w.request_id}:{int(w.requested_at.timestamp())}:{w.round_no}"


def request_id_of(key: str) -> int | None:
    """The request a dedupe key of this agent names (None for any other key)."""
    parts = key.split(":")
    return int(parts[1]) if len(parts) == 4 and parts[0] == "back-in-stock" and parts[1].isdigit() else None


def propose(variant: Restocked, waiting: Sequence[Waiting], now: datetime) -> list[Proposal]:
    """One proposal per waiting request, in line order: marketing on the channel the shopper asked on, their
    request its consent; ranked in the contact budget by the variant's price (the sale it makes possible)."""
    out = []
    for w in in_line(waiting):
        requested = {w.channel: w.address} if w.address else {}
        data = {
            "copy": "back_in_stock",
            "product_title": variant.title,
            "shop_name": variant.shop_name,
            "cta_url": variant.url,
        }
        out.append(
            Proposal(
                agent=AGENT,
                shop_id=variant.shop_id,
                shopper=w.shopper,
                purpose=Purpose.MARKETING,
                content=Content("message", data),
                channels=(w.channel,),
                earliest=now,
                latest=now + SEND_WINDOW,
                dedupe_key=dedupe_key(w),
                reason=f"asked to be told when {variant.title[:180]} is back in stock; it is",
                expected_value=float(variant.price),
                product_ids=(variant.product_id,),
                proposed_at=now,
                features={"waited_days": round((now - w.requested_at).total_seconds() / 86400, 2)},
                requested=requested,
            )
        )
    return out
