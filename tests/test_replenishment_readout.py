"""The replenishment agent's proof: repeat purchase and replenishment rates, treated vs holdout, with the
incremental difference and its interval (pure), and the admin endpoint that serves them for one shop."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.db import session_scope
from app.measurement.replenishment import REFERENCES, Reminder, readout
from app.models.commerce import Order, OrderLine
from app.models.messaging import MessageDecision
from app.models.shop import Shop
from tests.conftest import TEST_API_KEY, TEST_API_SECRET

NOW = datetime(2026, 9, 1, tzinfo=UTC)
T0 = NOW - timedelta(days=100)


def test_rates_per_arm_with_the_difference_and_its_interval():
    due = T0 + timedelta(days=5)
    reminders = [Reminder(c, c >= 5, T0, 11, due) for c in range(1, 9)]  # 1-4 treated, 5-8 held out
    reminders.append(
        Reminder(1, True, T0 + timedelta(days=1), 11, due)
    )  # a later decision: shopper 1 stays treated
    purchases = {
        1: [(T0 + timedelta(days=10), 11)],
        2: [(T0 + timedelta(days=18), 11)],
        3: [(T0 + timedelta(days=40), 11)],
        4: [(T0 + timedelta(days=3), 99)],  # another product: not a repeat of the reminded one
        5: [(T0 + timedelta(days=50), 11)],
        6: [(T0 - timedelta(days=1), 11)],  # before the decision: does not count
    }
    out = readout(reminders, purchases, NOW)
    assert out["shoppers"] == 8 and out["references"] == REFERENCES
    r30, r60 = out["repeat_purchase_30d"], out["repeat_purchase_60d"]
    assert r30["treatment"] == {"shoppers": 4, "rate": 0.5} and r30["holdout"] == {"shoppers": 4, "rate": 0.0}
    assert r60["treatment"]["rate"] == 0.75 and r60["holdout"]["rate"] == 0.25
    d = r60["difference"]
    assert d["estimate"] == 0.5 and d["low"] < 0.5 < d["high"] and d["low"] >= -1 and d["high"] <= 1
    assert out["replenishment"]["treatment"]["rate"] == 0.5  # by due + 14 days: shoppers 1 and 2
    assert out["replenishment"]["holdout"]["rate"] == 0.0
    assert r30["open_windows"] == 0 and out["repeat_purchase_90d"]["open_windows"] == 0


def test_no_reminders_yet():
    out = readout([], {}, NOW)
    assert out["shoppers"] == 0 and out["replenishment"]["difference"] is None


def _token(domain: str) -> str:
    now = int(time.time())
    claims = {"iss": f"https://{domain}/admin", "dest": f"https://{domain}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


@pytest.fixture
def shops(settings):
    with session_scope(settings.database_url) as s:
        ids = []
        for domain in ("refills.myshopify.com", "other.myshopify.com"):
            shop = Shop(domain=domain, access_token_enc="x", installed_at=datetime.now(UTC))
            s.add(shop)
            s.flush()
            ids.append(shop.id)
        now = datetime.now(UTC)
        for sid in ids:
            for cid, arm in ((1, "treatment"), (2, "holdout")):
                s.add(MessageDecision(shop_id=sid, agent="replenishment", shopper_key=f"customer:{cid}",
                                      customer_shopify_id=cid, purpose="marketing", action="send", arm=arm,
                                      channel="email", reason="r", proposal_reason="r", template="message",
                                      dedupe_key=f"replenish:11:{(now + timedelta(days=2)).date()}",
                                      decided_at=now - timedelta(days=20)))  # fmt: skip
        s.add(
            Order(shop_id=ids[0], shopify_id=5, customer_shopify_id=1, processed_at=now - timedelta(days=10))
        )
        s.add(OrderLine(shop_id=ids[0], shopify_id=6, order_shopify_id=5, product_shopify_id=11, quantity=1))
    return ids


def test_the_admin_readout_is_the_shops_own(client, shops):
    headers = {"Authorization": f"Bearer {_token('refills.myshopify.com')}"}
    r = client.get("/api/admin/replenishment", headers=headers)
    assert r.status_code == 200, r.json
    body = r.json
    assert body["shoppers"] == 2 and body["days"] == 180
    assert body["repeat_purchase_30d"]["treatment"]["rate"] == 1.0
    assert body["repeat_purchase_30d"]["holdout"]["rate"] == 0.0
    assert body["repeat_purchase_30d"]["open_windows"] == 2
    assert "seed" in body["references"]["replenishment_rate"]
    other = client.get(
        "/api/admin/replenishment", headers={"Authorization": f"Bearer {_token('other.myshopify.com')}"}
    )
    assert (
        other.json["repeat_purchase_30d"]["treatment"]["rate"] == 0.0
    )  # the first shop's order is not theirs
    assert client.get("/api/admin/replenishment?days=0", headers=headers).status_code == 400
    assert client.get("/api/admin/replenishment?days=x", headers=headers).status_code == 400
    assert client.get("/api/admin/replenishment").status_code == 401
