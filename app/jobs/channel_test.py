"""The Channels page's "send a test message": one transactional message through the shop's real adapter (SMTP,
Twilio) to the address the merchant typed, with the outcome recorded for the page to poll
(``app/stores/channel_tests.py``: sent with the provider's id, or failed with the reason).

A test is no shopper's message: it has no outbox row, no thread entry, counts toward no budget and is never
retried (the merchant presses the button again). A duplicate job for the same test sends nothing.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from app.channels.base import Accepted, Channel, OutgoingMessage, PermanentError, SendError
from app.channels.email import EmailChannel, SmtpTarget
from app.config import Settings, get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.outgoing import plain_sender, sms_channel
from app.stores import channel_tests
from app.stores import sms as sms_store
from app.stores.channels import ChannelNotReady, email_setup

log = logging.getLogger(__name__)

TEST_TEXT = "This is a test message from Attune: your {channel} settings work."


def _email(session: Session, settings: Settings, shop_id: int, test: dict) -> tuple[Channel, OutgoingMessage]:
    sender, smtp_url = email_setup(
        session, TokenCipher(settings.encryption_keys), shop_id, settings.attune_smtp_url
    )
    domain = sender.from_address.rpartition("@")[2] or "attune.invalid"
    message = OutgoingMessage(
        outbox_id=0,
        shop_id=shop_id,
        purpose="transactional",
        template="message",
        data={
            "subject": f"Test e-mail from {sender.shop_name}",
            "heading": "Your e-mail channel works",
            "paragraphs": [
                TEST_TEXT.format(channel="e-mail"),
                f"Sent as {sender.from_name} <{sender.from_address}>.",
            ],
        },
        recipient=test["recipient"],
        sender=sender,
        extra={"message_id": f"<test-{test['test_id']}.shop-{shop_id}@{domain}>"},
    )
    return EmailChannel(SmtpTarget.parse(smtp_url)), message


def _sms(session: Session, settings: Settings, shop_id: int, test: dict) -> tuple[Channel, OutgoingMessage]:
    setup = sms_store.sms_setup(session, TokenCipher(settings.encryption_keys), shop_id)
    channel = sms_channel(settings, setup)
    message = OutgoingMessage(
        outbox_id=0,
        shop_id=shop_id,
        purpose="transactional",
        template="message",
        data={"sms_text": f"{setup.shop_name}: " + TEST_TEXT.format(channel="SMS")},
        recipient=test["recipient"],
        sender=plain_sender(setup.shop_name),
    )
    return channel, message


PREPARE = {"email": _email, "sms": _sms}


def send_test_message(shop_id: int, test_id: str) -> str:
    """RQ job: send the shop's test ``test_id`` once; returns its status afterwards (or ``missing``)."""
    settings = get_settings()
    test = channel_tests.claim(settings.redis_url, shop_id, test_id)
    if test is None:
        current = channel_tests.get(settings.redis_url, shop_id, test_id)
        return current["status"] if current else "missing"
    outcome: Accepted | SendError
    try:
        prepare = PREPARE.get(test["channel"])
        if prepare is None:
            raise PermanentError(f"the {test['channel']} channel has no test message")
        with session_scope(settings.database_url) as session:
            channel, message = prepare(session, settings, shop_id, test)
        outcome = channel.send(message)
    except SendError as exc:
        outcome = exc
    except (ChannelNotReady, ValueError) as exc:  # not set up, a stored secret or URL that cannot be used
        outcome = PermanentError(str(exc))
    if isinstance(outcome, Accepted):
        done = channel_tests.finish(settings.redis_url, shop_id, test, provider_id=outcome.provider_id)
    else:
        done = channel_tests.finish(
            settings.redis_url, shop_id, test, error=str(outcome) or type(outcome).__name__
        )
    log.info("shop %s: %s test message %s", shop_id, test["channel"], done["status"])
    return done["status"]
