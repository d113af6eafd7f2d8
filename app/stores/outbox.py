"""The outbox's state machine, every transition a compare-and-set ``UPDATE`` on ``status`` (and on the claim's
token once claimed), so two relays of one row can never both send it:

    pending ──claim──▶ sending ──▶ sent (provider id) | failed (reason) | pending again (a transient error,
    retried later) │ pending ──▶ cancelled (out of stock, consent withdrawn, bought since) │ sending, claim too
    old ──▶ unknown (marketing: never re-sent automatically) or pending (transactional: sent again, same
    Message-ID)

No commits: the relay commits each transition before it talks to the provider. The relay reads and claims its
rows through ``app.stores.outbox_rows``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from app.agents.back_in_stock import AGENT as BACK_IN_STOCK
from app.models.messaging import CANCELLED, PENDING, SENDING, UNKNOWN, MessageDecision, OutboxMessage
from app.orchestrator.clock import is_allowed, next_allowed
from app.orchestrator.proposal import CHANNELS, SUBSCRIBED, Purpose
from app.orchestrator.timezones import valid_zone
from app.stores.bulk import one_of, update_rows
from app.stores.consent import consents_for
from app.stores.contact_policy import allowed_hours
from app.stores.conversation import follow_outbox, follow_outbox_many
from app.stores.guests import guest_contacts, guest_purchases
from app.stores.orchestrator import last_purchases, out_of_stock_products
from app.stores.outbox_rows import RelayRow
from app.stores.push import subscribed_keys

CLAIM_TIMEOUT = timedelta(minutes=10)  # a send (SMTP timeouts included) never takes this long


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed row: its final status, the provider's id or the error."""

    shop_id: int
    outbox_id: int
    status: str
    provider_id: str | None = None
    error: str | None = None


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


def finish(
    session: Session,
    row: OutboxMessage | RelayRow,
    token: str,
    status: str,
    now: datetime,
    *,
    provider_id: str | None = None,
    error: str | None = None,
) -> bool:
    """sending → ``status`` (sent, failed, unknown) for the claim ``token``; the thread follows (``finish_many``
    for one row)."""
    outcome = Outcome(row.shop_id, row.id, status, provider_id=provider_id, error=error)
    return row.id in finish_many(session, token, [outcome], now)


def finish_many(session: Session, token: str, outcomes: Sequence[Outcome], now: datetime) -> set[int]:
    """``finish`` for many rows claimed under ``token``, in one statement for the rows and one for their thread
    entries (``update_rows``: each row's status, provider id, send time and error); returns
    the ids that moved (a row no longer in ``sending`` under ``token`` is left alone). When every row moved
    (the rowcount says so), no read is needed to tell which."""
    if not outcomes:
        return set()
    wanted = {o.outbox_id: o for o in outcomes}
    t = OutboxMessage.__table__
    changed = update_rows(
        session,
        t,
        "id",
        [
            {
                "id": i,
                "status": o.status,
                "provider_id": (o.provider_id or "")[:255] or None,
                "sent_at": now if o.provider_id else None,
                "last_error": o.error,
            }
            for i, o in wanted.items()
        ],
        where={"status": SENDING, "claim_token": token},
        also={"updated_at": now},
    )
    if changed == len(wanted) == len(outcomes):
        done = list(outcomes)
    else:
        moved = session.exec(
            select(OutboxMessage.id, OutboxMessage.status).where(
                one_of(session, OutboxMessage.id, sorted(wanted)),
                OutboxMessage.claim_token == token,
            )
        ).all()
        done = [wanted[i] for i, status in moved if status == wanted[i].status]
    follow_outbox_many(session, [(o.shop_id, o.outbox_id, o.status, o.provider_id) for o in done])
    return {o.outbox_id for o in done}


def retry_later(
    session: Session, row: OutboxMessage | RelayRow, token: str, error: str, at: datetime, now: datetime
) -> bool:
    """sending → pending, due again at ``at`` (a transient error before the provider accepted)."""
    return _cas(
        session, row.id, SENDING, token, now, status=PENDING, send_at=at, last_error=error, claim_token=None
    )


def cancel(session: Session, row: RelayRow, reason: str, now: datetime) -> bool:
    """pending → cancelled, before any send."""
    done = _cas(session, row.id, PENDING, None, now, status=CANCELLED, last_error=reason)
    if done:
        follow_outbox(session, row.shop_id, row.id, CANCELLED, None)
    return done


