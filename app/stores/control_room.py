"""The control room's reads (one shop at a time) and the agents' cards' writes. No commits.

- ``customer_facts``: each known customer's period for the success table (``app.measurement.control_room``),
  with their global-holdout arm drawn by the same hash the orchestrator and the storefront use;
- ``agent_activity``: each agent's decisions today and in the period, by action;
- ``setup_steps``: the setup guide's four checks, read from the rows each step leaves behind;
- ``save_card`` / ``cards``: the agents' settings; ``save_snapshot`` / ``pooled_priors``: each agent's latest
  lift per shop and the pool of every shop's, for shrinkage.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func
from sqlmodel import Session, select

from app.measurement.control_room import CustomerFacts
from app.measurement.holdout import GLOBAL, GLOBAL_DEFAULT_SHARE, in_global_holdout
from app.measurement.sequential import Prior, pooled_prior
from app.models.base import utcnow
from app.models.commerce import Checkout, Customer, Order, OrderLine, Refund, SyncRun
from app.models.control_room import AgentLiftSnapshot, AgentSetting
from app.models.events import PixelEvent
from app.models.feedback import SupportMessage
from app.models.messaging import ChannelConfig, MessageDecision
from app.models.serving import HoldoutPolicy, RecommendationList, ServedList

RECOVERY_WINDOW = timedelta(days=7)
ABANDONED_AFTER = timedelta(hours=1)
MIN_SHOPS_FOR_PRIOR = 3  # fewer shops than this: no pooled prior, no shrinkage
RECENT = timedelta(days=7)  # the setup guide's "connected" means seen within this


def global_share(session: Session, shop_id: int) -> tuple[float, str]:
    row = session.exec(
        select(HoldoutPolicy).where(HoldoutPolicy.shop_id == shop_id, HoldoutPolicy.agent == GLOBAL)
    ).first()
    return (row.share, row.salt) if row else (GLOBAL_DEFAULT_SHARE, "")


def _money(value: Decimal | None) -> float:
    return float(value or 0)


def customer_facts(
    session: Session, shop_id: int, since: datetime, now: datetime, share: float, salt: str
) -> list[CustomerFacts]:
    """Every known customer's period ``[since, now)``; the pre-period is as long, just before it."""
    pre = since - (now - since)
    customers = session.exec(
        select(Customer.shopify_id, Customer.shopify_created_at).where(
            Customer.shop_id == shop_id,
            Customer.deleted_at.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    orders = session.exec(
        select(
            Order.shopify_id,
            Order.customer_shopify_id,
            Order.processed_at,
            Order.total_price,
            Order.total_discounts,
        ).where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            Order.processed_at < now,  # type: ignore[operator]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            Order.test.is_(False),  # type: ignore[attr-defined]
        )
    ).all()
    refunds: dict[int, float] = defaultdict(float)
    for order_id, amount in session.exec(
        select(Refund.order_shopify_id, Refund.amount).where(Refund.shop_id == shop_id)
    ).all():
        refunds[order_id] += _money(amount)
    lines: dict[int, set[int]] = defaultdict(set)
    for order_id, product in session.exec(
        select(OrderLine.order_shopify_id, OrderLine.product_shopify_id).where(
            OrderLine.shop_id == shop_id,
            OrderLine.product_shopify_id.is_not(None),  # type: ignore[union-attr]
        )
    ).all():
        lines[order_id].add(int(product))
    recommended: dict[str, set[int]] = defaultdict(set)
    for subject, items in session.exec(
        select(RecommendationList.subject, RecommendationList.items).where(
            RecommendationList.shop_id == shop_id, RecommendationList.scope == "customer"
        )
    ).all():
        recommended[subject] |= {int(i["product_id"]) for i in items or () if i.get("product_id")}
    by_customer: dict[int, list[tuple[datetime, int, float, float]]] = defaultdict(list)
    for oid, cid, at, total, discounts in orders:
        if at is not None:
            net = max(_money(total) - refunds.get(oid, 0.0), 0.0)
            by_customer[int(cid)].append((at, oid, net, _money(discounts)))
    abandoned = _abandoned(session, shop_id, since, now)
    questions = _questions(session, shop_id, since, now)
    out = []
    for cid, created in customers:
        mine = sorted(by_customer.get(int(cid), ()))
        before = [o for o in mine if o[0] < since]
        during = [o for o in mine if since <= o[0] < now]
        owned = set().union(*(lines.get(o[1], set()) for o in before)) if before else set()
        cross = 0
        recs = recommended.get(str(cid), set())
        for o in during:
            bought = lines.get(o[1], set())
            if bought - owned & recs:
                cross += 1
            owned |= bought
        seen = [t for t in (created, mine[0][0] if mine else None) if t is not None]
        left = abandoned.get(int(cid))
        asked, escalated = questions.get(int(cid), (0, 0))
        out.append(
            CustomerFacts(
                customer=str(cid),
                treated=not in_global_holdout(shop_id, "customer", str(cid), share, salt),
                first_seen=min(seen) if seen else since,
                pre_spend=sum(o[2] for o in before if o[0] >= pre),
                bought_before=bool(before),
                order_values=tuple(o[2] for o in during),
                discounts=sum(o[3] for o in during),
                cross_sell_orders=cross,
                abandoned=left is not None,
                recovered=left is not None and any(left < o[0] <= left + RECOVERY_WINDOW for o in mine),
                questions=asked,
                escalated=escalated,
            )
        )
    return out


def _abandoned(session: Session, shop_id: int, since: datetime, now: datetime) -> dict[int, datetime]:
    """Each customer's first checkout in the period that was not completed within the hour."""
    rows = session.exec(
        select(Checkout.customer_shopify_id, Checkout.shopify_created_at, Checkout.completed_at).where(
            Checkout.shop_id == shop_id,
            Checkout.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            Checkout.shopify_created_at >= since,  # type: ignore[operator]
            Checkout.shopify_created_at < now - ABANDONED_AFTER,  # type: ignore[operator]
        )
    ).all()
    out: dict[int, datetime] = {}
    for cid, at, done in rows:
        if done is None or done > at + ABANDONED_AFTER:
            out[int(cid)] = min(out.get(int(cid), at), at)
    return out


def _questions(session: Session, shop_id: int, since: datetime, now: datetime) -> dict[int, tuple[int, int]]:
    rows = session.exec(
        select(SupportMessage.customer_shopify_id, SupportMessage.role, SupportMessage.escalated).where(
            SupportMessage.shop_id == shop_id,
            SupportMessage.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            SupportMessage.created_at >= since,
            SupportMessage.created_at < now,
        )
    ).all()
    asked: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for cid, role, escalated in rows:
        if role == "shopper":
            asked[int(cid)][0] += 1
        if escalated:
            asked[int(cid)][1] += 1
    return {cid: (a, min(e, a)) for cid, (a, e) in asked.items() if a}


def agent_activity(
    session: Session, shop_id: int, since: datetime, now: datetime
) -> dict[str, dict[str, Any]]:
    """Per agent: decisions today (UTC) and in the period, by action; the storefront's lists served, likewise."""
    today = datetime.combine(now.date(), time(0), now.tzinfo)
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"today": {}, "period": {}, "last_at": None})
    today_decisions = func.sum(case((MessageDecision.decided_at >= today, 1), else_=0))
    rows = session.exec(
        select(
            MessageDecision.agent,
            MessageDecision.action,
            today_decisions,
            func.count(),
            func.max(MessageDecision.decided_at),
        )
        .where(MessageDecision.shop_id == shop_id, MessageDecision.decided_at >= since)
        .group_by(MessageDecision.agent, MessageDecision.action)
    ).all()
    today_served = func.sum(case((ServedList.served_at >= today, 1), else_=0))
    served = session.exec(
        select(ServedList.agent, today_served, func.count(), func.max(ServedList.served_at))
        .where(ServedList.shop_id == shop_id, ServedList.served_at >= since)
        .group_by(ServedList.agent)
    ).all()
    for agent, action, n_today, n, last in [*rows, *((a, "served", t, n, m) for a, t, n, m in served)]:
        card = out[agent]
        card["period"][action] = card["period"].get(action, 0) + int(n)
        if n_today:
            card["today"][action] = card["today"].get(action, 0) + int(n_today)
        last_at = last.isoformat() if last else None
        card["last_at"] = max(filter(None, [card["last_at"], last_at]), default=None)
    return dict(out)


