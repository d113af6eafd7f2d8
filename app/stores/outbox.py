"""The outbox's state machine, every transition a compare-and-set ``UPDATE`` on ``status`` (and on the claim's
token once claimed), so two relays of one row can never both send it:

    pending ──claim──▶ sending ──▶ sent (provider id) | failed (reason) | pending again (a transient error,
    retried later) │ pending ──▶ cancelled (consent withdrawn, bought since) │ sending, claim too old ──▶ unknown
    (marketing: never re-sent automatically) or pending (transactional: sent again, same Message-ID)

No commits: the relay commits each transition before it talks to the provider.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, select

from app.models.commerce import Order
from app.models.messaging import CANCELLED, PENDING, SENDING, UNKNOWN, MessageDecision, OutboxMessage
from app.orchestrator.clock import is_allowed, next_allowed
from app.orchestrator.proposal import CHANNELS, SUBSCRIBED, Purpose
from app.orchestrator.timezones import valid_zone
from app.stores.consent import consents_for
from app.stores.contact_policy import load_policy
from app.stores.conversation import follow_outbox
from app.stores.push import subscribed_keys

CLAIM_TIMEOUT = timedelta(minutes=10)  # a send (SMTP timeouts included) never takes this long


def _cas(session: Session, outbox_id: int, expect: str, token: str | None, now: datetime, **values) -> bool:
    stmt = update(OutboxMessage).where(OutboxMessage.id == outbox_id, OutboxMessage.status == expect)
    if token is not None:
        stmt = stmt.where(OutboxMessage.claim_token == token)
    result = session.exec(stmt.values(updated_at=now, **values))  # type: ignore[call-overload]
    return result.rowcount == 1


def get(session: Session, outbox_id: int) -> OutboxMessage | None:
    return session.exec(
        select(OutboxMessage).where(OutboxMessage.id == outbox_id).execution_options(populate_existing=True)
    ).first()


def claim(session: Session, outbox_id: int, token: str, now: datetime) -> OutboxMessage | None:
    """pending (and due) → sending under ``token``; the row when this caller won it, else None."""
    won = session.exec(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == PENDING, OutboxMessage.send_at <= now)
        .values(
            status=SENDING,
            claim_token=token,
            claimed_at=now,
            attempts=OutboxMessage.attempts + 1,
            updated_at=now,
        )
    ).rowcount  # type: ignore[attr-defined]
    return get(session, outbox_id) if won == 1 else None


def finish(
    session: Session,
    row: OutboxMessage,
    token: str,
    status: str,
    now: datetime,
    *,
    provider_id: str | None = None,
    error: str | None = None,
) -> bool:
    """sending → ``status`` (sent, failed, unknown) for the claim ``token``; the thread follows."""
    values: dict = {"status": status}
    if provider_id is not None:
        values.update(provider_id=provider_id[:255], sent_at=now)
    if error is not None:
        values["last_error"] = error
    done = _cas(session, row.id, SENDING, token, now, **values)
    if done:
        follow_outbox(session, row.shop_id, row.id, status, provider_id)
    return done


def retry_later(
    session: Session, row: OutboxMessage, token: str, error: str, at: datetime, now: datetime
) -> bool:
    """sending → pending, due again at ``at`` (a transient error before the provider accepted)."""
    return _cas(
        session, row.id, SENDING, token, now, status=PENDING, send_at=at, last_error=error, claim_token=None
    )


def cancel(session: Session, row: OutboxMessage, reason: str, now: datetime) -> bool:
    """pending → cancelled, before any send."""
    done = _cas(session, row.id, PENDING, None, now, status=CANCELLED, last_error=reason)
    if done:
        follow_outbox(session, row.shop_id, row.id, CANCELLED, None)
    return done


def why_not_now(session: Session, row: OutboxMessage) -> str | None:
    """A reason the message must no longer go out, checked just before the claim: marketing consent withdrawn
    since the decision, or (browse, rescue) the shopper bought since it was proposed."""
    cid = row.customer_shopify_id
    if row.purpose == Purpose.MARKETING and row.channel == "push":
        if row.shopper_key not in subscribed_keys(session, row.shop_id, [row.shopper_key]):
            return "the shopper turned push notifications off"
    elif row.purpose == Purpose.MARKETING and CHANNELS[row.channel].needs_consent:
        state = consents_for(session, row.shop_id, [cid] if cid else []).get(cid or 0, {}).get(row.channel)
        if state != SUBSCRIBED:
            return f"{row.channel} marketing consent is now {(state or 'not recorded').lower()}"
    if row.cancel_on_purchase and cid:
        last = session.exec(
            select(func.max(func.coalesce(Order.processed_at, Order.shopify_created_at))).where(
                Order.shop_id == row.shop_id,
                Order.customer_shopify_id == cid,
                Order.test == False,  # noqa: E712
            )
        ).one()
        if last is not None and last >= row.proposed_at:
            return "the shopper bought since this was proposed"
    return None


def quiet_hours_wait(
    session: Session, row: OutboxMessage, now: datetime
) -> tuple[str, datetime | None] | None:
    """Checked just before the claim, as the decision was: None when a marketing message may go out now;
    ``("defer", at)`` when it is the recipient's quiet hours (a relay that ran late: Redis was down, retries
    backed off) and the next allowed instant is within the message's window; ``("cancel", None)`` when the
    window closes first. The recipient's zone is the one the decision used; the window is the shop's policy."""
    if row.purpose != Purpose.MARKETING or not CHANNELS[row.channel].quiet_hours:
        return None
    policy = load_policy(session, row.shop_id)
    decided = session.exec(
        select(MessageDecision.timezone).where(MessageDecision.id == row.decision_id)
    ).first()
    zone = valid_zone(decided) or valid_zone(policy.shop_timezone) or "UTC"
    if is_allowed(now, zone, policy.quiet_start, policy.quiet_end):
        return None
    at = next_allowed(now, zone, policy.quiet_start, policy.quiet_end)
    if row.latest_at is not None and at > row.latest_at:
        return ("cancel", None)
    return ("defer", at)


def postpone(session: Session, row: OutboxMessage, at: datetime, now: datetime) -> bool:
    """A pending row waits until ``at`` (the sweeper queues it then)."""
    return _cas(session, row.id, PENDING, None, now, send_at=at)


def due(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Pending rows whose time has come, oldest first."""
    return list(
        session.exec(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == PENDING, OutboxMessage.send_at <= now)
            .order_by(OutboxMessage.send_at, OutboxMessage.id)
            .limit(limit)
        ).all()
    )


def settle_stale(session: Session, now: datetime) -> dict[str, int]:
    """Rows left in ``sending`` longer than ``CLAIM_TIMEOUT`` (the relay died mid-send): marketing becomes
    ``unknown`` and is never re-sent automatically; transactional goes back to ``pending``."""
    counts = {UNKNOWN: 0, PENDING: 0}
    stale = session.exec(
        select(OutboxMessage).where(
            OutboxMessage.status == SENDING, OutboxMessage.claimed_at < now - CLAIM_TIMEOUT
        )
    ).all()
    for row in stale:
        error = "the relay stopped during the send; the provider may or may not have accepted it"
        if row.purpose == Purpose.MARKETING:
            if finish(session, row, row.claim_token or "", UNKNOWN, now, error=error):
                counts[UNKNOWN] += 1
        elif retry_later(session, row, row.claim_token or "", error, now, now):
            counts[PENDING] += 1
    return counts
