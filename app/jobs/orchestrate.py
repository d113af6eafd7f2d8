"""Hand agents' proposals to the orchestrator, inside the caller's job transaction: lock the shoppers, load
their facts and the shop's policy, decide, record every decision with its outbox row, and queue the relay of
the messages due now once the transaction commits (deferred ones are queued by ``sweep_outbox``).

Agent jobs call ``submit``; it never commits (the job's commit makes the decisions and their outbox rows
visible together, the transactional outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from app import tasks
from app.jobs.message_locale import localized
from app.models.base import utcnow
from app.observability import record_decisions as count_decisions
from app.orchestrator.policy import decide
from app.orchestrator.proposal import Decision, Proposal, ProposalError
from app.stores.contact_policy import load_policy
from app.stores.orchestrator import load_facts, lock_shoppers, record_decisions
from app.stores.variants import with_variants


def submit_new(
    session: Session, shop_id: int, proposals: Sequence[Proposal], now: datetime
) -> tuple[list[Proposal], list[Decision]]:
    """``submit`` the proposals whose dedupe key is not already sent, scheduled or held out for their shopper
    (a periodic agent job re-finds the same candidates: they are not proposed again, not even as a suppression
    the activity feed would repeat every run), each written in its shopper's locale (``localized``). Returns
    the proposals submitted and their decisions."""
    taken = load_facts(session, shop_id, proposals, now) if proposals else {}
    fresh = [p for p in proposals if p.dedupe_key not in taken[p.shopper.key].taken_keys]
    fresh = localized(session, shop_id, fresh)
    return fresh, submit(session, shop_id, fresh, now)


def count_actions(decisions: Sequence[Decision]) -> dict[str, int]:
    """Decisions per action (``send``, ``defer``, ``hold_out``, ``suppress``), for a job's result."""
    counts: dict[str, int] = {}
    for d in decisions:
        counts[str(d.action)] = counts.get(str(d.action), 0) + 1
    return counts


def submit(
    session: Session, shop_id: int, proposals: Sequence[Proposal], now: datetime | None = None
) -> list[Decision]:
    """Decide and record ``proposals`` (all of shop ``shop_id``); returns the decisions in their order."""
    if any(p.shop_id != shop_id for p in proposals):
        raise ProposalError("every proposal must belong to the shop being decided")
    if not proposals:
        return []
    now = now or utcnow()
    proposals = with_variants(session, shop_id, proposals, now)
    lock_shoppers(session, shop_id, [p.shopper.key for p in proposals])
    decisions = decide(
        proposals, load_facts(session, shop_id, proposals, now), load_policy(session, shop_id), now
    )
    recorded = record_decisions(session, decisions, now)
    count_decisions(decisions)
    tasks.relay_after_commit(
        session, [(r.shop_id, r.channel) for r in recorded if r.outbox_id is not None and r.send_at <= now]
    )
    return decisions
