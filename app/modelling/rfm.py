"""RFM segments with readable names: recency and frequency quintiles within the shop, plus monetary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.modelling.explain import Explanation, Signal


@dataclass(frozen=True)
class RfmInput:
    customer_id: str
    days_since_last_order: float
    orders: int
    spend: float


@dataclass(frozen=True)
class RfmSegment:
    customer_id: str
    r: int  # 1..5, 5 = most recent
    f: int
    m: int
    segment: str
    explanation: Explanation


def _segment(r: int, f: int) -> str:
    """The common RF grid (recency rows × frequency columns)."""
    if r >= 4 and f >= 4:
        return "Champions"
    if r >= 3 and f >= 4:
        return "Loyal customers"
    if r >= 4 and f >= 2:
        return "Potential loyalists"
    if r == 5 and f == 1:
        return "New customers"
    if r == 4 and f == 1:
        return "Promising"
    if r == 3 and f == 3:
        return "Need attention"
    if r == 3 and f <= 2:
        return "About to sleep"
    if r <= 2 and f >= 5:
        return "Can't lose them"
    if r <= 2 and f >= 3:
        return "At risk"
    if r == 2:
        return "Hibernating"
    return "Lost"


def _quintile(values: np.ndarray) -> np.ndarray:
    """1..5 by rank within the shop (ties share the average rank)."""
    if len(values) == 1:
        return np.array([3])
    order = values.argsort(kind="stable").argsort(kind="stable")
    ranks = np.empty(len(values))
    for v in np.unique(values):
        mask = values == v
        ranks[mask] = order[mask].mean()
    return (1 + np.floor(ranks / len(values) * 5)).clip(1, 5).astype(int)


def segment_customers(customers: list[RfmInput]) -> list[RfmSegment]:
    if not customers:
        return []
    r = _quintile(-np.array([c.days_since_last_order for c in customers], dtype=float))
    f = _quintile(np.array([c.orders for c in customers], dtype=float))
    m = _quintile(np.array([c.spend for c in customers], dtype=float))
    out = []
    for i, c in enumerate(customers):
        name = _segment(int(r[i]), int(f[i]))
        signals = [
            Signal(
                "recency",
                c.days_since_last_order,
                float(r[i] - 3),
                f"last order {c.days_since_last_order:.0f} days ago (R{r[i]})",
            ),
            Signal("frequency", c.orders, float(f[i] - 3), f"{c.orders} orders (F{f[i]})"),
            Signal("monetary", round(c.spend, 2), float(m[i] - 3) / 2, f"spent {c.spend:.2f} (M{m[i]})"),
        ]
        out.append(
            RfmSegment(
                c.customer_id,
                int(r[i]),
                int(f[i]),
                int(m[i]),
                name,
                Explanation.build("rfm_segment", name, signals, summary=f"{name}: R{r[i]} F{f[i]} M{m[i]}"),
            )
        )
    return out