def why_not_now_many(session: Session, rows: Sequence[RelayRow]) -> dict[int, str]:
    """Outbox id → a reason the message must no longer go out, for those of ``rows`` that have one; checked
    just before the claim, in a few queries per shop: a product the marketing message is about out of stock
    since the decision (back in stock recalls its own, per variant: ``app.stores.back_in_stock_batches``),
    marketing consent withdrawn since the decision (push: no subscription left; a message sent to the address
    the shopper gave when asking for it needs no other), or (browse, rescue) the shopper bought since it was
    proposed."""
    reasons: dict[int, str] = {}
    for shop_id, group in _by_shop(rows).items():
        marketing = [r for r in group if r.purpose == Purpose.MARKETING]
        is_marketing = {r.id for r in marketing}
        about = {r.id: set(r.product_ids or ()) for r in marketing if r.agent != BACK_IN_STOCK}
        gone = out_of_stock_products(session, shop_id, set().union(*about.values()))
        pushing = subscribed_keys(session, shop_id, [r.shopper_key for r in marketing if r.channel == "push"])
        consents = consents_for(
            session,
            shop_id,
            [r.customer_shopify_id for r in marketing if r.customer_shopify_id and r.channel != "push"],
        )
        bought = last_purchases(
            session,
            shop_id,
            [r.customer_shopify_id for r in group if r.cancel_on_purchase and r.customer_shopify_id],
        )
        guests = guest_contacts(
            session, shop_id, (r.client_id for r in group if r.customer_shopify_id is None)
        )
        guests_bought = guest_purchases(session, shop_id, guests.values())
        for row in group:
            sold_out = ", ".join(map(str, sorted(about.get(row.id, set()) & gone)))
            if sold_out:
                reasons[row.id] = f"out of stock since it was decided: product {sold_out}"
                continue
            cid = row.customer_shopify_id
            guest = guests.get(row.client_id or "") if cid is None else None
            if guest is not None:  # a guest checkout's: its consent per channel, its purchases by address
                last = guests_bought.get(guest.guest_key) if row.cancel_on_purchase else None
                state = (guest.sms_state if row.channel == "sms" else guest.email_state) or "NOT_SUBSCRIBED"
                if row.id in is_marketing and state != SUBSCRIBED:
                    reasons[row.id] = f"{row.channel} marketing consent is now {state.lower()}"
                elif last is not None and last >= row.proposed_at:
                    reasons[row.id] = "the shopper bought since this was proposed"
                continue
            if row.id in is_marketing and row.channel == "push":
                if row.shopper_key not in pushing:
                    reasons[row.id] = "the shopper turned push notifications off"
                    continue
            elif row.id in is_marketing and CHANNELS[row.channel].needs_consent and not row.address:
                state = consents.get(cid or 0, {}).get(row.channel)
                if state != SUBSCRIBED:
                    reasons[row.id] = (
                        f"{row.channel} marketing consent is now {(state or 'not recorded').lower()}"
                    )
                    continue
            last = bought.get(cid or 0) if row.cancel_on_purchase else None
            if last is not None and last >= row.proposed_at:
                reasons[row.id] = "the shopper bought since this was proposed"
    return reasons


def _by_shop(rows: Sequence[RelayRow]) -> dict[int, list[RelayRow]]:
    groups: dict[int, list[RelayRow]] = defaultdict(list)
    for row in rows:
        groups[row.shop_id].append(row)
    return groups


def quiet_hours_wait_many(
    session: Session,
    rows: Sequence[RelayRow],
    now: datetime,
    hours: dict[int, tuple[time, time, str]] | None = None,
) -> dict[int, tuple[str, datetime | None]]:
    """Outbox id → ``("defer", at)`` or ``("cancel", None)`` for those of ``rows`` that may not go out now.
    Checked just before the claim, as the decision was: a marketing message on a channel that keeps quiet hours
    waits while it is the recipient's quiet hours (a relay that ran late: Redis was down, retries backed off)
    until the next allowed instant when that is within the message's window, else it is cancelled. The
    recipient's zone is the one the decision used (kept on the row; an older row's read from its decision);
    the window is the shop's policy (read once per shop into ``hours`` when the caller keeps one across
    batches)."""
    quiet = [r for r in rows if r.purpose == Purpose.MARKETING and CHANNELS[r.channel].quiet_hours]
    if not quiet:
        return {}
    older = sorted({r.decision_id for r in quiet if r.timezone is None and r.decision_id})
    zones = (
        dict(
            session.exec(
                select(MessageDecision.id, MessageDecision.timezone).where(
                    one_of(session, MessageDecision.id, older)
                )
            ).all()
        )
        if older
        else {}
    )
    waits: dict[int, tuple[str, datetime | None]] = {}
    hours = {} if hours is None else hours
    for shop_id, group in _by_shop(quiet).items():
        if shop_id not in hours:
            hours[shop_id] = allowed_hours(session, shop_id)
        start, end, shop_zone = hours[shop_id]
        for row in group:
            recorded = row.timezone if row.timezone is not None else zones.get(row.decision_id)
            zone = valid_zone(recorded) or valid_zone(shop_zone) or "UTC"
            if is_allowed(now, zone, start, end):
                continue
            at = next_allowed(now, zone, start, end)
            waits[row.id] = (
                ("cancel", None) if row.latest_at is not None and at > row.latest_at else ("defer", at)
            )
    return waits


def postpone(session: Session, row: RelayRow, at: datetime, now: datetime) -> bool:
    """A pending row waits until ``at`` (the sweeper queues it then)."""
    return _cas(session, row.id, PENDING, None, now, send_at=at)


def due_groups(session: Session, now: datetime) -> list[tuple[int, str]]:
    """Every (shop, channel) with a pending row whose time has come."""
    rows = session.exec(
        select(OutboxMessage.shop_id, OutboxMessage.channel)
        .where(OutboxMessage.status == PENDING, OutboxMessage.send_at <= now)
        .distinct()
        .order_by(OutboxMessage.shop_id, OutboxMessage.channel)
    ).all()
    return [(shop_id, channel) for shop_id, channel in rows]


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
