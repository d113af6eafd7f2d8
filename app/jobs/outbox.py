"""The outbox relay: send each decided message once, and record what happened.

``relay_due(shop_id, channel)`` (queued after a decision commits, one waiting job per shop and channel) relays
that shop's due rows on that channel in batches of ``BATCH_SIZE``; ``relay_rows(ids)`` is one batch. A batch
checks each row is still wanted (what a marketing message is about still in stock, consent still SUBSCRIBED,
no purchase since a browse or rescue message was proposed: else ``cancelled``) and that it is not the recipient's quiet hours (a relay that ran late: the row
waits for the next allowed instant, or is cancelled when that is after its latest send time). It then claims
the rows in one compare-and-set ``UPDATE`` (pending → sending under the batch's token: of two relays of one row
only one wins) and commits the claim before anything is sent. The messages go out over one connection per
channel (``held_open``; ``relay_due`` keeps it open across its batches, ``Held``), and the outcomes are
recorded in one transaction: ``sent`` with the provider's id; a transient error (no connection, 4xx,
throttling) puts the row back to ``pending`` with a backoff, up to
``MAX_ATTEMPTS`` claims, then ``failed`` with the reason; a permanent error is ``failed`` at once; a connection
lost while a message was handed over is ``unknown`` for marketing (at most once: never re-sent automatically)
and retried for transactional messages (same Message-ID).

A relay that dies mid-batch leaves its claimed rows in ``sending``; ``sweep_outbox`` (every 30 s) settles them
(marketing ``unknown``, transactional ``pending``) and queues the relay of every shop and channel with rows that
are due (deferred ones, retries).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from app import tasks
from app.channels.base import (
    Accepted,
    AmbiguousError,
    Channel,
    OutgoingMessage,
    PermanentError,
    Sender,
    SendError,
    TransientError,
)
from app.channels.email import EmailChannel, SmtpTarget
from app.channels.unsubscribe import make_guest_token, make_token, unsubscribe_url
from app.config import Settings, get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import relay_channels
from app.jobs.flow_relay import prepare_flow
from app.jobs.outgoing import BatchMemo, outgoing
from app.jobs.relay_run import Held, send_all
from app.jobs.sms import prepare_sms
from app.models.base import utcnow
from app.models.messaging import CANCELLED, FAILED, PENDING, SENT, UNKNOWN
from app.observability import record_send
from app.orchestrator.proposal import Purpose
from app.stores import outbox, outbox_rows
from app.stores.channels import ChannelNotReady, email_setup
from app.stores.guests import is_guest
from app.stores.outbox import Outcome
from app.stores.outbox_rows import RelayRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Rows claimed, sent and recorded together: a relay that dies loses at most these (marketing: ``unknown``, never
# sent twice). Each batch costs a dozen statements and two commits whatever its size: per 50 rows on PostgreSQL,
# claim and record took 20 ms at 50 a batch and 12.5 ms at 100 (SQLite 11 and 8 ms), beside ~53 ms of loopback
# SMS sends (benchmarks/outbox.md). A run takes at most MAX_BATCHES batches (1,000 rows), then queues itself again.
BATCH_SIZE = 100
MAX_BATCHES = 10
RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))


def _prepare(
    session, settings: Settings, row: RelayRow, now: datetime, memo: BatchMemo
) -> tuple[Channel, OutgoingMessage]:
    """The channel adapter and the message for it (``PermanentError`` when either cannot be had)."""
    if row.channel in relay_channels.PREPARE:  # push, onsite
        return relay_channels.PREPARE[row.channel](session, settings, row, now)
    if row.channel == "sms":
        return prepare_sms(session, settings, row, memo)
    if row.channel == "flow":
        return prepare_flow(session, settings, row)
    if row.channel != "email":
        raise PermanentError(f"the {row.channel} channel has no adapter yet")

    def load() -> tuple[Sender, EmailChannel]:
        cipher = TokenCipher(settings.encryption_keys)
        sender, smtp_url = email_setup(session, cipher, row.shop_id, settings.attune_smtp_url)
        return sender, EmailChannel(SmtpTarget.parse(smtp_url))

    try:
        sender, channel = memo.setup(("email", row.shop_id), load)
    except (ChannelNotReady, ValueError) as exc:
        raise PermanentError(str(exc)) from exc
    address = memo.address(row)
    if not address:
        raise PermanentError("the shopper has no e-mail address")
    link = None
    if row.purpose == Purpose.MARKETING and row.customer_shopify_id:
        token = make_token(settings.shopify_api_secret, row.shop_id, row.customer_shopify_id, row.channel)
        link = unsubscribe_url(settings.app_url, token)
    elif row.purpose == Purpose.MARKETING and row.address:  # asked for by someone known only by this address
        token = make_token(settings.shopify_api_secret, row.shop_id, 0, row.channel, address=row.address)
        link = unsubscribe_url(settings.app_url, token)
    elif row.purpose == Purpose.MARKETING and is_guest(row.client_id):
        token = make_guest_token(settings.shopify_api_secret, row.shop_id, str(row.client_id), row.channel)
        link = unsubscribe_url(settings.app_url, token)
    return channel, outgoing(row, address, sender, unsubscribe_url=link)


def _settle(row: RelayRow, outcome: Accepted | SendError, now: datetime) -> Outcome | datetime:
    """What the provider's answer makes of a claimed row: its final ``Outcome``, or the time to try again."""
    if isinstance(outcome, Accepted):
        return Outcome(row.shop_id, row.id, SENT, provider_id=outcome.provider_id)
    reason = f"{type(outcome).__name__}: {outcome}"
    marketing = row.purpose == Purpose.MARKETING
    if isinstance(outcome, AmbiguousError) and marketing:
        return Outcome(row.shop_id, row.id, UNKNOWN, error=reason)
    retryable = isinstance(outcome, TransientError | AmbiguousError)
    if retryable and row.attempts < MAX_ATTEMPTS:
        return now + RETRY_DELAYS[min(row.attempts, len(RETRY_DELAYS)) - 1]
    if retryable:
        reason = f"gave up after {row.attempts} attempts: {reason}"
    return Outcome(row.shop_id, row.id, FAILED, error=reason)


