"""Shared by the SMS tests: a loopback Twilio, a shop with SMS set up and one SMS-subscribed customer, and
helpers to decide, relay and read back messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app.channels.sms_loopback import LoopbackTwilio
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.models.commerce import Customer
from app.models.messaging import ContactConsent, ConversationMessage, OutboxMessage
from app.models.shop import Shop
from app.orchestrator.proposal import Content, Proposal
from app.stores import outbox as outbox_store
from app.stores.sms import save_sms_settings
from tests.messaging_support import add_subscribed_customer, decide_all, make_proposal, no_holdout  # noqa: F401  (a fixture, re-exported)

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York
ACCOUNT = "AC" + "a1" * 16
TOKEN = "twilio-auth-token-0123456789abcdef"
SENDER = "+15005550006"
PHONE = "+14155552671"
DOMAIN = "mugs.myshopify.com"


@pytest.fixture
def twilio():
    with LoopbackTwilio({ACCOUNT: TOKEN}) as sink:
        yield sink


@pytest.fixture
def shop_id(jobs_env, twilio, monkeypatch) -> int:
    """A shop with SMS set up (the loopback as Twilio's API) and one SMS-subscribed customer in New York."""
    monkeypatch.setenv("ATTUNE_TWILIO_API_URL", twilio.url)
    get_settings.cache_clear()
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain=DOMAIN)
        s.add(shop)
        s.flush()
        add_subscribed_customer(s, shop.id, "sms", NOW - timedelta(days=30), phone=PHONE)
        save_sms_settings(
            s,
            TokenCipher(jobs_env.encryption_keys),
            shop.id,
            {"account_sid": ACCOUNT, "from_number": SENDER, "shop_name": "Mugs & Co", "default_region": "US"},
            TOKEN,
        )
        return shop.id


def proposal(shop_id: int, **kw) -> Proposal:
    kw.setdefault(
        "content", Content("message", {"sms_text": "The Blue mug is still here: https://mugs.test/p/blue"})
    )
    return make_proposal(shop_id, NOW, **{"channels": ("sms",), **kw})


def decide(settings, *proposals) -> OutboxMessage:
    return decide_all(settings, list(proposals), NOW)[1][-1]


def row_of(settings, outbox_id: int) -> OutboxMessage:
    with session_scope(settings.database_url) as s:
        return outbox_store.get(s, outbox_id)


def thread_rows(settings) -> list[ConversationMessage]:
    with session_scope(settings.database_url) as s:
        return list(s.exec(select(ConversationMessage).order_by(ConversationMessage.id)).all())


def sms_consent(settings, customer_id: int = 7) -> ContactConsent:
    with session_scope(settings.database_url) as s:
        return s.exec(
            select(ContactConsent).where(
                ContactConsent.customer_shopify_id == customer_id, ContactConsent.channel == "sms"
            )
        ).one()


def set_phone(settings, phone: str) -> None:
    with session_scope(settings.database_url) as s:
        customer = s.exec(select(Customer).where(Customer.shopify_id == 7)).one()
        customer.phone = phone
        s.add(customer)
