"""A shop's contact policy (budget, allowed hours, time zone) and its agents' holdout shares, as the
orchestrator's ``ContactPolicy``. No commits."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import Select, bindparam, func
from sqlmodel import Session, select

from app.measurement.holdout import GLOBAL, GLOBAL_DEFAULT_SHARE
from app.models.base import utcnow
from app.models.control_room import AgentSetting
from app.models.messaging import ContactPolicyRow, MessageDecision
from app.models.serving import HoldoutPolicy
from app.orchestrator.proposal import AgentSwitch, ContactPolicy, HoldoutShare
from app.stores.bulk import execute, prebuilt

DEFAULT_MESSAGE_HOLDOUT = 0.1


def _minute(t: time) -> int:
    return t.hour * 60 + t.minute


def _time(minute: int) -> time:
    return time(minute // 60, minute % 60)


def agent_switches(session: Session, shop_id: int) -> dict[str, AgentSwitch]:
    """The agents' cards as the orchestrator reads them."""
    rows = execute(session, _switches(session), {"shop_id": shop_id}).all()
    return {
        r.agent: AgentSwitch(
            enabled=r.enabled,
            channels=tuple(c for c in r.channels.split(",") if c),
            weekly_budget=r.weekly_budget,
            quiet_start=None if r.quiet_start_minute is None else _time(r.quiet_start_minute),
            quiet_end=None if r.quiet_end_minute is None else _time(r.quiet_end_minute),
        )
        for r in rows
    }


@prebuilt
def _switches(dialect: str) -> Select:
    a = AgentSetting.__table__.c  # type: ignore[attr-defined]
    return select(
        a.agent, a.enabled, a.channels, a.weekly_budget, a.quiet_start_minute, a.quiet_end_minute
    ).where(a.shop_id == bindparam("shop_id"))


@prebuilt
def _policy_row(dialect: str) -> Select:
    c = ContactPolicyRow.__table__.c  # type: ignore[attr-defined]
    return select(c.per_day, c.per_week, c.quiet_start_minute, c.quiet_end_minute, c.timezone).where(
        c.shop_id == bindparam("shop_id")
    )


@prebuilt
def _holdout_rows(dialect: str) -> Select:
    h = HoldoutPolicy.__table__.c  # type: ignore[attr-defined]
    return select(h.agent, h.share, h.salt).where(h.shop_id == bindparam("shop_id"))


def week_counts(session: Session, shop_id: int, agents: list[str], now: datetime) -> dict[str, int]:
    """Messages each agent sent or scheduled in the 7 days before ``now`` (its weekly budget's use)."""
    if not agents:
        return {}
    rows = session.exec(
        select(MessageDecision.agent, func.count())
        .where(
            MessageDecision.shop_id == shop_id,
            MessageDecision.agent.in_(agents),  # type: ignore[attr-defined]
            MessageDecision.action.in_(("send", "defer")),  # type: ignore[attr-defined]
            MessageDecision.decided_at >= now - timedelta(days=7),
        )
        .group_by(MessageDecision.agent)
    ).all()
    return {agent: int(n) for agent, n in rows}


def allowed_hours(session: Session, shop_id: int) -> tuple[time, time, str]:
    """The shop's allowed hours and time zone alone (first allowed minute, first quiet minute again, zone), as
    ``load_policy`` reads them, in one query: the relay's last check before a send needs nothing else."""
    row = execute(session, _policy_row(session), {"shop_id": shop_id}).first()
    if row is None:
        default = ContactPolicy()
        return default.quiet_start, default.quiet_end, default.shop_timezone
    return _time(row.quiet_start_minute), _time(row.quiet_end_minute), row.timezone or "UTC"


def load_policy(session: Session, shop_id: int) -> ContactPolicy:
    """The shop's policy; the defaults (1 a day, 3 a week, 08:00-21:00, 10 % holdout per agent, a 5 % global
    holdout, stored as the ``holdout_policy`` row named ``global``) where none is set."""
    params = {"shop_id": shop_id}
    row = execute(session, _policy_row(session), params).first()
    holdouts = {
        h.agent: HoldoutShare(h.share, h.salt) for h in execute(session, _holdout_rows(session), params)
    }
    default = HoldoutShare(DEFAULT_MESSAGE_HOLDOUT)
    everyone = holdouts.pop(GLOBAL, HoldoutShare(GLOBAL_DEFAULT_SHARE))
    switches = agent_switches(session, shop_id)
    capped = sorted(a for a, sw in switches.items() if sw.weekly_budget is not None)
    cards = {
        "global_holdout": everyone,
        "agents": switches,
        "agent_week_counts": week_counts(session, shop_id, capped, utcnow()),
    }
    if row is None:
        return ContactPolicy(holdouts=holdouts, default_holdout=default, **cards)
    return ContactPolicy(
        per_day=row.per_day,
        per_week=row.per_week,
        quiet_start=_time(row.quiet_start_minute),
        quiet_end=_time(row.quiet_end_minute),
        shop_timezone=row.timezone or "UTC",
        holdouts=holdouts,
        default_holdout=default,
        **cards,
    )


def save_policy(session: Session, shop_id: int, policy: ContactPolicy) -> ContactPolicyRow:
    """Store the budget, hours and zone of a (validated) policy."""
    row = session.exec(
        select(ContactPolicyRow).where(ContactPolicyRow.shop_id == shop_id).with_for_update()
    ).first() or ContactPolicyRow(shop_id=shop_id)
    row.per_day, row.per_week = policy.per_day, policy.per_week
    row.quiet_start_minute, row.quiet_end_minute = _minute(policy.quiet_start), _minute(policy.quiet_end)
    row.timezone, row.updated_at = policy.shop_timezone, utcnow()
    session.add(row)
    return row


def save_holdouts(session: Session, shop_id: int, shares: dict[str, float]) -> None:
    """Set each named agent's holdout share (a row per agent; its salt, and so its shoppers' draw, is kept)."""
    if not shares:
        return
    rows = {
        r.agent: r
        for r in session.exec(
            select(HoldoutPolicy)
            .where(HoldoutPolicy.shop_id == shop_id, HoldoutPolicy.agent.in_(sorted(shares)))
            .with_for_update()
        ).all()
    }
    now = utcnow()
    for agent, share in shares.items():
        row = rows.get(agent) or HoldoutPolicy(shop_id=shop_id, agent=agent)
        row.share, row.updated_at = float(share), now
        session.add(row)


def policy_updated_at(session: Session, shop_id: int) -> str | None:
    row = session.exec(select(ContactPolicyRow).where(ContactPolicyRow.shop_id == shop_id)).first()
    return row.updated_at.isoformat() if row else None
