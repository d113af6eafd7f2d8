"""The control room's success table is cached per shop until its data changes: a second request reads no customer
and returns the very table a fresh computation gives at the same instant; a new order, a refund, a support
hand-off each make the next request compute afresh; another shop never gets it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from control_room_support import DAYS, GLOBAL_SHARE, seed_shop
from fixtures_shopify import InstalledShop, LiveApp, make_session_token

from app.channels.admin_words import Words
from app.db import session_scope
from app.models.base import utcnow
from app.models.commerce import Order, Refund
from app.models.feedback import SupportMessage
from app.stores import control_room_cache as cache

PATH = f"/api/admin/control-room?days={DAYS}"


def _get(live: LiveApp, shop: str):
    r = live.client().get(PATH, headers={"Authorization": f"Bearer {make_session_token(shop)}"})
    assert r.status_code == 200
    return r.json


def _as_served(table, body):
    """A freshly computed table as the endpoint serves it: its words written in (``text``), through JSON."""
    Words(body["locale"]).write_table(table, body["currency"])
    return json.loads(json.dumps(table))


@pytest.fixture
def seeded(installed_shop: InstalledShop, session):
    cache.clear()
    out = seed_shop(session, installed_shop.id, utcnow())
    session.commit()
    yield out
    cache.clear()


def test_cached_table_equals_a_fresh_one_and_new_data_refreshes_it(
    live_app: LiveApp, installed_shop: InstalledShop, seeded, monkeypatch
):
    first = _get(live_app, installed_shop.domain)
    hits, misses = cache.stats["hits"], cache.stats["misses"]
    reads = []
    real = cache.customer_facts
    monkeypatch.setattr(cache, "customer_facts", lambda *a, **k: reads.append(1) or real(*a, **k))
    second = _get(live_app, installed_shop.domain)
    assert cache.stats["hits"] == hits + 1 and cache.stats["misses"] == misses and not reads
    assert second["table"] == first["table"]  # served from the cache, measured_at included
    measured = first["table"]["measured_at"]
    with session_scope(live_app.settings.database_url) as s:  # a fresh computation at that same instant
        fresh = cache.compute_table(
            s, installed_shop.id, DAYS, datetime.fromisoformat(measured), GLOBAL_SHARE, ""
        )
    assert second["table"] == _as_served(fresh, second)

    buyer = next(c for c in seeded.held if c not in seeded.bought)
    before = next(r for r in first["table"]["rows"] if r["metric"] == "conversion_rate")["holdout"]["value"]

    def order(s):
        s.add(Order(shop_id=seeded.shop_id, shopify_id=99_001, customer_shopify_id=buyer, test=False,
                    processed_at=utcnow() - timedelta(hours=1), total_price=Decimal("40")))  # fmt: skip

    def refund(s):
        s.add(Refund(shop_id=seeded.shop_id, shopify_id=77_001, order_shopify_id=99_001, amount=Decimal("5")))

    def handoff(s):
        s.add(SupportMessage(shop_id=seeded.shop_id, conversation="c-new", customer_shopify_id=buyer,
                             role="assistant", text="A person will reply", escalated=True))  # fmt: skip

    changes = [order, refund, handoff]
    for change in changes:
        with session_scope(live_app.settings.database_url) as s:
            change(s)
        misses = cache.stats["misses"]
        body = _get(live_app, installed_shop.domain)
        assert cache.stats["misses"] == misses + 1  # the data changed: computed afresh
        with session_scope(live_app.settings.database_url) as s:
            fresh = cache.compute_table(
                s,
                installed_shop.id,
                DAYS,
                datetime.fromisoformat(body["table"]["measured_at"]),
                GLOBAL_SHARE,
                "",
            )
        assert body["table"] == _as_served(fresh, body)
    after = next(r for r in body["table"]["rows"] if r["metric"] == "conversion_rate")["holdout"]["value"]
    assert after > before  # the new order is in the table


def test_the_cache_expires_and_keys_by_shop(session, installed_shop: InstalledShop):
    cache.clear()
    seed_shop(session, installed_shop.id, utcnow(), n=60)
    session.commit()
    now = utcnow()
    clock = [0.0]
    one = cache.cached_table(session, installed_shop.id, DAYS, now, GLOBAL_SHARE, "", clock=lambda: clock[0])
    hits = cache.stats["hits"]
    assert (
        cache.cached_table(session, installed_shop.id, DAYS, now, GLOBAL_SHARE, "", clock=lambda: 1.0) == one
    )
    assert cache.stats["hits"] == hits + 1
    misses = cache.stats["misses"]
    later = now + timedelta(minutes=6)
    again = cache.cached_table(
        session, installed_shop.id, DAYS, later, GLOBAL_SHARE, "", clock=lambda: cache.TTL + 1
    )
    assert cache.stats["misses"] == misses + 1 and again["measured_at"] == later.isoformat()
    other = cache.cached_table(session, installed_shop.id + 1, DAYS, now, GLOBAL_SHARE, "", clock=lambda: 1.0)
    assert other["rows"][0]["treated"]["customers"] == 0  # another shop: nothing of this one
    cache.clear()
