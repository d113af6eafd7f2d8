"""The message a channel adapter gets for one outbox row, and the Twilio client of a shop: the pieces every
channel's ``prepare`` in the relay (and the admin's test send) shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.channels.base import OutgoingMessage, Sender
from app.channels.sms import SmsChannel
from app.config import Settings
from app.models.messaging import OutboxMessage
from app.stores.sms import SmsSetup


def outgoing(
    row: OutboxMessage,
    recipient: str,
    sender: Sender,
    *,
    unsubscribe_url: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> OutgoingMessage:
    """``row`` as the adapter sees it: its purpose, template and data, to ``recipient`` from ``sender``."""
    return OutgoingMessage(
        outbox_id=row.id,
        shop_id=row.shop_id,
        purpose=row.purpose,
        template=row.template,
        data=row.data,
        recipient=recipient,
        sender=sender,
        unsubscribe_url=unsubscribe_url,
        extra=dict(extra or {}),
    )


def plain_sender(name: str) -> Sender:
    """A sender known by name only (SMS, push, on-site and Flow have no from-address)."""
    return Sender(shop_name=name, from_name=name, from_address="")


def sms_channel(settings: Settings, setup: SmsSetup) -> SmsChannel:
    """The shop's Twilio client (the API origin is the installation's: tests and the demo use the loopback)."""
    return SmsChannel(
        setup.account_sid,
        setup.auth_token,
        from_number=setup.from_number,
        messaging_service_sid=setup.messaging_service_sid,
        default_region=setup.default_region,
        api_base_url=settings.attune_twilio_api_url,
    )
