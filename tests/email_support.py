"""The e-mail shop the outbox tests share: a real SMTP server on loopback (aiosmtpd), a shop with e-mail set up
and one subscribed customer (7, in New York), a browse reminder for them, and deciding proposals through the
orchestrator as an agent job does. Test modules import the fixtures they use."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest

from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.models.messaging import OutboxMessage
from app.models.shop import Shop
from app.orchestrator.proposal import Content, Proposal
from app.stores import outbox as outbox_store
from app.stores.channels import save_email_settings
from tests.conftest import ROOT
from tests.messaging_support import add_subscribed_customer, decide_all, make_proposal, no_holdout  # noqa: F401  (a fixture, re-exported)

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
SENDER = {  # the e-mail settings a test shop saves: its name, sender and postal address
    "shop_name": "Mugs & Co",
    "from_name": "Mugs & Co",
    "from_address": "hello@mugs.test",
    "postal_address": "1 Harbour St, Portland ME 04101",
}  # 10:00 in New York


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
        add_subscribed_customer(s, shop.id, "email", NOW - timedelta(days=30), email="ann@example.com")
        save_email_settings(
            s,
            TokenCipher(jobs_env.encryption_keys),
            shop.id,
            SENDER,
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
    return decide_all(settings, list(proposals), now)


def status(settings, outbox_id: int) -> OutboxMessage:
    with session_scope(settings.database_url) as s:
        return outbox_store.get(s, outbox_id)


def kill_relay_mid_send(smtp: LoopbackSmtp, call: str) -> None:
    """Run ``call`` (a relay function call, e.g. ``relay_due(1, 'email', now=NOW)``; ``NOW`` is this module's) in
    a child process, hold the SMTP server's 250 for the first message it hands over, and SIGKILL the child then:
    the server has the message, the relay never heard it was accepted."""
    smtp.handler.hold = threading.Event()
    code = (
        "from datetime import datetime; from app.jobs.outbox import relay_due, relay_message; "
        f"NOW = datetime.fromisoformat({NOW.isoformat()!r}); {call}"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        assert smtp.handler.arrived.wait(60), "the relay never handed a message over"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        smtp.handler.hold.set()
