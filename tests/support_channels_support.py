"""Shared by the support agent's channel tests (Messenger / Instagram, inbound e-mail, SMS, help desks): the shop with
knowledge (``tests.test_support_knowledge``), its channels connected to loopback stand-ins, and a way to run the
queued jobs of one kind as a worker would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue

from app.channels.helpdesk_loopback import LoopbackHelpDesk
from app.channels.meta_loopback import LoopbackGraph
from app.channels.sms_loopback import LoopbackTwilio
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.knowledge import sync_shop_knowledge
from app.models.commerce import Customer
from app.stores.sms import save_sms_settings
from app.stores.support_channels import save_helpdesk_settings, save_meta_settings

PAGE, INSTAGRAM, PAGE_TOKEN = "1122334455", "17841400000000", "EAAGpagetoken-0123456789"
APP_SECRET, VERIFY = "meta-app-secret-0123", "verify-me-please"
PERSON = "24681357900"
DESK_USER, DESK_TOKEN = "agent@mugs.test", "desk-token-0123456789"
TWILIO_ACCOUNT, TWILIO_TOKEN, TWILIO_SENDER = (
    "AC" + "b2" * 16,
    "twilio-auth-token-support-0123456",
    "+15005550006",
)
VISITOR, ANN = "+14155550111", "+14155552671"  # a number that is no customer's; customer 7's


def run_jobs(settings, func_name: str) -> list[object]:
    """Perform the queued jobs named ``func_name`` (in order) and take them off the queue; their results."""
    queue = Queue("default", connection=Redis.from_url(settings.redis_url))
    results = []
    for job in queue.get_jobs():
        if job.func_name == func_name:
            results.append(job.perform())
            queue.remove(job)
    return results


def queued(settings) -> list[str]:
    return [j.func_name for j in Queue("default", connection=Redis.from_url(settings.redis_url)).get_jobs()]


@pytest.fixture
def graph() -> Iterator[LoopbackGraph]:
    with LoopbackGraph({PAGE: PAGE_TOKEN}) as stand_in:
        yield stand_in


@pytest.fixture
def zendesk() -> Iterator[LoopbackHelpDesk]:
    with LoopbackHelpDesk("zendesk", {"mugs": (DESK_USER, DESK_TOKEN)}) as stand_in:
        yield stand_in


@pytest.fixture
def meta_shop(knowledge_shop, live_app, graph, zendesk, monkeypatch):
    """The knowledge shop, synced, with its Page (and Instagram account) connected, Meta's Graph API and
    Zendesk as loopback stand-ins."""
    monkeypatch.setenv("ATTUNE_META_GRAPH_URL", graph.url)
    monkeypatch.setenv("ATTUNE_ZENDESK_URL", zendesk.url_template)
    get_settings.cache_clear()
    cfg = live_app.settings
    sync_shop_knowledge(knowledge_shop.id, cfg)
    with session_scope(cfg.database_url) as s:
        cipher = TokenCipher(cfg.encryption_keys)
        save_meta_settings(s, cipher, knowledge_shop.id, PAGE, INSTAGRAM,
                           {"page_token": PAGE_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY})  # fmt: skip
        save_helpdesk_settings(s, cipher, knowledge_shop.id, "zendesk", "mugs", DESK_USER, DESK_TOKEN)
    yield knowledge_shop
    get_settings.cache_clear()


@pytest.fixture
def twilio() -> Iterator[LoopbackTwilio]:
    with LoopbackTwilio({TWILIO_ACCOUNT: TWILIO_TOKEN}) as stand_in:
        yield stand_in


@pytest.fixture
def sms_shop(knowledge_shop, live_app, twilio, monkeypatch):
    """The knowledge shop, synced, with SMS set up on the loopback Twilio and Ann (customer 7) with a phone."""
    monkeypatch.setenv("ATTUNE_TWILIO_API_URL", twilio.url)
    get_settings.cache_clear()
    cfg = live_app.settings
    sync_shop_knowledge(knowledge_shop.id, cfg)
    with session_scope(cfg.database_url) as s:
        s.add(Customer(shop_id=knowledge_shop.id, shopify_id=7, first_name="Ann", phone=ANN))
        settings = {"account_sid": TWILIO_ACCOUNT, "from_number": TWILIO_SENDER, "shop_name": "Mugs & Co",
                    "default_region": "US"}  # fmt: skip
        save_sms_settings(s, TokenCipher(cfg.encryption_keys), knowledge_shop.id, settings, TWILIO_TOKEN)
    yield knowledge_shop
    get_settings.cache_clear()


def resolve_handoff(app_url: str, domain: str, client_id: str, note: str) -> int:
    """The merchant answers the one waiting hand-off of ``client_id`` from the admin; the answer's status."""
    import requests

    from tests.test_support_knowledge import admin

    waiting = requests.get(f"{app_url}/api/admin/support/escalations", headers=admin(domain), timeout=10)
    (handed,) = [e for e in waiting.json()["escalations"] if e["client_id"] == client_id]
    resolved = requests.post(
        f"{app_url}/api/admin/support/escalations/{handed['id']}/resolve",
        json={"note": note},
        headers=admin(domain),
        timeout=10,
    )
    return resolved.status_code
