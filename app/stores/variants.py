"""Message variants (``message_variant``) and what each has done so far, one shop at a time. No commits.

- ``load_variants``: each agent's active variants;
- ``save_variants``: replace an agent's variants (the old ones are kept, inactive, so past decisions still name
  them);
- ``with_variants``: the orchestrator's step before it decides: each proposal of an agent with variants gets
  the one the bandit picks;
- ``variant_counts``: for one agent, per segment (the journey stage recorded on the decision) and variant, the
  treated shoppers who were sent it and how many bought within ``window`` of the decision (up to ``now``), and
  the held-out shoppers likewise: the bandit's evidence and the readout's counts. Each shopper counts once, from
  their first decision (intention to treat).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam
from sqlmodel import Session, select

from app.models.campaigns import MessageVariant
from app.models.commerce import Order
from app.models.messaging import MessageDecision
from app.orchestrator.proposal import Content, Proposal
from app.orchestrator.variants import Counts, Variant, apply, pick_for
from app.stores.bulk import any_of, execute, prebuilt

WINDOW = timedelta(days=7)
SENT = ("send", "defer")
DEFAULT = "default"


def load_variants(session: Session, shop_id: int, agents: Iterable[str]) -> dict[str, list[Variant]]:
    names = sorted(set(agents))
    if not names:
        return {}
    rows = execute(session, _active_variants(session), {"shop_id": shop_id, "agents": names}).all()
    out: dict[str, list[Variant]] = defaultdict(list)
    for agent, key, subject, heading, body in rows:
        out[agent].append(Variant(key, subject, heading, body))
    return dict(out)


@prebuilt
def _active_variants(dialect: str) -> Select:
    v = MessageVariant.__table__.c  # type: ignore[attr-defined]
    return (
        select(v.agent, v.key, v.subject, v.heading, v.body)
        .where(v.shop_id == bindparam("shop_id"), any_of(dialect, v.agent, "agents"), v.active.is_(True))
        .order_by(v.key)
    )


def save_variants(session: Session, shop_id: int, agent: str, variants: Sequence[Variant]) -> None:
    existing = {
        r.key: r
        for r in session.exec(
            select(MessageVariant).where(MessageVariant.shop_id == shop_id, MessageVariant.agent == agent)
        ).all()
    }
    for r in existing.values():
        r.active = False
        session.add(r)
    for v in variants:
        row = existing.get(v.key) or MessageVariant(shop_id=shop_id, agent=agent, key=v.key)
        row.subject, row.heading, row.body, row.active = v.subject, v.heading, v.body, True
        session.add(row)


def variant_counts(
    session: Session, shop_id: int, agent: str, now: datetime, window: timedelta = WINDOW
) -> tuple[dict[str, dict[str, Counts]], dict[str, Counts]]:
    """(segment → variant → treated counts, segment → held-out counts) for ``agent``."""
    rows = session.exec(
        select(
            MessageDecision.customer_shopify_id,
            MessageDecision.arm,
            MessageDecision.action,
            MessageDecision.features,
            MessageDecision.decided_at,
        )
        .where(
            MessageDecision.shop_id == shop_id,
            MessageDecision.agent == agent,
            MessageDecision.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(MessageDecision.decided_at, MessageDecision.id)
    ).all()
    first: dict[int, tuple[str, str, dict, datetime]] = {}
    for cid, arm, action, features, at in rows:
        first.setdefault(int(cid), (arm, action, features or {}, at))
    if not first:
        return {}, {}
    since = min(at for *_, at in first.values())
    bought: dict[int, list[datetime]] = defaultdict(list)
    for cid, placed in session.exec(
        select(Order.customer_shopify_id, Order.processed_at).where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.in_(sorted(first)),  # type: ignore[union-attr]
            Order.processed_at >= since,  # type: ignore[operator]
            Order.processed_at <= now,  # type: ignore[operator]
            Order.test.is_(False),  # type: ignore[attr-defined]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
        )
    ).all():
        if placed is not None:
            bought[int(cid)].append(placed)
    treated: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    held: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cid, (arm, action, features, at) in first.items():
        segment = str(features.get("stage") or "unknown")
        converted = any(at <= t <= at + window for t in bought.get(cid, ()))
        if arm == "holdout":
            held[segment][0] += 1
            held[segment][1] += converted
        elif action in SENT:  # a message without variants counts as the agent's own words, "default"
            c = treated[segment][str(features.get("variant") or DEFAULT)]
            c[0] += 1
            c[1] += converted
    return (
        {s: {k: Counts(*c) for k, c in per.items()} for s, per in treated.items()},
        {s: Counts(*c) for s, c in held.items()},
    )


def pooled(by_segment: dict[str, dict[str, Counts]]) -> dict[str, Counts]:
    """The counts of every segment together (the bandit's evidence)."""
    out: dict[str, Counts] = {}
    for per in by_segment.values():
        for key, c in per.items():
            o = out.get(key, Counts())
            out[key] = Counts(o.shoppers + c.shoppers, o.converters + c.converters)
    return out


def with_variants(
    session: Session, shop_id: int, proposals: Sequence[Proposal], now: datetime
) -> list[Proposal]:
    """Each proposal of an agent that has variants, with the variant the bandit picks for it
    (``app.orchestrator.variants``: Thompson sampling on what each variant's treated shoppers bought so far) and
    its key in the proposal's features (recorded with the decision). The arm is drawn afterwards by the policy's
    hash, so the holdout never depends on the bandit."""
    variants = load_variants(session, shop_id, {p.agent for p in proposals})
    if not variants:
        return list(proposals)
    evidence = {agent: pooled(variant_counts(session, shop_id, agent, now)[0]) for agent in variants}
    out = []
    for p in proposals:
        by_key = {v.key: v for v in variants.get(p.agent, ())}
        if not by_key:
            out.append(p)
            continue
        key = pick_for(shop_id, p.agent, p.shopper.key, p.dedupe_key, sorted(by_key), evidence[p.agent])
        data = apply(p.content.data, by_key[key])
        out.append(
            replace(p, content=Content(p.content.template, data), features={**p.features, "variant": key})
        )
    return out
