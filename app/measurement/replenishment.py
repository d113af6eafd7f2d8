"""The replenishment agent's proof (issue 17): repeat purchase and replenishment rates, treated vs holdout.

Input is plain data: each shopper's **first** replenishment decision (``Reminder``: its arm, when, the product it
was about and that product's due date; intention to treat, as in ``app.measurement.lift``) and their purchases
of products. Per group:

- the **repeat purchase rate** within 30, 60 and 90 days: the share of shoppers who bought the reminded product
  again within that many days of the decision;
- the **replenishment rate**: the share who bought it by 14 days after its due date;

each with the treated-minus-holdout difference and its 95 % Newcombe interval. Shoppers whose window is still open
count (both arms are cut short alike); ``open_windows`` says how many. The seed's figures are returned beside them
as labelled references, never as results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.measurement.stats import newcombe_difference

WINDOWS = (30, 60, 90)
REPLENISHED_WITHIN = timedelta(days=14)  # after the due date
REFERENCES = {
    "repeat_purchase_rate": "seed's target: 30–45 % repeat purchase (a reference, not a measurement)",
    "replenishment_rate": "seed's claim: '40 % higher replenishment rates' (a reference, not a measurement)",
}


@dataclass(frozen=True)
class Reminder:
    shopper: int
    holdout: bool
    at: datetime
    product_id: int
    due_at: datetime


def _first(reminders: Iterable[Reminder]) -> list[Reminder]:
    first: dict[int, Reminder] = {}
    for r in sorted(reminders, key=lambda r: (r.at, r.product_id)):
        first.setdefault(r.shopper, r)
    return list(first.values())


def _rate(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def _compare(rows: Sequence[tuple[Reminder, bool]]) -> dict[str, Any]:
    t = [hit for r, hit in rows if not r.holdout]
    h = [hit for r, hit in rows if r.holdout]
    diff = newcombe_difference(sum(t), len(t), sum(h), len(h))
    return {
        "treatment": {"shoppers": len(t), "rate": _rate(sum(t), len(t))},
        "holdout": {"shoppers": len(h), "rate": _rate(sum(h), len(h))},
        "difference": None
        if diff is None
        else {"estimate": round(diff.estimate, 4), "low": round(diff.low, 4), "high": round(diff.high, 4)},
    }


def readout(
    reminders: Iterable[Reminder], purchases: Mapping[int, Sequence[tuple[datetime, int]]], now: datetime
) -> dict[str, Any]:
    """The rates per arm with the incremental difference; ``purchases``: shopper → (when, product) bought."""
    first = _first(reminders)

    def bought(r: Reminder, until: datetime) -> bool:
        return any(r.at < at <= until and pid == r.product_id for at, pid in purchases.get(r.shopper, ()))

    out: dict[str, Any] = {"shoppers": len(first), "references": REFERENCES}
    for days in WINDOWS:
        span = timedelta(days=days)
        out[f"repeat_purchase_{days}d"] = {
            **_compare([(r, bought(r, r.at + span)) for r in first]),
            "open_windows": sum(r.at + span > now for r in first),
        }
    out["replenishment"] = {
        **_compare([(r, bought(r, max(r.due_at, r.at) + REPLENISHED_WITHIN)) for r in first]),
        "open_windows": sum(max(r.due_at, r.at) + REPLENISHED_WITHIN > now for r in first),
    }
    return out
