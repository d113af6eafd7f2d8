"""Attune's scores as Shopify customer metafields (key, Shopify type, value as Shopify's string form), so
merchants can use them in Shopify segments, Shopify Email and Messaging.

- ``intent``: the purchase-intent score, 0-1 (``number_decimal``);
- ``churn_risk``: the probability the customer has stopped buying, 0-1 (``number_decimal``);
- ``predicted_next_order``: last purchase plus the customer's typical gap (``date``), for repeat buyers;
- ``segment``: the RFM segment's name (``single_line_text_field``).

A score the profile does not have is left out (never written as an empty value).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class ScoreDefinition:
    """The Shopify metafield definition of one score: what merchants see in the admin and in segments."""

    key: str
    type: str
    name: str
    description: str


# Segments filter on customer metafields with a definition of type date, number, text or true/false.
DEFINITIONS: tuple[ScoreDefinition, ...] = (
    ScoreDefinition(
        "intent",
        "number_decimal",
        "Attune purchase intent",
        "How likely the customer is to buy soon, from 0 to 1, from their recent browsing (Attune).",
    ),
    ScoreDefinition(
        "churn_risk",
        "number_decimal",
        "Attune churn risk",
        "The probability, from 0 to 1, that the customer has stopped buying (Attune).",
    ),
    ScoreDefinition(
        "predicted_next_order",
        "date",
        "Attune predicted next order",
        "When a repeat customer is expected to order next: last purchase plus their usual gap (Attune).",
    ),
    ScoreDefinition(
        "segment",
        "single_line_text_field",
        "Attune segment",
        "The customer's RFM segment, such as Champions or At risk (Attune).",
    ),
    ScoreDefinition(
        "next_replenishment_due",
        "date",
        "Attune next replenishment due",
        "When the customer is expected to run out of the product they reorder most regularly (Attune).",
    ),
)


@dataclass(frozen=True)
class ScoreField:
    key: str
    type: str
    value: str


def _decimal(value: Any) -> str | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return f"{min(max(number, 0.0), 1.0):.4f}"


def _signal(derived: dict[str, Any], score: str, name: str) -> float | None:
    for signal in (derived.get(score) or {}).get("signals") or []:
        if isinstance(signal, dict) and signal.get("name") == name:
            try:
                return float(signal["value"]) if signal.get("value") is not None else None
            except (TypeError, ValueError):
                return None
    return None


def predicted_next_order(derived: dict[str, Any], now: datetime) -> str | None:
    """The date of the next order: the last purchase plus the typical gap (None for a one-time buyer)."""
    weeks_since = _signal(derived, "churn_risk", "weeks_since_last_purchase")
    gap = _signal(derived, "churn_risk", "typical_gap_weeks")
    if weeks_since is None or not gap or gap <= 0:
        return None
    try:
        at = datetime.fromisoformat(str(derived.get("computed_at"))) if derived.get("computed_at") else now
    except ValueError:
        at = now
    return (at - timedelta(weeks=weeks_since) + timedelta(weeks=gap)).date().isoformat()


def score_fields(
    intent: Any, churn_risk: Any, segment: str | None, derived: dict[str, Any] | None, now: datetime
) -> list[ScoreField]:
    """The metafields for one customer's profile."""
    out: list[ScoreField] = []
    if (value := _decimal(intent)) is not None:
        out.append(ScoreField("intent", "number_decimal", value))
    if (value := _decimal(churn_risk)) is not None:
        out.append(ScoreField("churn_risk", "number_decimal", value))
    if (value := predicted_next_order(derived or {}, now)) is not None:
        out.append(ScoreField("predicted_next_order", "date", value))
    if segment and segment.strip():
        out.append(ScoreField("segment", "single_line_text_field", " ".join(segment.split())[:255]))
    return out
