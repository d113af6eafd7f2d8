"""The message a channel adapter gets for one outbox row, the Twilio client of a shop, and what the rows of one
relay batch share: the pieces every channel's ``prepare`` in the relay (and the admin's test send) uses."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from sqlmodel import Session

from app.channels.base import OutgoingMessage, Sender
from app.channels.sms import SmsChannel
from app.config import Settings
from app.models.guests import GuestContact
from app.stores.channels import recipient_addresses
from app.stores.guests import guest_contacts, is_guest
from app.stores.outbox_rows import RelayRow
from app.stores.sms import SmsSetup

T = TypeVar("T")


def outgoing(
    row: RelayRow,
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


class BatchMemo:
    """What the rows of one relay batch share, read once: each shop's channel setup (``setup``; kept in
    ``setups`` when the caller passes one, so a relay run reads it once for all its batches) and the
    recipients' addresses (one query per shop and channel for every row of the batch, ``address``)."""

    def __init__(
        self, session: Session, rows: Sequence[RelayRow], setups: dict[Hashable, Any] | None = None
    ) -> None:
        self.session = session
        self.rows = rows
        self._setups: dict[Hashable, Any] = {} if setups is None else setups
        self._guests: dict[int, dict[str, GuestContact]] = {}
        self._addresses: dict[tuple[int, str], dict[int, str]] = {}

    def setup(self, key: Hashable, load: Callable[[], T]) -> T:
        """``load()`` the first time ``key`` is asked for, the same value after (a failure is not kept)."""
        if key not in self._setups:
            self._setups[key] = load()
        return self._setups[key]

    def address(self, row: RelayRow) -> str | None:
        """The row's recipient on its channel (an e-mail address or a phone number), or None: the address the
        shopper gave when they asked for this message, else their customer record's."""
        if row.address:
            return row.address
        if row.customer_shopify_id is None:
            if row.channel not in ("email", "sms") or not is_guest(row.client_id):
                return None
            if row.shop_id not in self._guests:
                self._guests[row.shop_id] = self._batch_guests(row.shop_id)
            guest = self._guests[row.shop_id].get(row.client_id)
            if guest is None:
                return None
            return guest.email if row.channel == "email" else guest.phone
        key = (row.shop_id, row.channel)
        if key not in self._addresses:
            ids = [
                r.customer_shopify_id
                for r in self.rows
                if (r.shop_id, r.channel) == key and r.customer_shopify_id
            ]
            self._addresses[key] = recipient_addresses(self.session, row.shop_id, ids, row.channel)
        return self._addresses[key].get(row.customer_shopify_id)

    def _batch_guests(self, shop_id: int) -> dict[str, GuestContact]:
        """The batch's guests of one shop (a guest checkout's address and number: ``app.stores.guests``)."""
        return guest_contacts(self.session, shop_id, (r.client_id for r in self.rows if r.shop_id == shop_id))
