"""The Channels page's "send a test message": one transactional message through the shop's real adapter (SMTP,
Twilio, pywebpush, ``flowTriggerReceive``) to what the merchant chose (an address, a number, one subscribed
browser, one Flow trigger with its sample values), with the outcome recorded for the page to poll
(``app/stores/channel_tests.py``: sent with the provider's id, or failed with the reason). A push service's
404/410 deletes the subscription, as for any push.

A test is no shopper's message: it has no outbox row, no thread entry, counts toward no budget and is never
retried (the merchant presses the button again). A duplicate job for the same test sends nothing.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from app.channels import copy
from app.channels.base import Accepted, Channel, OutgoingMessage, PermanentError, SendError
from app.channels.email import EmailChannel, SmtpTarget
from app.channels.flow import FlowChannel, sample_data
from app.channels.i18n import negotiate
from app.channels.push import PushChannel, PushTarget
from app.config import Settings, get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.flow_relay import firer
from app.jobs.outgoing import plain_sender, sms_channel
from app.models.base import utcnow
from app.models.shop import Shop
from app.stores import channel_tests, locales
from app.stores import push as push_store
from app.stores import sms as sms_store
from app.stores.channels import ChannelNotReady, email_setup

log = logging.getLogger(__name__)


def _locale(session: Session, shop_id: int) -> str:
    """Tests are written in the shop's language (its primary locale, English without one)."""
    return negotiate(locales.shop_locale(session, shop_id))


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
        data=copy.test_email(
            sender.shop_name,
            sender.from_name,
            sender.from_address,
            utcnow().date(),
            _locale(session, shop_id),
        ),
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
        data={"sms_text": f"{setup.shop_name}: " + copy.test_text("sms", _locale(session, shop_id))},
        recipient=test["recipient"],
        sender=plain_sender(setup.shop_name),
    )
    return channel, message


def _push(session: Session, settings: Settings, shop_id: int, test: dict) -> tuple[Channel, OutgoingMessage]:
    keys = push_store.vapid_keys(session, TokenCipher(settings.encryption_keys), shop_id)
    row = push_store.for_test(session, shop_id, int(test["recipient"]))
    if row is None:
        raise PermanentError("the subscription is gone (the browser turned push off, or the service said so)")
    shop = session.get(Shop, shop_id)
    name = shop.domain if shop is not None else ""
    message = OutgoingMessage(
        outbox_id=0,
        shop_id=shop_id,
        purpose="transactional",
        template="message",
        data={
            "push_title": copy.test_push_title(name, _locale(session, shop_id)),
            "push_body": copy.test_text("push", _locale(session, shop_id)),
        },
        recipient=row.shopper_key,
        sender=plain_sender(name),
        extra={
            "subscriptions": (PushTarget(str(row.id), row.endpoint, row.p256dh, row.auth),),
            "ttl": 3600,
        },
    )
    subject = push_store.vapid_subject(session, shop_id, settings.app_url)
    return PushChannel(keys.private_pem, subject), message


def _flow(session: Session, settings: Settings, shop_id: int, test: dict) -> tuple[Channel, OutgoingMessage]:
    handle = test["recipient"]
    product = (int(test["product_id"]), test.get("product_title") or "") if test.get("product_id") else None
    message = OutgoingMessage(
        outbox_id=0,
        shop_id=shop_id,
        purpose="transactional",
        template=handle,
        data=sample_data(handle, utcnow().date(), product),
        recipient=str(test["customer_id"]),
        sender=plain_sender(""),
    )
    return FlowChannel(firer(settings, shop_id)), message


PREPARE = {"email": _email, "sms": _sms, "push": _push, "flow": _flow}


def _forget_gone(settings: Settings, shop_id: int, gone: tuple[str, ...]) -> None:
    """A push service's 404/410 for the test's browser: forget it, as the relay does."""
    if gone:
        with session_scope(settings.database_url) as session:
            push_store.forget(session, shop_id, [int(g) for g in gone if g.isdigit()])


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
    _forget_gone(settings, shop_id, outcome.gone)
    if isinstance(outcome, Accepted):
        done = channel_tests.finish(settings.redis_url, shop_id, test, provider_id=outcome.provider_id)
    else:
        done = channel_tests.finish(
            settings.redis_url, shop_id, test, error=str(outcome) or type(outcome).__name__
        )
    log.info("shop %s: %s test message %s", shop_id, test["channel"], done["status"])
    return done["status"]