def setup_steps(session: Session, shop_id: int, now: datetime) -> list[dict[str, Any]]:
    """The setup guide: the theme embed (the storefront asked for a list lately), the pixel (events arrived
    lately), a channel configured, and the first sync finished."""
    recent = now - RECENT
    served = session.exec(
        select(func.count()).where(ServedList.shop_id == shop_id, ServedList.served_at >= recent)
    ).one()
    pixel = session.exec(
        select(func.count()).where(PixelEvent.shop_id == shop_id, PixelEvent.received_at >= recent)
    ).one()
    channels = session.exec(
        select(ChannelConfig.channel).where(ChannelConfig.shop_id == shop_id, ChannelConfig.enabled.is_(True))  # type: ignore[attr-defined]
    ).all()
    synced = session.exec(
        select(func.count()).where(SyncRun.shop_id == shop_id, SyncRun.status == "done")
    ).one()
    return [
        {"step": "theme_embed", "done": served > 0},
        {"step": "pixel", "done": pixel > 0},
        {"step": "channels", "done": bool(channels), "channels": sorted(set(channels))},
        {"step": "first_sync", "done": synced > 0},
    ]


def cards(session: Session, shop_id: int) -> dict[str, AgentSetting]:
    return {
        r.agent: r for r in session.exec(select(AgentSetting).where(AgentSetting.shop_id == shop_id)).all()
    }


