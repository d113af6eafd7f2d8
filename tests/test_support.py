"""Support conversations on the storefront assistant: the agent's topics and answers, the app proxy endpoint
(signature, customer boundary, limits), the profile's support summary, GDPR export / erasure, and two shops
with the same customer ids staying apart."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from redis import Redis
from rq import Queue
from sqlmodel import Session, func, select

from app.agents.support import OrderFacts, ProductFacts, answer, classify
from app.config import Settings
from app.jobs.catalog import embed_shop_products
from app.models.feedback import SupportMessage
from app.models.messaging import ConversationMessage
from app.models.profiles import CustomerProfile
from app.models.shop import Shop
from app.shopify.verify import proxy_signature
from app.storefront.demo_data import DEMO_CUSTOMER, seed_demo_shop
from app.stores.activity import customer_thread
from app.stores.profiles import link_commerce_identity
from tests.conftest import TEST_API_SECRET

SHOP_A = "alpha-support.myshopify.com"
SHOP_B = "beta-support.myshopify.com"


@pytest.fixture
def shops(session: Session, jobs_env: Settings):
    return seed_demo_shop(session, SHOP_A), seed_demo_shop(session, SHOP_B)


def signed(path: str, params: dict | None = None, *, customer: int | None = None, shop: str = SHOP_A) -> str:
    pairs = list((params or {}).items()) + [
        ("shop", shop),
        ("logged_in_customer_id", str(customer or "")),
        ("path_prefix", "/apps/attune"),
        ("timestamp", str(int(time.time()))),
    ]
    pairs.append(("signature", proxy_signature(pairs, TEST_API_SECRET)))
    return f"/proxy{path}?{urlencode(pairs)}"


def ask(client, question: str, *, customer: int | None = None, client_id: str = "", shop: str = SHOP_A):
    params = {"client_id": client_id} if client_id else {}
    return client.post(signed("/support", params, customer=customer, shop=shop), json={"question": question})


def run_jobs(settings: Settings) -> None:
    """Run the queued jobs in this process, in order (the jobs an RQ worker would run)."""
    queue = Queue("default", connection=Redis.from_url(settings.redis_url))
    jobs = queue.get_jobs()
    assert jobs, "nothing was queued"
    for job in jobs:
        job.perform()
    queue.empty()


def profile(session: Session, shop_id: int, key: str) -> CustomerProfile | None:
    session.expire_all()
    return session.exec(
        select(CustomerProfile).where(CustomerProfile.shop_id == shop_id, CustomerProfile.customer_key == key)
    ).first()


def messages(session: Session, shop_id: int) -> list[SupportMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(SupportMessage).where(SupportMessage.shop_id == shop_id).order_by(SupportMessage.id)
        ).all()
    )


# --- the agent (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Where is my order?", "order_status"),
        ("has my parcel shipped yet", "order_status"),
        ("I want to return the boots", "returns"),
        ("can I get a refund", "returns"),
        ("please cancel my order", "order_change"),
        ("do you have a discount code?", "shop_info"),
        ("warm socks for winter hiking", "product"),
    ],
)
def test_questions_are_classified_by_topic(question, topic):
    assert classify(question) == topic


def test_answers_use_only_the_facts_given_and_escalate_honestly():
    order = OrderFacts("#1001", datetime(2026, 11, 20, tzinfo=UTC), "paid", "fulfilled", False, 2)
    reply = answer("where is my order", signed_in=True, order=order)
    assert not reply.escalated and reply.order == "#1001"
    assert reply.text == "Your latest order #1001 (2 items), placed on 20 Nov 2026, has shipped."
    anonymous = answer("where is my order", signed_in=False, order=order)
    assert not anonymous.escalated and "#1001" not in anonymous.text and "sign in" in anonymous.text
    assert "its number and the e-mail" in anonymous.text  # what a visitor may give instead of signing in
    assert answer("where is my order", signed_in=True, order=None).escalated
    refund = answer("I want a refund", signed_in=True, order=order)
    assert refund.escalated and "#1001" in refund.text and "a person from the shop will reply" in refund.text
    socks = ProductFacts(1002, "Merino Wool Hiking Socks", "/products/socks", "19.00", "USD")
    found = answer("warm socks", signed_in=False, products=[socks])
    assert not found.escalated and "Merino Wool Hiking Socks" in found.text
    assert answer("warm socks", signed_in=False, products=[]).escalated
    assert answer("warm socks", signed_in=False, products=None).reason == "product search is not available"


# --- the app proxy ------------------------------------------------------------------------------


def test_signed_in_customer_gets_their_latest_order_and_the_profile_summarises(
    client, session, shops, jobs_env
):
    a, b = shops
    response = ask(client, "Where is my order?", customer=DEMO_CUSTOMER)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["topic"] == "order_status" and body["escalated"] is False and body["order"] == "#7003"
    assert "#7003 (3 items)" in body["answer"] and "not shipped yet" in body["answer"]
    assert response.headers["Cache-Control"] == "no-store"
    second = ask(client, "I want to return the socks", customer=DEMO_CUSTOMER).json
    assert second["escalated"] is True and second["conversation"] == body["conversation"]
    turns = messages(session, a.shop_id)
    assert [(m.role, m.topic, m.customer_shopify_id) for m in turns] == [
        ("shopper", "order_status", DEMO_CUSTOMER),
        ("assistant", "order_status", DEMO_CUSTOMER),
        ("shopper", "returns", DEMO_CUSTOMER),
        ("assistant", "returns", DEMO_CUSTOMER),
    ]
    assert messages(session, b.shop_id) == []

    run_jobs(jobs_env)
    support = profile(session, a.shop_id, f"customer:{DEMO_CUSTOMER}").explicit["support"]
    assert support["conversations"] == 1 and support["questions"] == 2
    assert support["last_topic"] == "returns" and support["open_escalations"] == 1
    assert support["topics"] == {"order_status": 1, "returns": 1}
    # the same customer id in the other shop is another person: nothing of this reaches it
    other = profile(session, b.shop_id, f"customer:{DEMO_CUSTOMER}")
    assert other is None or not (other.explicit.get("support") or {}).get("questions")


def test_assistant_turns_join_the_shoppers_one_thread(client, session, shops):
    """The assistant's questions and answers sit in the same thread as the shopper's SMS, e-mail and Messenger
    turns (what the admin's customer conversation shows); an anonymous visitor's under their client id."""
    a, b = shops
    answer = ask(client, "Where is my order?", customer=DEMO_CUSTOMER).json
    ask(client, "Can I talk to a person?", customer=DEMO_CUSTOMER)
    ask(client, "warm socks", client_id="cl-9")
    thread = customer_thread(session, a.shop_id, DEMO_CUSTOMER)
    assert [(m["direction"], m["channel"], m["agent"]) for m in thread] == [
        ("in", "assistant", None),
        ("out", "assistant", "support"),
    ] * 2
    assert thread[0]["summary"] == "Where is my order?" and thread[1]["summary"] == answer["answer"][:512]
    assert "person" in thread[3]["reason"]
    assert customer_thread(session, b.shop_id, DEMO_CUSTOMER) == []  # the other shop's customer 1 is another
    visitor = session.exec(
        select(ConversationMessage).where(
            ConversationMessage.shop_id == a.shop_id, ConversationMessage.shopper_key == "client:cl-9"
        )
    ).all()
    assert [(m.direction, m.client_id, m.customer_shopify_id) for m in visitor] == [
        ("in", "cl-9", None),
        ("out", "cl-9", None),
    ]


def test_anonymous_visitor_gets_products_but_never_order_data(client, session, shops, jobs_env):
    a, _ = shops
    embed_shop_products(a.shop_id, jobs_env)
    body = ask(client, "where is my order #7003", client_id="cl-1").json  # a number without its e-mail
    assert body["escalated"] is False and body["order"] is None and "7003 (" not in body["answer"]
    assert "the e-mail it was placed with" in body["answer"]
    found = ask(client, "merino wool hiking socks", client_id="cl-1").json
    assert found["topic"] == "product" and found["escalated"] is False
    assert found["products"] and found["products"][0]["product_id"] == 1002
    assert all(m.client_id == "cl-1" and m.customer_shopify_id is None for m in messages(session, a.shop_id))
    run_jobs(jobs_env)
    support = profile(session, a.shop_id, "client:cl-1").explicit["support"]
    assert (
        support["questions"] == 2 and support["last_topic"] == "product" and support["open_escalations"] == 0
    )


def test_bad_requests_are_refused(client, session, shops, monkeypatch):
    a, _ = shops
    assert client.post("/proxy/support?shop=" + SHOP_A, json={"question": "hi"}).status_code == 401
    assert ask(client, "hello").status_code == 400  # neither a signed-in customer nor a client id
    assert client.post(signed("/support", {"client_id": "c"}), json={"q": "x"}).status_code == 400
    assert client.post(signed("/support", {"client_id": "c"}), json={"question": "  "}).status_code == 400
    assert ask(client, "x" * 2001, client_id="c").status_code == 413
    import app.stores.support as support_store

    monkeypatch.setattr(support_store, "HOURLY_LIMIT", 2)
    assert ask(client, "socks", client_id="c").status_code == 200
    assert ask(client, "socks", client_id="c").status_code == 200
    limited = ask(client, "socks", client_id="c")
    assert limited.status_code == 429 and "questions an hour" in limited.json["error"]
    assert len(messages(session, a.shop_id)) == 4


def test_questions_are_limited_per_client_address_whatever_client_id_is_sent(client, session, shops, app):
    """An anonymous shopper's client id is theirs to change: the address behind the proxy is limited too."""
    a, _ = shops
    app.extensions["attune.settings"] = app.extensions["attune.settings"].model_copy(
        update={"support_rate_ip_per_min": 3}
    )

    def ask_from(ip: str, client_id: str):
        path = signed("/support", {"client_id": client_id})
        return client.post(path, json={"question": "socks"}, headers={"X-Forwarded-For": f"{ip}, 10.0.0.1"})

    assert [ask_from("203.0.113.7", f"rotating-{i}").status_code for i in range(3)] == [200, 200, 200]
    refused = ask_from("203.0.113.7", "rotating-3")
    assert refused.status_code == 429 and "this address" in refused.json["error"]
    assert ask_from("198.51.100.4", "someone-else").status_code == 200  # another shopper is not held up
    assert len(messages(session, a.shop_id)) == 8  # the refused question was not recorded


# --- privacy ------------------------------------------------------------------------------------


def test_support_turns_are_exported_and_erased_with_the_anonymous_history(client, session, shops, jobs_env):
    from webhooks.handlers.compliance import customer_redact, data_request, shop_redact

    a, b = shops
    ask(client, "do you have a discount code", client_id="cl-9")  # before signing in
    ask(client, "where is my order", customer=DEMO_CUSTOMER)
    ask(client, "where is my order", customer=DEMO_CUSTOMER, shop=SHOP_B)
    link_commerce_identity(session, a.shop_id, DEMO_CUSTOMER, client_id="cl-9")
    session.commit()
    run_jobs(jobs_env)
    shop_a = session.exec(select(Shop).where(Shop.domain == SHOP_A)).one()
    shop_b = session.exec(select(Shop).where(Shop.domain == SHOP_B)).one()

    # the customer's profile summarises the anonymous turn too, once stitched
    from app.jobs.profiles import refresh_profile

    refresh_profile(a.shop_id, f"customer:{DEMO_CUSTOMER}")
    support = profile(session, a.shop_id, f"customer:{DEMO_CUSTOMER}").explicit["support"]
    assert support["questions"] == 2 and support["topics"] == {"order_status": 1, "shop_info": 1}

    payload = {"customer": {"id": DEMO_CUSTOMER}, "data_request": {"id": 5}}
    doc = json.loads(data_request(session, shop_a, payload, SimpleNamespace(id=None)).document)
    assert [m["role"] for m in doc["support_message"]] == ["shopper", "assistant"]
    before = doc["customer_model"]["support_messages_before_sign_in"]
    assert [m["text"] for m in before][0] == "do you have a discount code"

    customer_redact(session, shop_a, {"customer": {"id": DEMO_CUSTOMER}}, SimpleNamespace(id=None))
    session.commit()
    assert messages(session, a.shop_id) == []  # signed-in and stitched anonymous turns are gone
    assert len(messages(session, b.shop_id)) == 2  # the other shop's customer 501 keeps theirs
    shop_redact(session, shop_b, {}, SimpleNamespace(id=None))
    session.commit()
    count = session.exec(select(func.count()).select_from(SupportMessage)).one()
    assert count == 0
