"""In-session rescue's reads and writes for one shop: the live session row (arm drawn at creation), the facts
the ladder needs (the shopper's intent prior, the pixel's checkout steps, the shop's shipping facts and support
knowledge, in-stock alternatives, each rung's randomised evidence) and the one decision, recorded with its
reason as a ``MessageDecision`` (so it shows in the activity feed). Every query is scoped by shop. No commits.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app.agents.nudge import (
    AGENT,
    IncentiveOffer,
    NudgeDecision,
)
from app.measurement.holdout import GLOBAL, GLOBAL_DEFAULT_SHARE, in_global_holdout, in_holdout
from app.modelling.hesitation import Risk
from app.models.base import utcnow
from app.models.control_room import AgentSetting
from app.models.events import PixelEvent
from app.models.messaging import MessageDecision
from app.models.nudge import NudgeSession, NudgeShop
from app.models.profiles import CustomerProfile
from app.models.serving import HoldoutPolicy
from app.stores import nudge_offer
from app.stores.nudge_live import STEP_EVENTS

log = logging.getLogger(__name__)
DEFAULT_HOLDOUT = 0.1
CACHE_TTL_S = 300.0

# The incentive rung's seam: a function that asks the pricing agent's rules (every guardrail, the bandit) and
# returns an approved offer, or None. The default is ``app.stores.nudge_offer.approve`` (request-safe: it
# reserves the offer; a job makes the code after the commit); tests may install another.
IncentiveApprover = Callable[[Session, int, "IncentiveAsk"], IncentiveOffer | None]
_approver: IncentiveApprover = nudge_offer.approve


@dataclass(frozen=True)
class IncentiveAsk:
    session_key: str
    customer_id: int | None
    client_id: str | None
    cart_value: float
    product_ids: tuple[int, ...]
    risk: float
    holdout: bool = False  # a held-out session: the answer is its counterfactual, nothing is reserved
    now: datetime | None = None


def set_incentive_approver(approver: IncentiveApprover | None) -> None:
    """Install an approver (None: the pricing agent's own, ``app.stores.nudge_offer.approve``)."""
    global _approver
    _approver = approver or nudge_offer.approve


def incentive_for(session: Session, shop_id: int, ask: IncentiveAsk) -> IncentiveOffer | None:
    """The approved offer, or None (refused, or it failed: never an error here). A failure rolls back only
    what the approval wrote (a savepoint), never the nudge's own work."""
    try:
        with session.begin_nested():
            return _approver(session, shop_id, ask)
    except Exception:  # a failing approval means no incentive, never an error to the shopper
        log.exception("nudge: shop %s, the incentive approval failed", shop_id)
        return None


class _Cache:
    """A small per-process cache with a time to live (knowledge answers, evidence)."""

    def __init__(self, ttl: float = CACHE_TTL_S, size: int = 4096) -> None:
        self.ttl, self.size = ttl, size
        self.data: dict[Any, tuple[float, Any]] = {}
        self.lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self.lock:
            hit = self.data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        with self.lock:
            if len(self.data) >= self.size:
                self.data.clear()
            self.data[key] = (now + self.ttl, value)
        return value

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


answers_cache = _Cache()
evidence_cache = _Cache()
alternatives_cache = _Cache(ttl=60.0)  # stock moves: a minute at most
_shops = _Cache(ttl=30.0)


def clear_caches() -> None:
    for c in (answers_cache, evidence_cache, alternatives_cache, _shops):
        c.clear()


def session_key(shop_id: int, customer_id: int | None, client_id: str | None, sid: str) -> str:
    """The row's key: the browser's session id under this shop and shopper, so another shopper's session id
    names a different (empty) session."""
    who = f"customer:{customer_id}" if customer_id else f"client:{client_id or ''}"
    return hashlib.sha256(f"{shop_id}|{who}|{sid}".encode()).hexdigest()[:48]


def shop_row(session: Session, shop_id: int) -> NudgeShop | None:
    return session.exec(select(NudgeShop).where(NudgeShop.shop_id == shop_id)).first()


def shop_config(session: Session, shop_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(settings, risk layer) of the shop, cached briefly per process."""

    def load() -> tuple[dict[str, Any], dict[str, Any]]:
        row = shop_row(session, shop_id)
        return (dict(row.settings), dict(row.risk_layer)) if row else ({}, {})

    return _shops.get(shop_id, load)


def save_settings(session: Session, shop_id: int, settings: dict[str, Any]) -> NudgeShop:
    row = shop_row(session, shop_id) or NudgeShop(shop_id=shop_id)
    row.settings = settings
    row.version += 1 if row.id else 0
    row.updated_at = utcnow()
    session.add(row)
    _shops.clear()
    return row


def save_risk_layer(session: Session, shop_id: int, layer: dict[str, Any]) -> NudgeShop:
    row = shop_row(session, shop_id) or NudgeShop(shop_id=shop_id)
    row.risk_layer = layer
    row.updated_at = utcnow()
    session.add(row)
    _shops.clear()
    return row


def holdout_policy(session: Session, shop_id: int) -> tuple[float, str]:
    """``holdout_share``, cached briefly per process (a new live session draws its arm from it)."""
    return _shops.get(("holdout", shop_id), lambda: holdout_share(session, shop_id))


@dataclass(frozen=True)
class Switches:
    """What the control room decides for the nudge: the agent's card on or off, and the shop's global holdout
    (shoppers no agent touches: a signed-in customer or a visitor in it is held out of every session)."""

    enabled: bool = True
    global_share: float = GLOBAL_DEFAULT_SHARE
    global_salt: str = ""


def switches(session: Session, shop_id: int) -> Switches:
    """The shop's ``Switches``, cached briefly per process like the rest of its configuration."""

    def load() -> Switches:
        card = session.exec(
            select(AgentSetting).where(AgentSetting.shop_id == shop_id, AgentSetting.agent == AGENT)
        ).first()
        everyone = session.exec(
            select(HoldoutPolicy).where(HoldoutPolicy.shop_id == shop_id, HoldoutPolicy.agent == GLOBAL)
        ).first()
        return Switches(
            enabled=card.enabled if card is not None else True,
            global_share=everyone.share if everyone is not None else GLOBAL_DEFAULT_SHARE,
            global_salt=everyone.salt if everyone is not None else "",
        )

    return _shops.get(("switches", shop_id), load)


def draw_holdout(
    session: Session, shop_id: int, key: str, customer_id: int | None, client_id: str | None
) -> bool:
    """A new session's arm: held out when the shopper is in the shop's global holdout (the same draw every
    agent makes), else by the nudge's own per-session holdout."""
    sw = switches(session, shop_id)
    kind, who = ("customer", str(customer_id)) if customer_id else ("client", client_id or "")
    if who and in_global_holdout(shop_id, kind, who, sw.global_share, sw.global_salt):
        return True
    share, salt = holdout_policy(session, shop_id)
    return in_holdout(shop_id, AGENT, "session", key, share, salt)


def holdout_share(session: Session, shop_id: int) -> tuple[float, str]:
    row = session.exec(
        select(HoldoutPolicy).where(HoldoutPolicy.shop_id == shop_id, HoldoutPolicy.agent == AGENT)
    ).first()
    return (row.share, row.salt) if row else (DEFAULT_HOLDOUT, "")


def live_session(
    session: Session, shop_id: int, key: str, *, customer_id: int | None, client_id: str | None
) -> NudgeSession:
    """The session's row; a new one has its arm drawn now, before anything is decided."""
    row = session.exec(
        select(NudgeSession).where(NudgeSession.shop_id == shop_id, NudgeSession.session_key == key)
    ).first()
    if row is not None:
        return row
    row = NudgeSession(
        shop_id=shop_id,
        session_key=key,
        client_id=client_id,
        customer_shopify_id=customer_id,
        holdout=draw_holdout(session, shop_id, key, customer_id, client_id),
    )
    session.add(row)
    return row


def intent_prior(
    session: Session, shop_id: int, customer_id: int | None, client_id: str | None
) -> float | None:
    """The shipped intent model's purchase probability for this shopper (their profile's), None if unknown."""
    key = f"customer:{customer_id}" if customer_id else (f"client:{client_id}" if client_id else None)
    if key is None:
        return None
    return session.exec(
        select(CustomerProfile.intent).where(
            CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == key
        )
    ).first()


def checkout_steps(
    session: Session, shop_id: int, client_id: str | None, since: datetime
) -> list[tuple[str, float]]:
    """The pixel's checkout steps of this browser since ``since`` (name, epoch seconds)."""
    if not client_id:
        return []
    rows = session.exec(
        select(PixelEvent.name, PixelEvent.occurred_at).where(
            PixelEvent.shop_id == shop_id,
            PixelEvent.client_id == client_id,
            PixelEvent.name.in_(STEP_EVENTS),
            PixelEvent.occurred_at >= since,
        )
    ).all()
    return [(name, at.timestamp()) for name, at in rows]


ACTIONS = {"show": "send", "hold_out": "hold_out", "none": "suppress"}


def record_decision(
    session: Session,
    row: NudgeSession,
    decision: NudgeDecision,
    risk: Risk,
    *,
    product_ids: Sequence[int],
    now: datetime,
) -> None:
    """The session's one decision, on its row and as a ``MessageDecision`` for the activity feed."""
    row.action, row.rung, row.reason, row.decided_at = decision.action, decision.rung, decision.reason, now
    shopper = (
        f"customer:{row.customer_shopify_id}" if row.customer_shopify_id else f"client:{row.client_id or ''}"
    )
    session.add(
        MessageDecision(
            shop_id=row.shop_id,
            agent=AGENT,
            shopper_key=shopper[:80],
            customer_shopify_id=row.customer_shopify_id,
            client_id=row.client_id,
            purpose="service",
            action=ACTIONS[decision.action],
            arm="holdout" if row.holdout else "treatment",
            channel="onsite" if decision.action == "show" else None,
            intended_channel="onsite" if decision.rung else "none",
            reason=decision.reason,
            proposal_reason=risk.explanation.summary
            + ": "
            + "; ".join(s.text for s in risk.explanation.signals if s.contribution > 0),
            expected_value=0.0,
            dedupe_key=f"nudge:{row.session_key}"[:128],
            template=f"nudge_{decision.rung or 'none'}",
            product_ids=[int(p) for p in product_ids][:20],
            features={
                "risk": round(risk.probability, 4),
                "rung": decision.rung,
                "session": row.session_key,
                "explanation": risk.explanation.as_dict(),
            },
            decided_at=now,
        )
    )
