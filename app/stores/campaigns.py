"""Newsletters (``campaign``) and their recipients, one shop at a time. No commits.

- ``create`` / ``get`` / ``listing``: the merchant's campaigns (each read is the shop's own); creating one sets its
  own holdout share (``holdout_policy`` under the agent ``newsletter-<id>``) and its variants;
- ``recipients``: every customer with an e-mail address and SUBSCRIBED e-mail marketing consent, with what the
  newsletter personalises from: their first name, journey stage, own recommendations, the interest they bought
  most from and its products they do not own yet, their active hours and time zone. The orchestrator checks
  consent again when it decides.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app.agents.newsletter import Recipient, agent_name
from app.models.campaigns import SENDING, Campaign
from app.models.commerce import Customer, Order, OrderLine
from app.models.journey import JourneyStage
from app.models.messaging import ContactConsent, MessageDecision
from app.models.serving import RecommendationList
from app.orchestrator.content import Card
from app.orchestrator.proposal import SUBSCRIBED, Shopper
from app.orchestrator.variants import Variant
from app.stores.browse import reminder_content, shopper_profiles
from app.stores.contact_policy import save_holdouts
from app.stores.interests import load_interests
from app.stores.variants import save_variants

CANDIDATES = 8  # products looked up per recipient before the ones out of stock are dropped


def create(session: Session, shop_id: int, values: dict[str, Any], variants: Sequence[Variant]) -> Campaign:
    row = Campaign(shop_id=shop_id, **values)
    session.add(row)
    session.flush()
    assert row.id is not None
    save_holdouts(session, shop_id, {agent_name(row.id): row.holdout_share})
    if variants:
        save_variants(session, shop_id, agent_name(row.id), variants)
    return row


def get(session: Session, shop_id: int, campaign_id: int) -> Campaign | None:
    row = session.get(Campaign, campaign_id)
    return row if row is not None and row.shop_id == shop_id else None


def sending(session: Session) -> list[tuple[int, int, int | None]]:
    """Every shop's campaigns still sending: (shop, campaign, wave)."""
    rows = session.exec(select(Campaign).where(Campaign.status == SENDING).order_by(Campaign.id)).all()
    return [(r.shop_id, int(r.id), r.wave) for r in rows if r.id is not None]


def listing(session: Session, shop_id: int) -> list[Campaign]:
    return list(
        session.exec(
            select(Campaign).where(Campaign.shop_id == shop_id).order_by(Campaign.id.desc())  # type: ignore[union-attr]
        ).all()
    )


def decided(session: Session, shop_id: int, agent: str) -> set[int]:
    """The customers who already have a decision from ``agent`` (sent, deferred, held out or suppressed)."""
    return {
        int(c)
        for c in session.exec(
            select(MessageDecision.customer_shopify_id).where(
                MessageDecision.shop_id == shop_id,
                MessageDecision.agent == agent,
                MessageDecision.customer_shopify_id.is_not(None),  # type: ignore[union-attr]
            )
        ).all()
    }


def _subscribed(session: Session, shop_id: int) -> list[tuple[int, str | None]]:
    consented = set(
        session.exec(
            select(ContactConsent.customer_shopify_id).where(
                ContactConsent.shop_id == shop_id,
                ContactConsent.channel == "email",
                ContactConsent.state == SUBSCRIBED,
            )
        ).all()
    )
    rows = session.exec(
        select(Customer.shopify_id, Customer.first_name)
        .where(
            Customer.shop_id == shop_id,
            Customer.deleted_at.is_(None),  # type: ignore[union-attr]
            Customer.email.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(Customer.shopify_id)
    ).all()
    return [(int(cid), name) for cid, name in rows if cid in consented]


def _recommended(session: Session, shop_id: int, ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for subject, items in session.exec(
        select(RecommendationList.subject, RecommendationList.items)
        .where(
            RecommendationList.shop_id == shop_id,
            RecommendationList.scope == "customer",
            RecommendationList.subject.in_([str(c) for c in ids]),  # type: ignore[attr-defined]
        )
        .order_by(RecommendationList.subject, RecommendationList.placement)
    ).all():
        for item in items or ():
            pid = item.get("product_id") if isinstance(item, dict) else None
            if isinstance(pid, int) and pid not in out[int(subject)]:
                out[int(subject)].append(pid)
    return out


def _owned(session: Session, shop_id: int, ids: list[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = defaultdict(set)
    for cid, pid in session.exec(
        select(Order.customer_shopify_id, OrderLine.product_shopify_id)
        .join(
            OrderLine,
            (OrderLine.shop_id == Order.shop_id) & (OrderLine.order_shopify_id == Order.shopify_id),  # type: ignore[arg-type]
        )
        .where(
            Order.shop_id == shop_id,
            Order.customer_shopify_id.in_(ids),  # type: ignore[union-attr]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
            OrderLine.product_shopify_id.is_not(None),  # type: ignore[union-attr]
        )
    ).all():
        out[int(cid)].add(int(pid))
    return out


def recipients(
    session: Session, shop_id: int, now: datetime, only: Sequence[int] | None = None
) -> tuple[str, list[Recipient]]:
    """The shop's name and its newsletter recipients (``only``: just these customers, for a preview)."""
    people = _subscribed(session, shop_id)
    if only is not None:
        people = [p for p in people if p[0] in set(only)]
    ids = [cid for cid, _ in people]
    recommended = _recommended(session, shop_id, ids)
    owned = _owned(session, shop_id, ids)
    interests = load_interests(session, shop_id)
    top: dict[int, tuple[str, list[int]]] = {}
    for cid in ids:
        score = Counter({i.key: len(owned[cid] & {int(p) for p in i.product_ids}) for i in interests})
        best = max(interests, key=lambda i: (score[i.key], i.key), default=None)
        if best is not None and score[best.key] > 0:
            missing = [int(p) for p in best.product_ids if int(p) not in owned[cid]][:CANDIDATES]
            top[cid] = (best.name, missing)
    wanted = {p for c in ids for p in recommended.get(c, [])[:CANDIDATES]} | {
        p for _, missing in top.values() for p in missing
    }
    shop_name, cards, _ = reminder_content(session, shop_id, wanted)
    stages = dict(
        session.exec(
            select(JourneyStage.shopper_key, JourneyStage.stage).where(
                JourneyStage.shop_id == shop_id,
                JourneyStage.shopper_key.in_([f"customer:{c}" for c in ids]),  # type: ignore[attr-defined]
            )
        ).all()
    )
    profiles = shopper_profiles(session, shop_id, [f"customer:{c}" for c in ids], now)

    def as_cards(pids: list[int]) -> list[Card]:
        return [cards[p] for p in pids if p in cards]

    out = []
    for cid, first_name in people:
        hours, zone, _ = profiles.get(f"customer:{cid}", ([0] * 24, None, {}))
        interest, missing = top.get(cid, (None, []))
        out.append(
            Recipient(
                shopper=Shopper(customer_id=cid),
                first_name=first_name,
                stage=stages.get(f"customer:{cid}", "unknown"),
                recommended=as_cards(
                    [p for p in recommended.get(cid, [])[:CANDIDATES] if p not in owned[cid]]
                ),
                interest=interest,
                checklist=as_cards(missing),
                hours=hours,
                time_zone=zone,
            )
        )
    return shop_name, out