def _record(
    session, token: str, sent: list[tuple[RelayRow, Accepted | SendError]], now: datetime
) -> dict[int, str]:
    """Every outcome of a batch, in the caller's transaction; each row's status afterwards."""
    final: list[Outcome] = []
    statuses: dict[int, str] = {}
    for row, outcome in sent:
        if outcome.gone:  # web push subscriptions the push service answered 404/410 for
            relay_channels.forget_gone(session, row, outcome.gone)
        settled = _settle(row, outcome, now)
        if isinstance(settled, Outcome):
            final.append(settled)
            statuses[row.id] = settled.status
        else:
            outbox.retry_later(session, row, token, f"{type(outcome).__name__}: {outcome}", settled, now)
            statuses[row.id] = PENDING
    outbox.finish_many(session, token, final, now)
    return statuses


def _claimable(
    session, rows: list[RelayRow], now: datetime, run: Held | None = None
) -> tuple[list[int], dict[int, str]]:
    """The ids of ``rows`` that may be claimed now, and what happened to the others instead (recorded here:
    cancelled when no longer wanted or when quiet hours outlast the message's window, deferred to the end
    of the recipient's quiet hours)."""
    instead: dict[int, str] = {}
    candidates = []
    for row in rows:
        if row.status != PENDING:
            instead[row.id] = row.status
        elif row.send_at > now:
            instead[row.id] = "not due"
        else:
            candidates.append(row)
    unwanted = outbox.why_not_now_many(session, candidates)
    for row in candidates:
        if row.id in unwanted:
            outbox.cancel(session, row, unwanted[row.id], now)
            instead[row.id] = CANCELLED
    candidates = [r for r in candidates if r.id not in unwanted]
    by_id = {r.id: r for r in candidates}
    waits = outbox.quiet_hours_wait_many(session, candidates, now, run.hours if run else None)
    for outbox_id, (_, at) in waits.items():
        row = by_id[outbox_id]
        if at is None:
            why = "quiet hours in the recipient's zone until after its latest send time"
            outbox.cancel(session, row, why, now)
            instead[outbox_id] = CANCELLED
        else:
            outbox.postpone(session, row, at, now)
            instead[outbox_id] = "deferred"
    return [r.id for r in candidates if r.id not in instead], instead


