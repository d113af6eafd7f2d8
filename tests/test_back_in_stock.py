"""Back in stock in production (issue 19): the app proxy's "notify me" (signed, validated, idempotent,
rate-limited), the job that tells waiting shoppers in batches capped by the units available, through the
orchestrator and the outbox to a loopback SMTP server, and the admin's counts."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlencode

import jwt
import pytest
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.jobs import outbox as relay
from app.jobs.back_in_stock import notify_back_in_stock
from app.models.back_in_stock import EXPIRED, HELD_OUT, NOTIFIED, WAITING, BackInStockRequest
from app.models.commerce import InventoryLevel, Order, OrderLine
from app.models.messaging import OutboxMessage
from app.shopify.verify import proxy_signature
from app.stores.back_in_stock import PER_SHOPPER_HOUR, record_request
from tests.back_in_stock_support import DOMAIN, ITEM, NOW, PRODUCT, SOLD, STOCKED, seed
from tests.conftest import TEST_API_KEY, TEST_API_SECRET


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


@pytest.fixture
def shop_id(jobs_env, session, smtp):
    return seed(session, jobs_env.encryption_keys, smtp.url)


def signed(params=None, *, customer=None, secret=TEST_API_SECRET, shop=DOMAIN):
    pairs = list((params or {}).items()) + [
        ("shop", shop), ("logged_in_customer_id", str(customer or "")), ("path_prefix", "/apps/attune"),
        ("timestamp", str(int(time.time()))),
    ]  # fmt: skip
    pairs.append(("signature", proxy_signature(pairs, secret)))
    return f"/proxy/back-in-stock?{urlencode(pairs)}"


def _ask(session, shop_id, n, at=NOW, variant=SOLD):
    for i in range(n):
        record_request(session, shop_id, variant, "email", f"s{i}@example.com", at + timedelta(minutes=i))
    session.commit()


def _stock(session, shop_id, available):
    level = session.exec(select(InventoryLevel).where(InventoryLevel.shop_id == shop_id,
                                                      InventoryLevel.inventory_item_id == ITEM[SOLD])).one()  # fmt: skip
    level.available = available
    session.add(level)
    session.commit()


def _statuses(session, shop_id):
    rows = session.exec(select(BackInStockRequest).where(BackInStockRequest.shop_id == shop_id)
                        .order_by(BackInStockRequest.requested_at)).all()  # fmt: skip
    for r in rows:
        session.refresh(r)
    return [r.status for r in rows]


def _relay_all(session, shop_id, now):
    rows = session.exec(select(OutboxMessage).where(OutboxMessage.shop_id == shop_id)).all()
    return [relay.relay_message(r.id, now=now) for r in rows if r.status == "pending"]


def test_proxy_records_a_request_once_and_refuses_bad_input_with_a_clear_4xx(client, shop_id, session):
    ok = client.post(signed({"client_id": "abc"}), json={"variant_id": SOLD, "email": " Ada@Example.COM "})
    assert ok.status_code == 201 and ok.json["created"] is True
    again = client.post(
        signed({"client_id": "abc"}), json={"variant_id": str(SOLD), "email": "ada@example.com"}
    )
    assert again.status_code == 200 and again.json["created"] is False  # idempotent
    (row,) = session.exec(select(BackInStockRequest)).all()
    assert row.address == "ada@example.com" and row.status == WAITING and row.consent_text
    cases = [
        ({"variant_id": SOLD, "email": "not-an-address"}, 400, "valid e-mail"),
        ({"variant_id": SOLD, "email": "a@b"}, 400, "valid e-mail"),
        ({"variant_id": SOLD, "channel": "sms", "phone": "12"}, 400, "valid mobile number"),
        ({"variant_id": SOLD, "channel": "fax", "email": "a@b.co"}, 400, "channel must be"),
        ({"variant_id": "x", "email": "a@b.co"}, 400, "variant_id"),
        ({"email": "a@b.co"}, 400, "variant_id is required"),
        ({"variant_id": 999, "email": "a@b.co"}, 404, "no such variant"),
        ({"variant_id": STOCKED, "email": "a@b.co"}, 409, "in stock"),
        ({"variant_id": SOLD, "channel": "push"}, 409, "notifications"),
        ({"variant_id": SOLD, "email": ["a@b.co"]}, 400, "email must be text"),
    ]
    for body, status, words in cases:
        answer = client.post(signed({"client_id": "abc"}), json=body)
        assert answer.status_code == status and words in answer.json["error"], (body, answer.json)
    assert client.post(signed(), data="[1, 2]", content_type="application/json").status_code == 400
    assert (
        client.post(signed(secret="forged-secret-0123456789abcdef"), json={"variant_id": SOLD}).status_code
        == 401
    )
    assert client.post(signed(shop="nobody.myshopify.com"), json={"variant_id": SOLD}).status_code == 403
    sms = client.post(signed(), json={"variant_id": SOLD, "channel": "sms", "phone": "+1 415 555 0123"})
    assert sms.status_code == 201
    assert (
        session.exec(select(BackInStockRequest.address).where(BackInStockRequest.channel == "sms")).one()
        == "+14155550123"
    )


def test_a_flood_is_rate_limited(client, shop_id):
    for i in range(PER_SHOPPER_HOUR):
        assert client.post(signed({"client_id": "flood"}), json={"variant_id": SOLD, "email": f"f{i}@example.com",
                                                                  }).status_code == 201  # fmt: skip
    # each address is its own anonymous shopper; one signed-in customer asking for many is one shopper
    for i in range(PER_SHOPPER_HOUR):
        assert (
            client.post(
                signed(customer=5), json={"variant_id": SOLD, "email": f"c{i}@example.com"}
            ).status_code
            == 201
        )
    refused = client.post(signed(customer=5), json={"variant_id": SOLD, "email": "more@example.com"})
    assert refused.status_code == 429 and "at most" in refused.json["error"]


def test_restock_tells_as_many_as_units_first_come_first_served(shop_id, session, smtp, jobs_env):
    _ask(session, shop_id, 5)
    assert notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1))["variants"] == 0  # still sold out
    _stock(session, shop_id, 3)
    later = NOW + timedelta(hours=2)
    result = notify_back_in_stock(shop_id, now=later)
    assert result["send"] == 3
    assert _statuses(session, shop_id) == [NOTIFIED] * 3 + [WAITING] * 2
    statuses = _relay_all(session, shop_id, later)
    session.expire_all()
    errors = [r.last_error for r in session.exec(select(OutboxMessage)).all()]
    assert statuses == ["sent"] * 3, errors
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "s0@example.com",
        "s1@example.com",
        "s2@example.com",
    ]
    mail = smtp.messages[0].message
    assert mail["Subject"] == "Wool Socks – Large is back in stock"
    text = mail.get_body(("plain",)).get_content()
    assert "https://bis.myshopify.com/products/wool-socks?variant=701" in text
    assert "the one message you asked for" in text
    # a rerun (or a retried job) tells nobody more: the three told still hold the three units
    assert "send" not in notify_back_in_stock(shop_id, now=later + timedelta(minutes=5))
    # s0 buys: one unit gone, one hold released; 2 left, 2 outstanding: still nobody
    _stock(session, shop_id, 2)
    oid = 91
    session.add(
        Order(
            shop_id=shop_id,
            shopify_id=oid,
            email="S0@example.com",
            processed_at=later + timedelta(minutes=30),
        )
    )
    session.add(OrderLine(shop_id=shop_id, shopify_id=92, order_shopify_id=oid, product_shopify_id=PRODUCT,
                          variant_shopify_id=SOLD, quantity=1, title="Wool Socks"))  # fmt: skip
    session.commit()
    result = notify_back_in_stock(shop_id, now=later + timedelta(hours=1))
    assert result["converted"] == 1 and "send" not in result
    # a day later the holds have passed: 2 units, 2 waiting: both told
    result = notify_back_in_stock(shop_id, now=later + timedelta(hours=25))
    assert result["send"] == 2 and _statuses(session, shop_id) == [NOTIFIED] * 5


def test_sold_out_again_stops_the_batches_and_old_requests_expire(shop_id, session):
    _ask(session, shop_id, 2)
    _stock(session, shop_id, 0)
    assert "send" not in notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1))
    assert notify_back_in_stock(shop_id, now=NOW + timedelta(days=91))["expired"] == 2
    _stock(session, shop_id, 5)
    assert "send" not in notify_back_in_stock(shop_id, now=NOW + timedelta(days=91, hours=1))
    assert _statuses(session, shop_id) == [EXPIRED, EXPIRED]


def test_held_out_shoppers_take_their_place_and_get_nothing(jobs_env, session, smtp):
    shop_id = seed(session, jobs_env.encryption_keys, smtp.url, holdout=1.0)
    _ask(session, shop_id, 3)
    _stock(session, shop_id, 2)
    result = notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1))
    assert result["hold_out"] == 2 and "send" not in result
    assert _statuses(session, shop_id) == [HELD_OUT, HELD_OUT, WAITING]
    assert session.exec(select(OutboxMessage)).all() == []


def test_a_place_the_budget_refuses_goes_to_the_next_in_line(shop_id, session, smtp):
    _ask(session, shop_id, 3)
    # s0 got a marketing e-mail an hour ago (another variant's back-in-stock): today's budget is used
    record_request(session, shop_id, SOLD, "email", "s0@example.com", NOW)  # same request: nothing new
    first = session.exec(select(BackInStockRequest).order_by(BackInStockRequest.requested_at)).first()
    session.commit()
    from app.models.messaging import MessageDecision

    d = MessageDecision(shop_id=shop_id, agent="journey", shopper_key=first.shopper_key, client_id=first.client_id,
                        purpose="marketing", action="send", arm="treatment", reason="r", proposal_reason="r",
                        dedupe_key="earlier", template="message")  # fmt: skip
    session.add(d)
    session.flush()
    session.add(OutboxMessage(shop_id=shop_id, decision_id=d.id, agent="journey", purpose="marketing", channel="email",
                              shopper_key=first.shopper_key, client_id=first.client_id, dedupe_key="earlier",
                              template="message", reason="r", proposed_at=NOW, send_at=NOW, status="sent",
                              sent_at=NOW, address="s0@example.com"))  # fmt: skip
    session.commit()
    _stock(session, shop_id, 1)
    result = notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1))
    assert result["suppress"] == 1 and result["send"] == 1
    assert _statuses(session, shop_id) == [WAITING, NOTIFIED, WAITING]


def _token():
    now = int(time.time())
    claims = {"iss": f"https://{DOMAIN}/admin", "dest": f"https://{DOMAIN}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


def test_admin_shows_waiting_told_and_conversion(client, shop_id, session):
    _ask(session, shop_id, 3)
    _stock(session, shop_id, 1)
    notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1))
    body = client.get(
        "/api/admin/inventory/back-in-stock", headers={"Authorization": f"Bearer {_token()}"}
    ).json
    (v,) = body["variants"]
    assert (v["variant_id"], v["title"], v["waiting"], v["notified"], v["converted"]) == (
        SOLD,
        "Wool Socks – Large",
        2,
        1,
        0,
    )
    assert body["totals"]["conversion_rate"] == 0.0
    assert client.get("/api/admin/inventory/back-in-stock").status_code == 401


def test_asking_again_after_being_told_is_a_new_round(shop_id, session, smtp):
    _ask(session, shop_id, 1)
    _stock(session, shop_id, 1)
    assert notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1))["send"] == 1
    _stock(session, shop_id, 0)  # sold out again; s0 asks again (a new consent for one more message)
    asked = record_request(session, shop_id, SOLD, "email", "s0@example.com", NOW + timedelta(days=2))
    session.commit()
    assert asked.created and _statuses(session, shop_id) == [WAITING]
    _stock(session, shop_id, 1)
    assert notify_back_in_stock(shop_id, now=NOW + timedelta(days=3))["send"] == 1
    keys = sorted(r.dedupe_key for r in session.exec(select(OutboxMessage)).all())
    assert len(keys) == 2 and len(set(keys)) == 2
