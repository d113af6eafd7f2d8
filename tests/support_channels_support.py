"""Shared by the support agent's channel tests (Messenger / Instagram, inbound e-mail, help desks): the shop with
knowledge (``tests.test_support_knowledge``), its channels connected to loopback stand-ins, and a way to run the
queued jobs of one kind as a worker would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue

from app.channels.helpdesk_loopback import LoopbackHelpDesk
from app.channels.meta_loopback import LoopbackGraph
from app.config import get_settings
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.knowledge import sync_shop_knowledge
from app.stores.support_channels import save_helpdesk_settings, save_meta_settings

PAGE, INSTAGRAM, PAGE_TOKEN = "1122334455", "17841400000000", "EAAGpagetoken-0123456789"
APP_SECRET, VERIFY = "meta-app-secret-0123", "verify-me-please"
PERSON = "24681357900"
DESK_USER, DESK_TOKEN = "agent@mugs.test", "desk-token-0123456789"


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
