"""What the outbox relay needs for the web push and on-site channels: the adapter and the message for an
outbox row (``PermanentError`` when it cannot be had), and forgetting the recipients a provider said are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlmodel import Session

from app.channels.base import Channel, OutgoingMessage, PermanentError
from app.channels.onsite import OnsiteChannel
from app.channels.push import PushChannel, PushTarget
from app.config import Settings
from app.crypto import TokenCipher
from app.jobs.outgoing import outgoing, plain_sender
from app.models.shop import Shop
from app.stores import push
from app.stores.channels import ChannelNotReady
from app.stores.outbox_rows import RelayRow

ONSITE_DEFAULT_LIFE = timedelta(days=7)


def _message(session: Session, row: RelayRow, recipient: str, **extra) -> OutgoingMessage:
    shop = session.get(Shop, row.shop_id)
    name = shop.domain if shop is not None else ""
    return outgoing(row, recipient, plain_sender(name), extra=extra)


def _ttl(row: RelayRow, now: datetime) -> int:
    """Seconds the push service may hold the message: until the proposal's latest send time."""
    if row.latest_at is None:
        return 24 * 3600
    return max(60, int((row.latest_at - now).total_seconds()))


def prepare_push(
    session: Session, settings: Settings, row: RelayRow, now: datetime
) -> tuple[Channel, OutgoingMessage]:
    try:
        keys = push.vapid_keys(session, TokenCipher(settings.encryption_keys), row.shop_id)
    except (ChannelNotReady, ValueError) as exc:
        raise PermanentError(str(exc)) from exc
    targets = tuple(
        PushTarget(str(s.id), s.endpoint, s.p256dh, s.auth)
        for s in push.subscriptions_for(session, row.shop_id, row.shopper_key)
    )
    if not targets:
        raise PermanentError("the shopper has no push subscription")
    subject = push.vapid_subject(session, row.shop_id, settings.app_url)
    channel = PushChannel(keys.private_pem, subject)
    return channel, _message(session, row, row.shopper_key, subscriptions=targets, ttl=_ttl(row, now))


def prepare_onsite(
    session: Session, settings: Settings, row: RelayRow, now: datetime
) -> tuple[Channel, OutgoingMessage]:
    expires = row.latest_at or (row.send_at + ONSITE_DEFAULT_LIFE)
    message = _message(
        session,
        row,
        row.shopper_key,
        customer_id=row.customer_shopify_id,
        client_id=row.client_id,
        agent=row.agent,
        reason=row.reason,
        priority=5 if row.purpose == "transactional" else 0,
        expires_at=expires,
    )
    return OnsiteChannel(settings.database_url), message


PREPARE: dict[str, Callable[[Session, Settings, RelayRow, datetime], tuple[Channel, OutgoingMessage]]] = {
    "push": prepare_push,
    "onsite": prepare_onsite,
}


def forget_gone(session: Session, row: RelayRow, gone: Iterable[str]) -> None:
    """Delete what the provider said no longer exists (web push subscriptions answered 404/410)."""
    if row.channel == "push":
        push.forget(session, row.shop_id, [int(g) for g in gone if str(g).isdigit()])
