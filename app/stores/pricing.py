"""What the pricing agent reads and writes for one shop: its offer settings, a shopper's offer history and
hesitations, the week's discount spend, the bandit's statistics (the shop's own and, as a prior, the sum over
the installation's other shops: aggregates only), unit costs, redemptions and the 14-day outcome of each
decision. No commits; every query is scoped by shop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.agents.price_suggestions import parse_rules, rules_json
from app.agents.pricing import (
    NONE,
    REWARD_WINDOW,
    OfferArm,
    OfferContext,
    OfferPolicy,
    observation,
    parse_policy,
    policy_json,
)
from app.commerce.values import money, shopify_id, ts
from app.measurement.pricing import OfferFact
from app.modelling.offer_response import ModelStats
from app.models.base import utcnow
from app.models.commerce import Checkout, Order, OrderLine
from app.models.pricing import PricingArmStats, PricingOffer, PricingSettings, VariantCost

STRATEGIC_WINDOW = timedelta(days=7)
ABANDONED_AFTER = timedelta(hours=1)
WEEK = timedelta(days=7)
CONTEXT_FIELDS = ("price_sensitivity", "intent", "clv", "margin_rate", "cart_value")


def _settings(session: Session, shop_id: int) -> PricingSettings | None:
    return session.exec(select(PricingSettings).where(PricingSettings.shop_id == shop_id)).first()


def load_policy(session: Session, shop_id: int) -> OfferPolicy:
    row = _settings(session, shop_id)
    return parse_policy({k: v for k, v in (row.settings if row else {}).items() if k != "prices"})


def save_policy(session: Session, shop_id: int, raw: Mapping[str, Any]) -> OfferPolicy:
    """Checks (``PricingError`` / ``RulesError``) and stores the merchant's settings, merged over what is
    stored: the offer settings, and under ``prices`` the price-change rules."""
    row = _settings(session, shop_id)
    stored = dict(row.settings) if row else {}
    offers = {k: v for k, v in raw.items() if k != "prices"}
    policy = parse_policy({**policy_json(load_policy(session, shop_id)), **offers})
    prices = stored.get("prices")
    if "prices" in raw:
        given = raw["prices"]
        merged = {**rules_json(parse_rules(prices)), **given} if isinstance(given, dict) else given
        prices = rules_json(parse_rules(merged))
    row = row or PricingSettings(shop_id=shop_id)
    row.settings = {**policy_json(policy), **({"prices": prices} if prices is not None else {})}
    row.updated_at = utcnow()
    session.add(row)
    return policy


def hesitations(
    session: Session, shop_id: int, customer_id: int | None, before: datetime | None = None
) -> int:
    """The customer's checkouts never completed (abandonments, the current one included; with ``before``,
    only those started before it)."""
    if customer_id is None:
        return 0
    query = select(func.count()).where(
        Checkout.shop_id == shop_id,
        Checkout.customer_shopify_id == customer_id,
        Checkout.completed_at.is_(None),  # type: ignore[union-attr]
    )
    if before is not None:
        query = query.where(Checkout.shopify_created_at < before)  # type: ignore[operator]
    return int(session.exec(query).one())


def discounted_after_abandonment(session: Session, shop_id: int, customer_id: int | None) -> list[datetime]:
    """When the customer ordered with a discount 1 h to 7 days after starting a checkout (the strategic
    waiter's signature)."""
    if customer_id is None:
        return []
    placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
    orders = session.exec(
        select(placed).where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id == customer_id,
            Order.total_discounts > 0,  # type: ignore[operator]
            Order.test == False,  # noqa: E712
        )
    ).all()
    starts = session.exec(
        select(Checkout.shopify_created_at).where(
            Checkout.shop_id == shop_id, Checkout.customer_shopify_id == customer_id
        )
    ).all()
    return [
        at
        for at in orders
        if at is not None
        and any(s is not None and at - STRATEGIC_WINDOW <= s <= at - ABANDONED_AFTER for s in starts)
    ]


def last_offer_at(session: Session, shop_id: int, shopper_key: str) -> datetime | None:
    return session.exec(
        select(func.max(PricingOffer.decided_at)).where(
            PricingOffer.shop_id == shop_id,
            PricingOffer.shopper_key == shopper_key,
            PricingOffer.status.in_(("pending", "created")),  # type: ignore[attr-defined]
        )
    ).one()