def save_card(session: Session, shop_id: int, agent: str, values: dict[str, Any]) -> AgentSetting:
    """Store the validated settings of one agent's card (only the fields given)."""
    row = session.exec(
        select(AgentSetting)
        .where(AgentSetting.shop_id == shop_id, AgentSetting.agent == agent)
        .with_for_update()
    ).first() or AgentSetting(shop_id=shop_id, agent=agent)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    session.add(row)
    return row


def save_snapshot(
    session: Session,
    shop_id: int,
    agent: str,
    metric: str,
    estimate: float,
    standard_error: float,
    shoppers: int,
    *,
    simulated: bool = False,
) -> None:
    row = session.exec(
        select(AgentLiftSnapshot).where(
            AgentLiftSnapshot.shop_id == shop_id,
            AgentLiftSnapshot.agent == agent,
            AgentLiftSnapshot.metric == metric,
        )
    ).first() or AgentLiftSnapshot(
        shop_id=shop_id, agent=agent, metric=metric, estimate=estimate, standard_error=standard_error
    )
    row.estimate, row.standard_error, row.shoppers = estimate, standard_error, shoppers
    row.simulated, row.measured_at = simulated, utcnow()
    session.add(row)


def pooled_priors(session: Session, metric: str, *, simulated: bool) -> dict[str, tuple[Prior, int]]:
    """Each agent's random-effects prior over every shop's latest snapshot (aggregates only: no shopper and no
    single shop is visible in it), with the number of shops; agents with too few shops are left out. Real
    shops pool with real shops, the demo's simulated ones with each other."""
    rows = session.exec(
        select(AgentLiftSnapshot.agent, AgentLiftSnapshot.estimate, AgentLiftSnapshot.standard_error).where(
            AgentLiftSnapshot.metric == metric,
            AgentLiftSnapshot.simulated.is_(simulated),  # type: ignore[attr-defined]
        )
    ).all()
    by_agent: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for agent, est, se in rows:
        by_agent[agent].append((est, se))
    out = {}
    for agent, pairs in by_agent.items():
        prior = (
            pooled_prior([e for e, _ in pairs], [s for _, s in pairs])
            if len(pairs) >= MIN_SHOPS_FOR_PRIOR
            else None
        )
        if prior is not None:
            out[agent] = (prior, len(pairs))
    return out


def is_simulated(session: Session, shop_id: int) -> bool:
    """The shop's agent figures were seeded by the demo's simulators (the control room says so)."""
    return (
        session.exec(
            select(AgentLiftSnapshot.id).where(
                AgentLiftSnapshot.shop_id == shop_id,
                AgentLiftSnapshot.simulated.is_(True),  # type: ignore[attr-defined]
            )
        ).first()
        is not None
    )


def snapshots(session: Session, shop_id: int, metric: str) -> dict[str, AgentLiftSnapshot]:
    """The shop's latest lift per agent (the demo's simulated ones included)."""
    rows = session.exec(
        select(AgentLiftSnapshot).where(
            AgentLiftSnapshot.shop_id == shop_id, AgentLiftSnapshot.metric == metric
        )
    ).all()
    return {r.agent: r for r in rows}
