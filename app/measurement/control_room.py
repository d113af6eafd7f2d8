"""The control room's success table: shoppers under the agents against the global holdout, one row per metric of
the seed's table, each with an always-valid interval (``app.measurement.sequential``), CUPED on pre-period spend,
a sample-ratio check, and the seed's "traditional" and "with AI agents" ranges as labelled references.

The unit is a known customer of the shop; the arm is the global-holdout draw (``treated`` = not in it), fixed
before anything is measured. Customers enter in the order they first appeared, so the running interval is the one
a merchant looking every day would have seen. Each metric has its own eligible customers:

- conversion rate: every customer; bought at least once in the period;
- abandoned-cart recovery: customers with an abandoned checkout in the period; bought within 7 days after it;
- cross-sell rate: customers who bought in the period; share of their orders with a recommended item new to them;
- repeat purchase rate: customers who had bought before the period; bought again in it;
- support deflection: customers who asked the storefront assistant; share of their questions not passed to a
  person (a held-out customer's question goes to a person, as before the assistant: ``app.stores.support.
  held_out``; so the holdout's value is support without the agent, 0 %, and the difference is what it deflects);
- average order value: customers who bought in the period; their mean order value, net of discounts.

Pure: per-customer facts in, plain dicts out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from app.measurement.sequential import difference_interval, srm_check

MIN_PER_ARM = 20  # below this many customers in an arm, a row shows no interval ("collecting")

# The seed's success table, as far as the issues quote it: each figure with where it was found. The seed's own text
# is not in the repository or ../shared; where no issue quotes a figure the cell is "—" and says so, rather than a
# range nobody can source (earlier placeholders: conversion 2–3 % / 4–6 %, cross-sell 5–10 % / 15–25 %, repeat
# 20–30 % traditional, AOV +10–30 %; the pricing issue quotes AOV +15–25 %).
NOT_QUOTED = "—"
REFERENCES: dict[str, dict[str, str]] = {
    "conversion_rate": {"traditional": NOT_QUOTED, "with_agents": NOT_QUOTED,
                        "source": "no figure quoted in the issues"},
    "cart_recovery": {"traditional": "3–5 % (attributed e-mail)", "with_agents": "15–20 % (vendor claim)",
                      "source": "issue 16: the market's attributed recovery and the figure claimed for AI agents"},
    "cross_sell_rate": {"traditional": NOT_QUOTED, "with_agents": NOT_QUOTED,
                        "source": "no figure quoted in the issues"},
    "repeat_purchase_rate": {"traditional": NOT_QUOTED, "with_agents": "30–45 %",
                             "source": "issue 17: the seed's target repeat purchase rate"},
    "support_deflection": {"traditional": "20–30 %", "with_agents": "50–60 %",
                           "source": "issue 18: the seed's traditional and with-agents ranges"},
    "average_order_value": {"traditional": NOT_QUOTED, "with_agents": "+15–25 %",
                            "source": "issue 20: the seed's \"AOV +15–25 %\""},
}  # fmt: skip
METRICS = tuple(REFERENCES)
RATE = {m: m != "average_order_value" for m in METRICS}


@dataclass(frozen=True)
class CustomerFacts:
    """One customer's period, as ``app.stores.control_room`` loads it."""

    customer: str
    treated: bool  # not in the global holdout
    first_seen: datetime
    pre_spend: float  # net order value in the pre-period (CUPED's covariate)
    bought_before: bool  # an order before the period
    order_values: tuple[float, ...] = ()  # each order's value in the period, net of discounts and refunds
    discounts: float = 0.0  # discounts on those orders
    cross_sell_orders: int = 0  # orders with a recommended item new to the customer
    abandoned: bool = False  # an abandoned checkout in the period
    recovered: bool = False  # an order within 7 days after it
    questions: int = 0  # questions asked of the storefront assistant
    escalated: int = 0  # of which passed to a person