@dataclass
class _Batch:
    """A claimed batch: its claim token, each id's status so far, and the messages ready to send."""

    token: str
    now: datetime
    result: dict[int, str]
    prepared: list[tuple[RelayRow, Channel, OutgoingMessage]] = field(default_factory=list)


def _claim(
    settings: Settings,
    load: Callable[[Session], list[RelayRow]],
    now: datetime,
    ids: Iterable[int] = (),
    run: Held | None = None,
    sent: tuple[_Batch, list[Accepted | SendError]] | None = None,
) -> _Batch:
    """Read the rows ``load`` gives, check, claim and prepare them in one transaction, committed before it
    returns: from then on a crash leaves the claimed rows in ``sending`` for the sweeper to settle. ``ids``:
    the ids asked for, reported ``missing`` when ``load`` does not find them; ``run``: the relay run's kept
    shop settings; ``sent``: the run's previous batch and its outcomes, recorded first in the same transaction
    (one commit fewer a batch). Should the claim fail, they are recorded on their own before the error goes on,
    so a sent batch's record never depends on the next claim."""
    try:
        with session_scope(settings.database_url) as session:
            batch = _claim_in(session, settings, load, now, ids, run, sent)
    except Exception:
        if sent is not None:
            _finish(settings, *sent)
        raise
    if sent is not None:
        _log_batch(sent[0])
    return batch


def _claim_in(
    session: Session,
    settings: Settings,
    load: Callable[[Session], list[RelayRow]],
    now: datetime,
    ids: Iterable[int],
    run: Held | None,
    sent: tuple[_Batch, list[Accepted | SendError]] | None,
) -> _Batch:
    """``_claim`` in the caller's transaction. The reads come first (the rows, their checks, each message
    prepared) and the writes last (the sent batch's record, the claim, the rows that cannot be sent), so SQLite's
    one writer lock is held for the writes alone, not while the batch is read and rendered."""
    batch = _Batch(uuid.uuid4().hex, now, {i: "missing" for i in ids})
    rows = load(session)
    batch.result.update({r.id: "claimed by another relay" for r in rows})
    ready, instead = _claimable(session, rows, now, run)
    batch.result.update(instead)
    wanted = set(ready)
    candidates = [r for r in rows if r.id in wanted]
    memo = BatchMemo(session, candidates, run.setups if run else None)
    prepared: list[tuple[RelayRow, Channel, OutgoingMessage]] = []
    refused: list[Outcome] = []
    for row in candidates:
        try:
            channel, message = _prepare(session, settings, row, now, memo)
        except PermanentError as exc:
            refused.append(Outcome(row.shop_id, row.id, FAILED, error=f"PermanentError: {exc}"))
            continue
        prepared.append((row, channel, message))
    if sent is not None:
        _record_sent(session, *sent)
    won = {r.id for r in outbox_rows.claim_rows(session, candidates, batch.token, now)}
    batch.prepared = [p for p in prepared if p[0].id in won]
    failed = [o for o in refused if o.outbox_id in won]  # another relay's rows are its own to record
    for o in failed:
        batch.result[o.outbox_id] = FAILED
    outbox.finish_many(session, batch.token, failed, now)
    return batch


def _finish(settings: Settings, batch: _Batch, outcomes: list[Accepted | SendError]) -> dict[int, str]:
    """Record what the provider made of a sent batch, in one transaction; each id's status afterwards."""
    with session_scope(settings.database_url) as session:
        _record_sent(session, batch, outcomes)
    _log_batch(batch)
    return batch.result


def _record_sent(session: Session, batch: _Batch, outcomes: list[Accepted | SendError]) -> None:
    """``_finish`` in the caller's transaction."""
    sent = list(zip((row for row, _, _ in batch.prepared), outcomes, strict=True))
    batch.result.update(_record(session, batch.token, sent, batch.now))


def _count_sends(batch: _Batch, outcomes: list[Accepted | SendError]) -> None:
    """What the providers answered, in the metrics, once per send (whether or not its record commits)."""
    counted = Counter(
        (row.agent, row.channel, "sent" if isinstance(outcome, Accepted) else type(outcome).__name__)
        for (row, _, _), outcome in zip(batch.prepared, outcomes, strict=True)
    )
    for (agent, channel, what), n in counted.items():
        record_send(agent, channel, what, n)


