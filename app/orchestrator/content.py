"""What an agent's message shows, shared by every agent (agents do not import each other)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Card:
    """What a message shows of a product."""

    product_id: int
    title: str
    url: str
    price: str | None
    value: float = 0.0  # the price as a number (0 when unknown)
    available: bool = True
    currency: str | None = (
        None  # the price's ISO 4217 code, for the message to write it in the shopper's locale
    )