def _outcome(metric: str, c: CustomerFacts) -> float | None:
    """The customer's value for ``metric``, or None when the customer is not eligible for it."""
    n = len(c.order_values)
    if metric == "conversion_rate":
        return float(n > 0)
    if metric == "cart_recovery":
        return float(c.recovered) if c.abandoned else None
    if metric == "cross_sell_rate":
        return c.cross_sell_orders / n if n else None
    if metric == "repeat_purchase_rate":
        return float(n > 0) if c.bought_before else None
    if metric == "support_deflection":
        return 1 - c.escalated / c.questions if c.questions else None
    if metric == "average_order_value":
        return sum(c.order_values) / n if n else None
    raise ValueError(f"unknown metric {metric!r}")


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _row(metric: str, facts: Sequence[CustomerFacts], treated_share: float) -> dict[str, Any]:
    eligible = [(c, v) for c in facts if (v := _outcome(metric, c)) is not None]
    y = np.array([v for _, v in eligible], dtype=float)
    z = np.array([c.treated for c, _ in eligible], dtype=bool)
    x = np.array([c.pre_spend for c, _ in eligible], dtype=float)
    treated, held = y[z] if len(y) else y, y[~z] if len(y) else y
    interval = None
    if len(treated) >= MIN_PER_ARM and len(held) >= MIN_PER_ARM and 0 < treated_share < 1:
        interval = difference_interval(y, z, treated_share, x)
    return {
        "metric": metric,
        "rate": RATE[metric],
        "treated": {"customers": int(z.sum()), "value": _mean(treated)},
        "holdout": {"customers": int((~z).sum()), "value": _mean(held)},
        "difference": interval.as_dict() if interval else None,
        "significant": bool(interval and (interval.low > 0 or interval.high < 0)),
        "references": REFERENCES[metric],
    }


def success_table(
    facts: Sequence[CustomerFacts], treated_share: float, *, now: datetime | None = None
) -> dict[str, Any]:
    """Every row, the incremental revenue net of discounts, and the sample-ratio check of the whole population."""
    facts = sorted(facts, key=lambda c: (c.first_seen, c.customer))
    rows = [_row(m, facts, treated_share) for m in METRICS]
    n_treated = sum(c.treated for c in facts)
    srm = srm_check(n_treated, len(facts) - n_treated, treated_share)
    return {
        "treated_share": treated_share,
        "rows": rows,
        "revenue": incremental_revenue(facts, treated_share),
        "sample_ratio": srm.as_dict(),
        "warnings": (
            [
                f"sample-ratio mismatch: {srm.treated} treated and {srm.holdout} held out where "
                f"{treated_share:.0%} treated was designed (p = {srm.p_value:.2g}); check the holdout before "
                "trusting the table"
            ]
            if srm.mismatch
            else []
        ),
        "measured_at": now.isoformat() if now else None,
    }


def _revenue(c: CustomerFacts) -> float:
    return float(sum(c.order_values))


def incremental_revenue(
    facts: Sequence[CustomerFacts], treated_share: float, value: Callable[[CustomerFacts], float] = _revenue
) -> dict[str, Any]:
    """Revenue per customer (net of discounts and refunds) treated − held out, with its always-valid interval,
    scaled to the treated customers: what the agents added, never the revenue they were near."""
    facts = sorted(facts, key=lambda c: (c.first_seen, c.customer))
    y = np.array([value(c) for c in facts], dtype=float)
    z = np.array([c.treated for c in facts], dtype=bool)
    x = np.array([c.pre_spend for c in facts], dtype=float)
    n_treated = int(z.sum())
    per = None
    if n_treated >= MIN_PER_ARM and len(facts) - n_treated >= MIN_PER_ARM and 0 < treated_share < 1:
        per = difference_interval(y, z, treated_share, x)
    return {
        "per_customer": per.as_dict() if per else None,
        "total": (
            {k: v * n_treated for k, v in per.as_dict().items()} if per else None
        ),  # × the treated customers
        "discounts": round(sum(c.discounts for c in facts if c.treated), 2),
        "treated_customers": n_treated,
        "net_of_discounts": True,
    }