def week_spend(session: Session, shop_id: int, now: datetime) -> float:
    """Discount spent or committed in the last 7 days: redeemed codes at what they took off, live codes at
    what they would; expired unused codes cost nothing."""
    rows = session.exec(
        select(PricingOffer.discount, PricingOffer.redeemed_discount, PricingOffer.expires_at).where(
            PricingOffer.shop_id == shop_id,
            PricingOffer.status.in_(("pending", "created")),  # type: ignore[attr-defined]
            PricingOffer.decided_at >= now - WEEK,
        )
    ).all()
    total = 0.0
    for discount, redeemed, expires in rows:
        if redeemed is not None:
            total += float(redeemed)
        elif expires is None or expires > now:
            total += float(discount or 0)
    return total


MODEL = "joint"  # one response model per shop (the arms share it); the row's ``arm`` column names it


def model_stats(session: Session, shop_id: int) -> tuple[ModelStats, ModelStats]:
    """The shop's own statistics, and the other shops' summed (the pooled prior: aggregates only)."""
    own, pooled = ModelStats(), ModelStats()
    for sid, stats in session.exec(
        select(PricingArmStats.shop_id, PricingArmStats.stats).where(PricingArmStats.arm == MODEL)
    ).all():
        if sid == shop_id:
            own = own.plus(ModelStats.from_json(stats))
        else:
            pooled = pooled.plus(ModelStats.from_json(stats))
    return own, pooled


def add_observation(
    session: Session, shop_id: int, arm: OfferArm, context: OfferContext, bought: bool
) -> None:
    row = session.exec(
        select(PricingArmStats).where(PricingArmStats.shop_id == shop_id, PricingArmStats.arm == MODEL)
    ).first() or PricingArmStats(shop_id=shop_id, arm=MODEL)
    stats = ModelStats.from_json(row.stats)
    stats.add(arm.key, *observation(context, arm, bought))
    row.stats, row.updated_at = stats.to_json(), utcnow()
    session.add(row)


def unit_costs(session: Session, shop_id: int, variant_ids: Iterable[int]) -> dict[int, float]:
    ids = sorted({int(v) for v in variant_ids if v})
    if not ids:
        return {}
    return {
        int(v): float(c)
        for v, c in session.exec(
            select(VariantCost.variant_id, VariantCost.unit_cost).where(
                VariantCost.shop_id == shop_id,
                VariantCost.variant_id.in_(ids),  # type: ignore[attr-defined]
            )
        ).all()
        if c is not None
    }


def save_unit_costs(session: Session, shop_id: int, costs: Mapping[int, Decimal | None]) -> int:
    existing = {
        r.variant_id: r
        for r in session.exec(
            select(VariantCost).where(
                VariantCost.shop_id == shop_id,
                VariantCost.variant_id.in_(sorted(costs)),  # type: ignore[attr-defined]
            )
        ).all()
    }
    for vid, cost in costs.items():
        row = existing.get(vid) or VariantCost(shop_id=shop_id, variant_id=vid)
        row.unit_cost, row.updated_at = cost, utcnow()
        session.add(row)
    return len(costs)


def offer_by_key(session: Session, shop_id: int, key: str) -> PricingOffer | None:
    return session.exec(
        select(PricingOffer).where(PricingOffer.shop_id == shop_id, PricingOffer.key == key)
    ).first()