def _send_batch(batch: _Batch, held: Held | None = None) -> list[Accepted | SendError]:
    outcomes = send_all(batch.prepared, held)
    _count_sends(batch, outcomes)
    return outcomes


def _log_batch(batch: _Batch) -> None:
    """One line per sent batch: how many rows ended in each status, and the ids of any not sent (each row's own
    status is in the outbox and its thread)."""
    rows = [row for row, _, _ in batch.prepared]
    statuses = Counter(batch.result[r.id] for r in rows)
    missed = ", ".join(f"{r.id} {batch.result[r.id]}" for r in rows if batch.result[r.id] != SENT)
    log.info(
        "outbox: %d %s message(s) relayed, ids %s-%s: %s%s",
        len(rows),
        rows[0].channel,
        min(r.id for r in rows),
        max(r.id for r in rows),
        ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())),
        f" (not sent: {missed})" if missed else "",
    )


def _relay(settings: Settings, batch: _Batch, held: Held | None = None) -> dict[int, str]:
    if not batch.prepared:
        return batch.result
    return _finish(settings, batch, _send_batch(batch, held))


def relay_rows(outbox_ids: list[int], now: datetime | None = None) -> dict[int, str]:
    """One batch: send the rows of ``outbox_ids`` that are due and still pending. Returns each id's status
    afterwards, or ``not due``, ``deferred``, ``missing``, ``claimed by another relay``."""
    ids, settings = list(outbox_ids), get_settings()
    return _relay(settings, _claim(settings, lambda s: outbox_rows.get_many(s, ids), now or utcnow(), ids))


def relay_message(outbox_id: int, now: datetime | None = None) -> str:
    """Relay one row now (a batch of one); its status afterwards, as ``relay_rows`` gives it."""
    return relay_rows([outbox_id], now)[outbox_id]


def relay_due(shop_id: int, channel: str, now: datetime | None = None) -> dict[str, int]:
    """RQ job: relay the shop's due rows on ``channel``, a batch at a time, until none is left (at most
    ``MAX_BATCHES`` batches a run: then it queues itself again, so one busy shop cannot hold the worker).
    Returns how many rows ended in each status.

    The batches run one after another; each sent batch is recorded in the transaction of the next claim (alone
    when that claim fails or the run ends). Overlapping them (sending one batch on a thread while claiming the
    next) was measured slower on two cores, four times: the threads contend for the interpreter (last, SMS
    0.65-0.69× against 0.70-0.75× a bare send, ``benchmarks/outbox.md``)."""
    settings = get_settings()
    counts: dict[str, int] = {}
    seen: set[int] = set()

    def due(session: Session) -> list[RelayRow]:  # read in the claim's own transaction
        rows = outbox_rows.due_rows(session, moment, BATCH_SIZE, shop_id=shop_id, channel=channel)
        return [r for r in rows if r.id not in seen]

    def tally(batch: _Batch) -> None:
        for status in batch.result.values():
            counts[status] = counts.get(status, 0) + 1

    sent: tuple[_Batch, list[Accepted | SendError]] | None = None
    with Held() as held:  # one connection for the run's batches
        for _ in range(MAX_BATCHES):
            moment = now or utcnow()
            batch = _claim(settings, due, moment, run=held, sent=sent)
            if sent is not None:
                tally(sent[0])
                sent = None
            if not batch.result:
                return counts
            seen.update(batch.result)
            if batch.prepared:
                sent = (batch, _send_batch(batch, held))
            else:
                tally(batch)
    if sent is not None:
        _finish(settings, *sent)
        tally(sent[0])
    tasks.relay_due(settings.redis_url, shop_id, channel)
    return counts


def sweep_outbox(now: datetime | None = None) -> dict[str, int]:
    """RQ cron job: settle stale claims, then queue the relay of every shop and channel with due rows (one
    waiting job per shop and channel)."""
    settings = get_settings()
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        settled = outbox.settle_stale(session, now)
        groups = outbox.due_groups(session, now)
    queued = sum(bool(tasks.relay_due(settings.redis_url, shop_id, channel)) for shop_id, channel in groups)
    return {"queued": queued, "unknown": settled[UNKNOWN], "requeued": settled[PENDING]}
