"""The channel interface every adapter implements, and the three ways a send can fail.

The relay needs to know one thing from a failure: did the provider possibly accept the message? ``Transient``
and ``Permanent`` errors happened before acceptance (retry, or fail, safely); ``Ambiguous`` means it may have
been accepted (marketing is then never re-sent automatically).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol


class SendError(Exception):
    """A send that did not complete; ``str(error)`` is the reason recorded on the outbox row. ``gone`` names
    the recipients the provider said no longer exist (web push 404/410): the relay forgets them."""

    gone: tuple[str, ...] = ()


class TransientError(SendError):
    """Not accepted, and worth another try (connection refused, throttled, 4xx, 5xx before acceptance)."""


class PermanentError(SendError):
    """Not accepted, and another try would fail the same way (bad address, refused content, no settings)."""


class AmbiguousError(SendError):
    """The connection broke after the message was handed over: the provider may have accepted it."""


@dataclass(frozen=True)
class Sender:
    """The merchant's identity on the message (CAN-SPAM: who sends it and their postal address)."""

    shop_name: str
    from_name: str
    from_address: str
    postal_address: str = ""
    reply_to: str | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    """One outbox row, ready for a channel: who it goes to and what to render."""

    outbox_id: int
    shop_id: int
    purpose: str  # marketing | transactional
    template: str
    data: Mapping[str, Any]
    recipient: str  # the channel's address: an e-mail address, a phone number, a subscription id
    sender: Sender
    unsubscribe_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """The provider accepted the message; ``provider_id`` is its id for it. ``gone``: as on ``SendError``
    (some of a shopper's browsers may be gone while another accepted)."""

    provider_id: str
    gone: tuple[str, ...] = ()


class Channel(Protocol):
    """A provider's adapter. One that can keep a connection open between messages (SMTP, Twilio's HTTP API)
    also has ``hold()``, a context manager: the sends inside it share one connection (``held_open``)."""

    name: str

    def send(self, message: OutgoingMessage) -> Accepted:
        """Deliver ``message`` to the provider, or raise a ``SendError`` subclass."""
        ...


def held_open(channel: Channel) -> AbstractContextManager[None]:
    """``channel.hold()`` where the adapter has one, else a block that changes nothing."""
    hold = getattr(channel, "hold", None)
    return hold() if callable(hold) else nullcontext()
