"""The e-mail shop the outbox tests share: a real SMTP server on loopback (aiosmtpd), a shop with e-mail set up
and one subscribed customer (7, in New York), a browse reminder for them, and deciding proposals through the
orchestrator as an agent job does. Test modules import the fixtures they use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.orchestrate import submit
from app.models.commerce import Customer
from app.models.messaging import ContactConsent, OutboxMessage
from app.models.shop import Shop
from app.orchestrator.proposal import Content, Proposal
from app.stores import outbox as outbox_store
from app.stores.channels import save_email_settings
from tests.messaging_support import make_proposal, no_holdout  # noqa: F401  (a fixture, re-exported)

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


@pytest.fixture
def shop_id(jobs_env, smtp, monkeypatch) -> int:
    """A shop with e-mail set up (sender, postal address, the loopback SMTP) and one subscribed customer."""
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain="mugs.myshopify.com")
        s.add(shop)
        s.flush()
        s.add(
            Customer(
                shop_id=shop.id,
                shopify_id=7,
                email="ann@example.com",
                first_name="Ann",
                default_address={"country_code": "US", "province_code": "NY"},
            )
        )
        s.add(
            ContactConsent(
                shop_id=shop.id,
                customer_shopify_id=7,
                channel="email",
                state="SUBSCRIBED",
                consent_updated_at=NOW - timedelta(days=30),
            )
        )
        save_email_settings(
            s,
            TokenCipher(jobs_env.encryption_keys),
            shop.id,
            {
                "shop_name": "Mugs & Co",
                "from_name": "Mugs & Co",
                "from_address": "hello@mugs.test",
                "postal_address": "1 Harbour St, Portland ME 04101",
            },
            smtp.url,
        )
        return shop.id


def proposal(shop_id: int, **kw) -> Proposal:
    content = Content(
        "message",
        {
            "subject": "Still thinking about the <b>Blue</b> mug?",
            "heading": "Your mug is waiting",
            "paragraphs": ["You looked at it twice <script>alert(1)</script>."],
            "products": [{"title": "Blue mug", "url": "https://mugs.test/products/blue", "price": "$12"}],
            "cta_url": "https://mugs.test/cart",
        },
    )
    return make_proposal(shop_id, NOW, **{"content": content, **kw})


def decide(settings, *proposals, now=NOW):
    with session_scope(settings.database_url) as s:
        decisions = submit(s, proposals[0].shop_id, list(proposals), now=now)
    with session_scope(settings.database_url) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return decisions, rows


def status(settings, outbox_id: int) -> OutboxMessage:
    with session_scope(settings.database_url) as s:
        return outbox_store.get(s, outbox_id)
