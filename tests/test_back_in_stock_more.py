"""Back in stock (issue 19), the edges: the unsubscribe link of a message sent to an address only, the GDPR
erasure of requests, which webhooks queue the job, and two tellers at once telling nobody twice."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from redis import Redis
from rq import Queue
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.jobs import outbox as relay
from app.jobs.back_in_stock import notify_back_in_stock, sweep_back_in_stock
from app.models.back_in_stock import NOTIFIED, WAITING, WITHDRAWN, BackInStockRequest
from app.models.commerce import InventoryLevel
from app.models.messaging import OutboxMessage
from app.models.shop import Shop
from app.stores.back_in_stock import record_request
from tests.back_in_stock_support import ITEM, NOW, PRODUCT, SOLD, STOCKED, seed
from webhooks.handlers.compliance import customer_redact
from webhooks.handlers.inventory import level_changed
from webhooks.handlers.products import product_changed


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


@pytest.fixture
def shop_id(jobs_env, session, smtp):
    return seed(session, jobs_env.encryption_keys, smtp.url)


def _level(session, shop_id, variant, available):
    row = session.exec(select(InventoryLevel).where(InventoryLevel.shop_id == shop_id,
                                                    InventoryLevel.inventory_item_id == ITEM[variant])).one()  # fmt: skip
    row.available = available
    session.add(row)
    session.commit()


def _status(session, shop_id):
    session.expire_all()
    rows = session.exec(select(BackInStockRequest).where(BackInStockRequest.shop_id == shop_id)).all()
    return {(r.address, r.variant_shopify_id): r.status for r in rows}


def _queued(jobs_env):
    return Queue("default", connection=Redis.from_url(jobs_env.redis_url)).job_ids


def test_the_unsubscribe_link_of_an_address_only_message_withdraws_its_other_requests(
    client, shop_id, session, smtp
):
    _level(session, shop_id, STOCKED, 0)  # both variants sold out; ada waits for both
    for variant in (SOLD, STOCKED):
        record_request(session, shop_id, variant, "email", "ada@example.com", NOW)
    session.commit()
    _level(session, shop_id, SOLD, 1)
    assert notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1))["send"] == 1
    (row,) = session.exec(select(OutboxMessage)).all()
    assert row.address == "ada@example.com" and row.customer_shopify_id is None
    assert relay.relay_message(row.id, now=NOW + timedelta(hours=1)) == "sent"
    (mail,) = smtp.messages
    link = re.search(r"<(https://attune\.test/unsubscribe/[^>]+)>", mail.message["List-Unsubscribe"]).group(1)
    path = urlparse(link).path
    assert client.get(path).status_code == 200
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert _status(session, shop_id) == {
        ("ada@example.com", SOLD): NOTIFIED,
        ("ada@example.com", STOCKED): WITHDRAWN,
    }
    _level(session, shop_id, STOCKED, 4)
    assert "send" not in notify_back_in_stock(shop_id, now=NOW + timedelta(hours=30))
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.post(tampered, data={"List-Unsubscribe": "One-Click"}).status_code == 400


def test_customer_redact_deletes_requests_made_with_the_customers_address(shop_id, session):
    record_request(session, shop_id, SOLD, "email", "gone@example.com", NOW)
    record_request(session, shop_id, SOLD, "sms", "+1 415 555 0123", NOW)
    record_request(session, shop_id, SOLD, "email", "stays@example.com", NOW)
    session.commit()
    shop = session.get(Shop, shop_id)
    customer_redact(
        session,
        shop,
        {"customer": {"id": 5, "email": "Gone@Example.com", "phone": "+1 (415) 555-0123"}},
        None,
    )
    session.commit()
    assert list(_status(session, shop_id)) == [("stays@example.com", SOLD)]


def test_stock_webhooks_queue_the_job_only_when_someone_waits(jobs_env, shop_id, session):
    shop = session.get(Shop, shop_id)
    queue = Queue("default", connection=Redis.from_url(jobs_env.redis_url))
    level = {
        "inventory_item_id": ITEM[SOLD],
        "location_id": 1,
        "available": 3,
        "updated_at": "2030-01-01T00:00:00Z",
    }
    level_changed(session, shop, level, None)
    session.commit()
    assert f"back-in-stock-{shop_id}" not in _queued(jobs_env)  # nobody waits
    _level(session, shop_id, SOLD, 0)
    record_request(session, shop_id, SOLD, "email", "bo@example.com", NOW)
    session.commit()
    product = {"id": PRODUCT, "title": "Wool Socks", "handle": "wool-socks", "updated_at": "2030-01-01T02:00:00Z",
               "variants": [{"id": SOLD, "product_id": PRODUCT, "title": "Large", "inventory_quantity": 2}]}  # fmt: skip
    product_changed(session, shop, product, None)
    assert f"back-in-stock-{shop_id}" not in _queued(jobs_env)  # not before the commit
    session.commit()
    assert f"back-in-stock-{shop_id}" in _queued(jobs_env)
    queue.empty()
    level_changed(session, shop, {**level, "available": 0, "updated_at": "2030-01-01T01:00:00Z"}, None)
    session.commit()
    assert f"back-in-stock-{shop_id}" in _queued(jobs_env)  # a sell-out matters too (deferred messages)
    queue.empty()
    assert sweep_back_in_stock() == 1  # the hourly sweep queues it too (one waiting job per shop)


def test_a_deferred_message_is_recalled_when_the_variant_sells_out_again(shop_id, session, smtp):
    for i in range(2):
        record_request(session, shop_id, SOLD, "email", f"s{i}@example.com", NOW + timedelta(minutes=i))
    session.commit()
    _level(session, shop_id, SOLD, 1)
    night = NOW.replace(hour=23)  # the shop's zone is UTC: quiet hours until 08:00
    assert notify_back_in_stock(shop_id, now=night)["defer"] == 1
    (row,) = session.exec(select(OutboxMessage)).all()
    assert row.status == "pending" and row.send_at == (NOW + timedelta(days=1)).replace(hour=8)
    _level(session, shop_id, SOLD, 0)  # sold out again before 08:00
    assert notify_back_in_stock(shop_id, now=night + timedelta(hours=2))["recalled"] == 1
    session.expire_all()
    assert session.get(OutboxMessage, row.id).status == "cancelled"
    assert (
        relay.relay_message(row.id, now=NOW + timedelta(days=1, hours=-3)) == "cancelled"
        and not smtp.messages
    )
    assert _status(session, shop_id) == {("s0@example.com", SOLD): WAITING, ("s1@example.com", SOLD): WAITING}
    _level(session, shop_id, SOLD, 1)  # back the next day: s0 is still first in line, under a new round
    assert notify_back_in_stock(shop_id, now=NOW + timedelta(days=1))["send"] == 1
    assert _status(session, shop_id)[("s0@example.com", SOLD)] == NOTIFIED
    assert (
        relay.relay_message(
            max(r.id for r in session.exec(select(OutboxMessage))), now=NOW + timedelta(days=1)
        )
        == "sent"
    )
    assert [m.rcpt_tos for m in smtp.messages] == [["s0@example.com"]]


def test_two_tellers_at_once_tell_nobody_twice(jobs_env, shop_id, session):
    for i in range(6):
        record_request(session, shop_id, SOLD, "email", f"s{i}@example.com", NOW + timedelta(minutes=i))
    session.commit()
    _level(session, shop_id, SOLD, 4)
    results, errors = [], []

    def teller():
        try:
            results.append(notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1)))
        except Exception as exc:  # SQLite: the loser's write fails and its job would be retried
            errors.append(exc)

    threads = [threading.Thread(target=teller) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:  # the retry of the one that lost
        assert jobs_env.database_url.startswith("sqlite")
        results.append(notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1)))
    assert sum(r.get("send", 0) for r in results) == 4
    assert sorted(_status(session, shop_id).values()) == [NOTIFIED] * 4 + [WAITING] * 2
    assert len(session.exec(select(OutboxMessage)).all()) == 4


def test_an_sms_request_is_texted_to_the_number_given_through_the_loopback_twilio(
    jobs_env, shop_id, session, monkeypatch
):
    from app.channels.sms_loopback import LoopbackTwilio
    from app.config import get_settings
    from app.crypto import TokenCipher
    from app.stores.sms import save_sms_settings

    account, token = "AC" + "b2" * 16, "twilio-auth-token-0123456789abcdef"
    with LoopbackTwilio({account: token}) as twilio:
        monkeypatch.setenv("ATTUNE_TWILIO_API_URL", twilio.url)
        get_settings.cache_clear()
        save_sms_settings(session, TokenCipher(jobs_env.encryption_keys), shop_id,
                          {"account_sid": account, "from_number": "+15005550006", "shop_name": "Sock Shop",
                           "default_region": "US"}, token)  # fmt: skip
        record_request(session, shop_id, SOLD, "sms", "(415) 555-2671", NOW, region="US")
        session.commit()
        _level(session, shop_id, SOLD, 1)
        assert notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1))["send"] == 1
        (row,) = session.exec(select(OutboxMessage)).all()
        assert (row.channel, row.address, row.customer_shopify_id) == ("sms", "+14155552671", None)
        assert relay.relay_message(row.id, now=NOW + timedelta(hours=1)) == "sent"
        (sms,) = twilio.messages
    assert sms.to == "+14155552671"
    assert "Wool Socks – Large is back in stock" in sms.body
    assert "https://bis.myshopify.com/products/wool-socks?variant=701" in sms.body and "STOP" in sms.body


def test_a_push_request_is_pushed_to_the_browser_that_asked(jobs_env, shop_id, session):
    """A browser that turned on this shop's notifications asks by push (its client id, no address): the restock
    pushes the message to that browser's subscription, encrypted and signed, and to no one else."""
    from app.channels.push_loopback import LoopbackPush
    from app.crypto import TokenCipher
    from app.stores import push as push_store

    with LoopbackPush() as service:
        key = push_store.ensure_vapid(session, TokenCipher(jobs_env.encryption_keys), shop_id)
        sub = service.new_subscription(application_server_key=key)
        push_store.subscribe(session, shop_id, sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"],
                             customer_id=None, client_id="browser-1")  # fmt: skip
        asked = record_request(session, shop_id, SOLD, "push", "", NOW, client_id="browser-1")
        session.commit()
        assert asked.created and asked.request.address == "client:browser-1"
        _level(session, shop_id, SOLD, 3)
        assert notify_back_in_stock(shop_id, now=NOW + timedelta(hours=1))["send"] == 1
        (row,) = session.exec(select(OutboxMessage)).all()
        assert (row.channel, row.shopper_key) == ("push", "client:browser-1")
        assert relay.relay_message(row.id, now=NOW + timedelta(hours=1)) == "sent"
        (got,) = service.received
    assert got.vapid_key == key
    assert "Wool Socks – Large is back in stock" in got.json()["title"]
    assert got.json()["url"] == "https://bis.myshopify.com/products/wool-socks?variant=701"
    assert _status(session, shop_id) == {("client:browser-1", SOLD): NOTIFIED}
