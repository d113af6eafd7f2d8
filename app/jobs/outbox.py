"""The outbox relay: send each decided message once, and record what happened.

``relay_message(outbox_id)`` claims the row (pending → sending, a compare-and-set: of two jobs for one row only
one wins), commits the claim, hands the message to its channel, and records the outcome in a second
transaction: ``sent`` with the provider's id; a transient error (no connection, 4xx, throttling) puts it back
to ``pending`` with a backoff, up to ``MAX_ATTEMPTS`` claims, then ``failed`` with the reason; a permanent
error is ``failed`` at once; a connection lost while the message was handed over is ``unknown`` for
marketing (at most once: never re-sent automatically) and retried for transactional messages (same
Message-ID). Just before the claim it checks the message is still wanted (consent still SUBSCRIBED, no purchase
since a browse or rescue message was proposed); if not, the row is ``cancelled``. And that it is not the
recipient's quiet hours (a relay that ran late): the row then waits for the next allowed instant, or is
cancelled when that is after the message's latest send time.

``sweep_outbox`` (every 30 s) queues the rows that are due (deferred ones, retries) and settles rows a dead
relay left in ``sending``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from app import tasks
from app.channels.base import (
    Accepted,
    AmbiguousError,
    Channel,
    OutgoingMessage,
    PermanentError,
    SendError,
    TransientError,
)
from app.channels.email import EmailChannel, SmtpTarget
from app.channels.unsubscribe import make_token, unsubscribe_url
from app.config import Settings, get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import relay_channels
from app.jobs.flow_relay import prepare_flow
from app.jobs.outgoing import outgoing
from app.jobs.sms import prepare_sms
from app.models.base import utcnow
from app.models.messaging import CANCELLED, FAILED, PENDING, SENT, UNKNOWN, OutboxMessage
from app.orchestrator.proposal import Purpose
from app.stores import outbox
from app.stores.channels import ChannelNotReady, email_setup, recipient_address

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_DELAYS = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30))


def _prepare(
    session, settings: Settings, row: OutboxMessage, now: datetime
) -> tuple[Channel, OutgoingMessage]:
    """The channel adapter and the message for it (``PermanentError`` when either cannot be had)."""
    if row.channel in relay_channels.PREPARE:  # push, onsite
        return relay_channels.PREPARE[row.channel](session, settings, row, now)
    if row.channel == "sms":
        return prepare_sms(session, settings, row)
    if row.channel == "flow":
        return prepare_flow(session, settings, row)
    if row.channel != "email":
        raise PermanentError(f"the {row.channel} channel has no adapter yet")
    try:
        sender, smtp_url = email_setup(
            session, TokenCipher(settings.encryption_keys), row.shop_id, settings.attune_smtp_url
        )
        target = SmtpTarget.parse(smtp_url)
    except (ChannelNotReady, ValueError) as exc:
        raise PermanentError(str(exc)) from exc
    address = recipient_address(session, row.shop_id, row.customer_shopify_id, row.channel)
    if not address:
        raise PermanentError("the shopper has no e-mail address")
    link = None
    if row.purpose == Purpose.MARKETING and row.customer_shopify_id:
        token = make_token(settings.shopify_api_secret, row.shop_id, row.customer_shopify_id, row.channel)
        link = unsubscribe_url(settings.app_url, token)
    return EmailChannel(target), outgoing(row, address, sender, unsubscribe_url=link)


def _record(
    settings: Settings, row: OutboxMessage, token: str, outcome: Accepted | SendError, now: datetime
) -> str:
    with session_scope(settings.database_url) as session:
        if outcome.gone:  # web push subscriptions the push service answered 404/410 for
            relay_channels.forget_gone(session, row, outcome.gone)
        if isinstance(outcome, Accepted):
            outbox.finish(session, row, token, SENT, now, provider_id=outcome.provider_id)
            return SENT
        reason = f"{type(outcome).__name__}: {outcome}"
        marketing = row.purpose == Purpose.MARKETING
        if isinstance(outcome, AmbiguousError) and marketing:
            outbox.finish(session, row, token, UNKNOWN, now, error=reason)
            return UNKNOWN
        retryable = isinstance(outcome, TransientError | AmbiguousError)
        if retryable and row.attempts < MAX_ATTEMPTS:
            at = now + RETRY_DELAYS[min(row.attempts, len(RETRY_DELAYS)) - 1]
            outbox.retry_later(session, row, token, reason, at, now)
            return PENDING
        if retryable:
            reason = f"gave up after {row.attempts} attempts: {reason}"
        outbox.finish(session, row, token, FAILED, now, error=reason)
        return FAILED


def relay_message(outbox_id: int, now: datetime | None = None) -> str:
    """RQ job: send one outbox row if it is due and still pending; returns the row's status afterwards (or
    ``not due``, ``missing``)."""
    settings = get_settings()
    now = now or utcnow()
    token = uuid.uuid4().hex
    with session_scope(settings.database_url) as session:
        row = outbox.get(session, outbox_id)
        if row is None:
            return "missing"
        if row.status != PENDING:
            return row.status
        if row.send_at > now:
            return "not due"
        why = outbox.why_not_now(session, row)
        if why:
            outbox.cancel(session, row, why, now)
            return CANCELLED
        quiet = outbox.quiet_hours_wait(session, row, now)
        if quiet is not None and quiet[1] is None:
            outbox.cancel(
                session, row, "quiet hours in the recipient's zone until after its latest send time", now
            )
            return CANCELLED
        if quiet is not None:
            outbox.postpone(session, row, quiet[1], now)
            return "deferred"
        row = outbox.claim(session, outbox_id, token, now)
        if row is None:
            return "claimed by another relay"
        try:
            channel, message = _prepare(session, settings, row, now)
        except PermanentError as exc:
            outbox.finish(session, row, token, FAILED, now, error=f"PermanentError: {exc}")
            return FAILED
    # the claim is committed: from here on a crash leaves the row in 'sending' for the sweeper to settle
    try:
        outcome: Accepted | SendError = channel.send(message)
    except SendError as exc:
        outcome = exc
    status = _record(settings, row, token, outcome, now)
    log.info("outbox %s (%s, %s): %s", outbox_id, row.channel, row.purpose, status)
    return status


def sweep_outbox(now: datetime | None = None) -> dict[str, int]:
    """RQ cron job: settle stale claims, then queue every due pending row (one job id per row)."""
    settings = get_settings()
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        settled = outbox.settle_stale(session, now)
        due = outbox.due(session, now)
    queued = sum(bool(tasks.relay_message(settings.redis_url, outbox_id)) for outbox_id in due)
    return {"queued": queued, "unknown": settled[UNKNOWN], "requeued": settled[PENDING]}
