"""A seeded shop for the control room's tests: customers split by the real global-holdout hash, with orders
before and in the period, abandoned checkouts, support questions and agent decisions, and the figures the
success table must show, computed here from the same rows by plain counting."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.measurement.holdout import GLOBAL, in_global_holdout
from app.models.commerce import Checkout, Customer, Order, OrderLine
from app.models.feedback import SupportMessage
from app.models.messaging import MessageDecision
from app.models.serving import HoldoutPolicy, RecommendationList

GLOBAL_SHARE = 0.2
DAYS = 30


@dataclass
class Seeded:
    shop_id: int
    now: datetime
    treated: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    bought: set[int] = field(default_factory=set)  # an order in the period
    order_values: dict[int, list[float]] = field(default_factory=dict)
    ordered_at: dict[int, datetime] = field(default_factory=dict)  # the order in the period
    product: dict[int, int] = field(default_factory=dict)  # its one product
    bought_before: set[int] = field(default_factory=set)  # an order before the period

    def conversion(self, group: list[int]) -> float:
        return sum(c in self.bought for c in group) / len(group)

    def expected(self, metric: str, group: list[int]) -> float | None:
        """A success-table row's value for ``group``, counted from the seeded rows (None: nobody eligible)."""
        since = self.now - timedelta(days=DAYS)
        checkout = since + timedelta(days=2)
        values = {
            "conversion_rate": [float(c in self.bought) for c in group],
            "cart_recovery": [
                float(c in self.bought and checkout < self.ordered_at[c] <= checkout + timedelta(days=7))
                for c in group
                if c % 9 == 0
            ],
            # product 77 is recommended to everyone and never bought before the period (that is product 5)
            "cross_sell_rate": [float(self.product[c] == 77) for c in group if c in self.bought],
            "repeat_purchase_rate": [float(c in self.bought) for c in group if c in self.bought_before],
            "support_deflection": [float(c % 22 != 0) for c in group if c % 11 == 0],
            "average_order_value": [self.order_values[c][0] for c in group if c in self.bought],
        }[metric]
        return sum(values) / len(values) if values else None

    def aov(self, group: list[int]) -> float:
        means = [sum(v) / len(v) for c, v in self.order_values.items() if c in set(group)]
        return sum(means) / len(means)


def seed_shop(session: Any, shop_id: int, now: datetime, n: int = 400, seed: int = 7) -> Seeded:
    """``n`` customers; treated ones buy in the period with probability 0.35, held-out ones 0.2."""
    rng = random.Random(seed)
    since = now - timedelta(days=DAYS)
    out = Seeded(shop_id, now)
    session.add(HoldoutPolicy(shop_id=shop_id, agent=GLOBAL, share=GLOBAL_SHARE))
    oid = 1000
    for cid in range(1, n + 1):
        treated = not in_global_holdout(shop_id, "customer", str(cid), GLOBAL_SHARE)
        (out.treated if treated else out.held).append(cid)
        session.add(
            Customer(
                shop_id=shop_id, shopify_id=cid, shopify_created_at=since - timedelta(days=60, minutes=cid)
            )
        )
        session.add(
            RecommendationList(
                shop_id=shop_id,
                scope="customer",
                subject=str(cid),
                placement="home",
                strategy="ranker",
                items=[{"product_id": 77}],
            )
        )
        if rng.random() < 0.4:  # a pre-period order
            oid += 1
            session.add(_order(shop_id, oid, cid, since - timedelta(days=10), 40.0))
            out.bought_before.add(cid)
            session.add(
                OrderLine(shop_id=shop_id, shopify_id=oid * 10, order_shopify_id=oid, product_shopify_id=5)
            )
        if rng.random() < (0.35 if treated else 0.2):
            oid += 1
            value = round(rng.uniform(20, 120), 2)
            at = since + timedelta(days=rng.randint(1, DAYS - 2))
            session.add(_order(shop_id, oid, cid, at, value))
            product = 77 if rng.random() < 0.5 else 5
            out.ordered_at[cid], out.product[cid] = at, product
            session.add(
                OrderLine(
                    shop_id=shop_id, shopify_id=oid * 10, order_shopify_id=oid, product_shopify_id=product
                )
            )
            out.bought.add(cid)
            out.order_values.setdefault(cid, []).append(value)
        if cid % 9 == 0:
            session.add(
                Checkout(
                    shop_id=shop_id,
                    token=f"t{cid}",
                    customer_shopify_id=cid,
                    shopify_created_at=since + timedelta(days=2),
                )
            )
        if cid % 11 == 0:
            session.add(
                SupportMessage(
                    shop_id=shop_id,
                    conversation=f"c{cid}",
                    customer_shopify_id=cid,
                    role="shopper",
                    text="Where is my order?",
                    escalated=cid % 22 == 0,
                )
            )
        if cid % 5 == 0:
            session.add(
                MessageDecision(
                    shop_id=shop_id,
                    agent="rescue",
                    shopper_key=f"customer:{cid}",
                    customer_shopify_id=cid,
                    purpose="marketing",
                    action="send" if treated else "hold_out",
                    arm="treatment" if treated else "holdout",
                    channel="email",
                    intended_channel="email",
                    reason="left a checkout",
                    proposal_reason="left a checkout",
                    dedupe_key=f"rescue:{cid}",
                    template="rescue",
                    decided_at=now - timedelta(hours=1 if cid % 2 else 50),
                )
            )
    session.commit()
    return out


def _order(shop_id: int, oid: int, cid: int, at: datetime, value: float) -> Order:
    return Order(
        shop_id=shop_id,
        shopify_id=oid,
        customer_shopify_id=cid,
        processed_at=at,
        total_price=Decimal(str(value)),
        total_discounts=Decimal("2.00"),
        currency="EUR",
    )
