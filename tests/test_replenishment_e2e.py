"""Replenishment end to end (issue 17): two past orders → the nightly forecast → the agent's proposal → the
orchestrator → the relay sends a real e-mail to a loopback SMTP server → its reorder link, opened on the local
storefront over HTTP, fills the cart with the shopper's usual variant and quantity."""

from __future__ import annotations

import re
import urllib.request
from urllib.parse import urlparse

import pytest
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.jobs import outbox as relay
from app.jobs.replenishment import forecast_shop, run_replenishment
from app.models.messaging import OutboxMessage
from app.models.serving import HoldoutPolicy
from app.storefront.local import LocalStorefront
from app.stores.channels import save_email_settings
from tests.conftest import TEST_API_SECRET
from tests.test_replenishment_job import BIG_PACK, NOW, seed


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


def test_two_orders_become_a_reminder_whose_link_restores_the_cart(app, session, settings, jobs_env, smtp):
    sid = seed(session)
    session.add(HoldoutPolicy(shop_id=sid, agent="replenishment", share=0.0))  # everyone treated here
    session.add(HoldoutPolicy(shop_id=sid, agent="global", share=0.0))  # the global holdout too
    save_email_settings(
        session,
        TokenCipher(jobs_env.encryption_keys),
        sid,
        {
            "shop_name": "Attune Demo",
            "from_name": "Attune Demo",
            "from_address": "hello@demo.test",
            "postal_address": "1 Harbour St, Portland ME 04101",
        },  # fmt: skip
        smtp.url,
    )
    session.commit()
    forecast_shop(sid, settings, now=NOW)
    run_replenishment(sid, now=NOW)
    (row,) = session.exec(
        select(OutboxMessage).where(OutboxMessage.customer_shopify_id == 1, OutboxMessage.channel == "email")
    ).all()
    assert relay.relay_message(row.id, now=NOW) == "sent"
    (mail,) = [m for m in smtp.messages if m.rcpt_tos == ["s1@example.com"]]
    assert mail.message["Subject"] == "Running low on Trail Energy Bars (12 pack)?"
    text = mail.message.get_body(("plain",)).get_content()
    assert "you usually reorder every 2 weeks; last order 15 days ago" in text
    (link,) = set(re.findall(r"https://attune-demo\.myshopify\.com/cart/[0-9:,]+", text))
    with LocalStorefront(app, "attune-demo.myshopify.com", settings.database_url, TEST_API_SECRET) as shop:
        answer = urllib.request.urlopen(shop.url + urlparse(link).path)  # follows the redirect
        assert answer.status == 200 and answer.url == shop.url + "/cart"
        answer.close()
    assert shop.cart_posts == [[{"id": BIG_PACK, "quantity": 1}]]
