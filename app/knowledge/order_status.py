"""What the support agent may say about one order, and to whom. Pure.

- **Who**: the signed-in customer (Shopify's signed ``logged_in_customer_id``) about their latest order, or an
  anonymous shopper who gives an order number *and* that order's e-mail in the question (``order_reference``).
  A number with the wrong e-mail gets the same answer as a number that does not exist: nothing, not even
  whether the order exists.
- **What**: the order's state, each shipment's carrier, tracking number and tracking link, the order status
  page, and the expected delivery from the shop's shipping policy (``delivery_promise``). Nothing else: no
  items, amounts or addresses.
- **Late**: a shipment not delivered after the policy's longest promise (counted from when it shipped), or an
  order not shipped after it, is acknowledged as late, with an apology, and handed to a person.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_RANGE = re.compile(r"(\d{1,2})\s*(?:-|–|—|to)\s*(\d{1,2})\s*(business|working)?\s*days?", re.IGNORECASE)
_WITHIN = re.compile(r"\b(?:within|in)\s+(\d{1,2})\s*(business|working)?\s*days?", re.IGNORECASE)
_NUMBER = re.compile(r"(?:#\s?|\border\s*(?:no\.?|number|num\.?|#)?\s*)(\d{3,12})\b", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}")


@dataclass(frozen=True)
class Shipment:
    company: str | None
    number: str | None
    url: str | None
    status: str | None  # success | cancelled | …
    shipment_status: str | None  # delivered | in_transit | …
    shipped_at: datetime | None


def order_reference(question: str) -> tuple[str, str] | None:
    """(order number, e-mail) when the question gives both ("order #1042, jo@example.com"), else None."""
    number, email = _NUMBER.search(question), _EMAIL.search(question)
    if number is None or email is None:
        return None
    return number.group(1), email.group(0).lower()


def _calendar(days: int, business: bool) -> int:
    return math.ceil(days * 7 / 5) if business else days


def delivery_promise(policy: str | None) -> tuple[int, int] | None:
    """The shipping policy's delivery time in calendar days (low, high): "3–5 business days" → (5, 7),
    "within 10 days" → (10, 10); None when it states none."""
    if not policy:
        return None
    found = _RANGE.search(policy)
    if found:
        business = bool(found.group(3))
        low, high = sorted((int(found.group(1)), int(found.group(2))))
        return _calendar(low, business), _calendar(high, business)
    found = _WITHIN.search(policy)
    if found:
        days = _calendar(int(found.group(1)), bool(found.group(2)))
        return days, days
    return None


def _shipment_line(s: Shipment) -> str:
    parts = []
    if s.company:
        parts.append(f"with {s.company}")
    if s.number:
        parts.append(f"tracking number {s.number}")
    where = f" ({', '.join(parts)})" if parts else ""
    track = f" Track it here: {s.url}" if s.url else ""
    state = "was delivered" if (s.shipment_status or "").lower() == "delivered" else "is on its way"
    return f"A parcel {state}{where}.{track}"


def late(
    placed_at: datetime | None,
    shipments: tuple[Shipment, ...],
    promise: tuple[int, int] | None,
    now: datetime,
) -> bool:
    """Whether the order runs late against the policy's longest promise (see the module's docstring)."""
    if promise is None:
        return False
    live = [s for s in shipments if (s.status or "success").lower() not in ("cancelled", "error", "failure")]
    if not live:
        return placed_at is not None and now > placed_at + timedelta(days=promise[1])
    waiting = [s for s in live if (s.shipment_status or "").lower() != "delivered"]
    return any(s.shipped_at is not None and now > s.shipped_at + timedelta(days=promise[1]) for s in waiting)


def tracking_text(
    shipments: tuple[Shipment, ...], status_url: str | None, promise: tuple[int, int] | None
) -> str:
    """The shipments' lines, the expected delivery and the status page, as sentences."""
    lines = [_shipment_line(s) for s in shipments if (s.status or "success").lower() == "success"]
    if promise and not all((s.shipment_status or "").lower() == "delivered" for s in shipments):
        low, high = promise
        span = f"{low} days" if low == high else f"{low}–{high} days"
        lines.append(f"The shop's shipping policy says delivery takes {span}.")
    if status_url:
        lines.append(f"Your order status page: {status_url}")
    return " ".join(lines)


LATE_TEXT = (
    "I'm sorry: your order is taking longer than the shop's shipping policy promises. I've passed it to the shop, "
    "and a person will look into it and reply."
)
NOT_FOUND = (
    "I couldn't find an order with that number and e-mail. Check both (the e-mail is the one the order was "
    "placed with) and ask again, or sign in."
)