def record_redemption(session: Session, shop_id: int, order: Mapping[str, Any]) -> int:
    """An order (webhook payload) that used one of Attune's codes marks that offer redeemed."""
    codes = {
        str(d.get("code")).upper(): d
        for d in order.get("discount_codes") or []
        if isinstance(d, dict) and d.get("code")
    }
    if not codes:
        return 0
    found = session.exec(
        select(PricingOffer).where(
            PricingOffer.shop_id == shop_id,
            PricingOffer.code.in_(sorted(codes)),  # type: ignore[union-attr]
            PricingOffer.redeemed_at.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    placed = ts(order.get("processed_at")) or ts(order.get("created_at")) or utcnow()
    for offer in found:
        amount = money(codes[(offer.code or "").upper()].get("amount"))
        offer.redeemed_order_id = shopify_id(order.get("id"))
        offer.redeemed_at = placed
        offer.redeemed_discount = amount if amount is not None else offer.discount
        session.add(offer)
    return len(found)


def _order_margins(
    session: Session, shop_id: int, customer_id: int, start: datetime, end: datetime, cost_share: float
) -> tuple[float, float, int]:
    """Revenue (after discounts) and gross margin (revenue − cost) of the customer's orders in [start, end)."""
    placed = func.coalesce(Order.processed_at, Order.shopify_created_at)
    orders = session.exec(
        select(Order.shopify_id, Order.total_discounts).where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id == customer_id,
            Order.test == False,  # noqa: E712
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            placed >= start,
            placed < end,
        )
    ).all()
    if not orders:
        return 0.0, 0.0, 0
    ids = [oid for oid, _ in orders]
    lines = session.exec(
        select(OrderLine.variant_shopify_id, OrderLine.quantity, OrderLine.price).where(
            OrderLine.shop_id == shop_id,
            OrderLine.order_shopify_id.in_(ids),  # type: ignore[attr-defined]
        )
    ).all()
    costs = unit_costs(session, shop_id, [v for v, _, _ in lines if v])
    gross = sum(float(p or 0) * q for _, q, p in lines)
    cost = sum(q * costs.get(v or 0, float(p or 0) * cost_share) for v, q, p in lines)
    discounts = sum(float(d or 0) for _, d in orders)
    revenue = gross - discounts
    return revenue, revenue - cost, len(orders)


def settle(session: Session, shop_id: int, now: datetime, policy: OfferPolicy) -> int:
    """Every decision whose 14 days are over: its outcome, and one observation for its arm's model (control
    decisions teach the no-offer arm)."""
    due = session.exec(
        select(PricingOffer).where(
            PricingOffer.shop_id == shop_id,
            PricingOffer.settled_at.is_(None),  # type: ignore[union-attr]
            PricingOffer.decided_at <= now - REWARD_WINDOW,
        )
    ).all()
    arms = {a.key: a for a in policy.arms}
    for offer in due:
        revenue = margin = 0.0
        count = 0
        if offer.customer_shopify_id is not None:
            revenue, margin, count = _order_margins(
                session, shop_id, offer.customer_shopify_id, offer.decided_at,
                offer.decided_at + REWARD_WINDOW, policy.default_cost_share,
            )  # fmt: skip
        offer.revenue, offer.margin, offer.orders, offer.settled_at = revenue, margin, count, now
        session.add(offer)
        delivered = offer.status in ("created", "no_offer")  # a failed or never-made code offered nothing
        arm = arms.get(NONE if offer.control or not delivered else offer.arm)
        if arm is not None and offer.cart_value > 0:
            known = {k: float(v) for k, v in (offer.context or {}).items() if k in CONTEXT_FIELDS}
            add_observation(session, shop_id, arm, OfferContext(**known), count > 0)
    return len(due)


def decisions_since(session: Session, shop_id: int, since: datetime) -> list[PricingOffer]:
    return list(
        session.exec(
            select(PricingOffer)
            .where(PricingOffer.shop_id == shop_id, PricingOffer.decided_at >= since)
            .order_by(PricingOffer.decided_at, PricingOffer.id)  # type: ignore[arg-type]
        ).all()
    )


def offer_facts(session: Session, shop_id: int, since: datetime) -> list[OfferFact]:
    """Every decision since ``since`` as the readout needs it."""
    return [
        OfferFact(
            arm=o.arm,
            control=o.control,
            eligible=o.eligible,
            status=o.status,
            discount=float(o.discount or 0),
            redeemed=o.redeemed_at is not None,
            redeemed_discount=float(o.redeemed_discount or 0),
            p_no_offer=(o.context or {}).get("p_no_offer"),
            trial=o.trial,
            settled=o.settled_at is not None,
            margin=float(o.margin or 0),
            revenue=float(o.revenue or 0),
            orders=int(o.orders or 0),
            decided_at=o.decided_at,
        )  # fmt: skip
        for o in decisions_since(session, shop_id, since)
    ]
