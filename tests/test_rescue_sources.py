"""After-session rescue beyond customers' checkouts, end to end: guest checkouts (an e-mail address, no account)
and known customers' carts that never reached checkout (the pixel's cart events) get the same recovery sequence
through the real ingress (webhooks, pixel), the rescue job, the orchestrator (holdout drawn first, consent) and
the relay, ending on a real SMTP server on loopback. A guest who did not tick the checkout's marketing box gets
nothing; a guest's one-click unsubscribe cancels the rest and survives a late checkout update; a purchase by the
guest's address stops it; carts of anonymous browsers, carts that reached checkout, emptied or bought carts are
not rescued."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.rescue import run_rescue
from app.models.commerce import Customer, Product, ProductVariant
from app.models.guests import GuestContact
from app.models.messaging import ContactConsent, MessageDecision, OutboxMessage
from app.models.serving import HoldoutPolicy
from app.models.shop import Shop
from app.stores.channels import save_email_settings
from app.stores.guests import guest_id
from app.stores.profiles import link_commerce_identity
from tests.email_support import SENDER
from tests.webhook_support import deliver, run_jobs

DOMAIN = "mugs.myshopify.com"
GUESTS = [f"guest{i}@example.com" for i in range(20)]
NO_CONSENT, BUYER = "nobox@example.com", "buyer@example.com"


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


def base_time() -> datetime:
    return (datetime.now(UTC) - timedelta(days=8)).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
def shop(jobs_env, smtp):
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain=DOMAIN, access_token_enc="x", installed_at=datetime.now(UTC))
        s.add(shop)
        s.flush()
        for pid, title in ((42, "Blue Mug"), (43, "Saucer")):
            s.add(
                Product(shop_id=shop.id, shopify_id=pid, title=title, handle=title.lower(), status="active")
            )
            s.add(ProductVariant(shop_id=shop.id, shopify_id=pid + 1000, product_shopify_id=pid,
                                 price=Decimal("12.00"), inventory_quantity=50))  # fmt: skip
        s.add(HoldoutPolicy(shop_id=shop.id, agent="global", share=0.0))
        s.add(HoldoutPolicy(shop_id=shop.id, agent="rescue", share=0.5))
        save_email_settings(s, TokenCipher(jobs_env.encryption_keys), shop.id, SENDER, smtp.url)
        s.flush()
        return s.get(Shop, shop.id)


def guest_checkout(email: str, at: datetime, *, accepts: bool = True, n: int = 0) -> dict:
    """A guest's checkouts/create payload: an e-mail address, no customer."""
    token = f"g-{email.split('@')[0]}-{n}"
    return {"id": abs(hash(token)) % 10**9, "token": token, "cart_token": f"c-{token}", "email": email,
            "buyer_accepts_marketing": accepts, "created_at": at.isoformat(), "updated_at": at.isoformat(),
            "completed_at": None, "currency": "USD", "total_price": "24.00",
            "abandoned_checkout_url": f"https://{DOMAIN}/1/checkouts/{token}/recover?key=k",
            "line_items": [{"product_id": 42, "variant_id": 1042, "quantity": 2, "title": "Blue Mug",
                            "price": "12.00"}]}  # fmt: skip


def _relay_all(shop_id: int, start: datetime, days: int = 7) -> None:
    for hours in range(0, 24 * days, 6):
        relay.relay_due(shop_id, "email", now=start + timedelta(hours=hours))


def test_guest_checkouts_get_a_sequence_only_with_the_checkouts_consent(client, jobs_env, shop, smtp):
    t0 = base_time()
    for email in GUESTS:
        assert deliver(client, "checkouts/create", guest_checkout(email, t0), shop=DOMAIN).status_code == 200
    deliver(client, "checkouts/create", guest_checkout(NO_CONSENT, t0, accepts=False), shop=DOMAIN)
    deliver(client, "checkouts/create", guest_checkout(BUYER, t0), shop=DOMAIN)
    order = {"id": 7_000_001, "name": "#1", "email": BUYER.upper(), "currency": "USD", "total_price": "24.00",
             "test": False, "created_at": (t0 + timedelta(minutes=30)).isoformat(),
             "processed_at": (t0 + timedelta(minutes=30)).isoformat(), "updated_at": t0.isoformat(),
             "line_items": []}  # fmt: skip
    deliver(client, "orders/create", order, shop=DOMAIN)
    run_jobs(jobs_env.redis_url, ("webhooks",))

    now = t0 + timedelta(hours=1, minutes=5)
    result = run_rescue(shop.id, now=now)
    assert result["sources"]["guest"] == len(GUESTS) + 2
    assert result["proposals"] == 3 * (len(GUESTS) + 1)  # the buyer's checkout is not abandoned
    assert run_rescue(shop.id, now=now + timedelta(minutes=10))["proposals"] == 0  # idempotent
    with session_scope(jobs_env.database_url) as s:
        firsts = [d for d in s.exec(select(MessageDecision)).all() if d.dedupe_key.endswith(":1")]
        contacts = {c.email: c for c in s.exec(select(GuestContact)).all()}
    assert all(d.customer_shopify_id is None and d.client_id.startswith("guest:") for d in firsts)
    assert all(d.features["source"] == "guest" for d in firsts)
    assert "@" not in "".join(d.client_id for d in firsts)  # the key names no address
    by_email = {
        e: next(d for d in firsts if d.client_id == guest_id(shop.id, e)) for e in [*GUESTS, NO_CONSENT]
    }
    assert by_email[NO_CONSENT].action in ("suppress", "hold_out")  # no consent: never a message
    assert contacts[NO_CONSENT].email_state == "NOT_SUBSCRIBED"
    treated = [e for e in GUESTS if by_email[e].arm == "treatment"]
    held = [e for e in GUESTS if by_email[e].arm == "holdout"]
    assert treated and held and all(by_email[e].action in ("send", "defer") for e in treated)

    # a treated guest unsubscribes from the first e-mail: the rest of their sequence is cancelled
    _relay_all(shop.id, now, days=1)
    first = next(m for m in smtp.messages if m.rcpt_tos[0] in treated)
    quitter = first.rcpt_tos[0]
    text = first.message.get_body(("plain",)).get_content()
    assert "/1/checkouts/g-" in text and "recover?key=k" in text
    link = first.message["List-Unsubscribe"].strip("<>").split(">")[0]
    path = "/" + link.split("/", 3)[3]
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    # a late update of the guest's checkout from before the unsubscribe does not subscribe them again
    deliver(client, "checkouts/update", guest_checkout(quitter, t0 + timedelta(minutes=1)), shop=DOMAIN)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    run_rescue(shop.id, now=now + timedelta(hours=2))
    _relay_all(shop.id, now, days=8)
    sent_to = [m.rcpt_tos[0] for m in smtp.messages]
    assert sent_to.count(quitter) == 1
    assert all(sent_to.count(e) == 3 for e in treated if e != quitter)  # at most three, all sent
    assert not any(e in sent_to for e in [*held, NO_CONSENT, BUYER])
    with session_scope(jobs_env.database_url) as s:
        statuses = [
            r.status for r in s.exec(select(OutboxMessage)).all() if r.client_id == guest_id(shop.id, quitter)
        ]
    assert sorted(statuses) == ["cancelled", "cancelled", "sent"]


def test_a_guest_who_buys_later_gets_no_more_reminders(client, jobs_env, shop, smtp):
    t0 = base_time()
    with session_scope(jobs_env.database_url) as s:
        s.exec(select(HoldoutPolicy)).all()
        for row in s.exec(select(HoldoutPolicy).where(HoldoutPolicy.agent == "rescue")).all():
            row.share = 0.0
            s.add(row)
    email = GUESTS[0]
    deliver(client, "checkouts/create", guest_checkout(email, t0), shop=DOMAIN)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    run_rescue(shop.id, now=t0 + timedelta(hours=2))
    _relay_all(shop.id, t0 + timedelta(hours=2), days=4)
    firsts = [m.rcpt_tos[0] for m in smtp.messages]
    assert 1 <= firsts.count(email) <= 2
    bought = t0 + timedelta(days=4, hours=1)
    order = {"id": 7_000_002, "name": "#2", "email": email, "currency": "USD", "total_price": "24.00",
             "test": False, "created_at": bought.isoformat(), "processed_at": bought.isoformat(),
             "updated_at": bought.isoformat(), "line_items": []}  # fmt: skip
    deliver(client, "orders/create", order, shop=DOMAIN)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    before = len(smtp.messages)
    _relay_all(shop.id, bought, days=4)
    with session_scope(jobs_env.database_url) as s:
        rows = s.exec(select(OutboxMessage)).all()
    assert len(smtp.messages) == before
    assert all(r.status in ("sent", "cancelled") for r in rows) and any(r.status == "cancelled" for r in rows)


# --- carts that never reached checkout ----------------------------------------------------------------------

CART_SHOPPERS = list(range(301, 313))
CHECKED_OUT, EMPTIED, BOUGHT = 320, 321, 322


def _ev(i: int, name: str, at: datetime, product: int, qty: int = 1) -> dict:
    variant = {"id": f"gid://shopify/ProductVariant/{product + 1000}", "title": "Default",
               "price": {"amount": 12.0, "currencyCode": "USD"},
               "product": {"id": f"gid://shopify/Product/{product}", "title": {42: "Blue Mug", 43: "Saucer"}[product]}}  # fmt: skip
    data = {} if name.startswith("checkout") else {"line": {"quantity": qty, "variant": variant}}
    return {"id": f"ev-{i}", "name": name, "timestamp": at.isoformat(), "context": {}, "data": data}


@pytest.fixture
def customers(jobs_env, shop):
    with session_scope(jobs_env.database_url) as s:
        for cid in [*CART_SHOPPERS, CHECKED_OUT, EMPTIED, BOUGHT]:
            s.add(
                Customer(shop_id=shop.id, shopify_id=cid, email=f"c{cid}@example.com", first_name=f"C{cid}")
            )
            s.add(ContactConsent(shop_id=shop.id, customer_shopify_id=cid, channel="email", state="SUBSCRIBED",
                                 consent_updated_at=datetime.now(UTC) - timedelta(days=30)))  # fmt: skip
        s.flush()
        for cid in [*CART_SHOPPERS, CHECKED_OUT, EMPTIED, BOUGHT]:  # signed in once: a verified link
            link_commerce_identity(s, shop.id, cid, client_id=f"web-{cid}")
    return shop


def _post(client, shop, client_id: str, events: list[dict]) -> None:
    body = {"shop": DOMAIN, "pixelKey": shop.pixel_key, "clientId": client_id, "events": events}
    assert client.post("/pixel/events", data=json.dumps(body), content_type="text/plain").status_code == 200


def test_known_shoppers_carts_without_a_checkout_get_the_sequence_with_a_cart_permalink(
    client, jobs_env, customers, smtp
):
    shop = customers
    t0 = (datetime.now(UTC) - timedelta(days=3)).replace(hour=11, minute=0, second=0, microsecond=0)
    n = 0
    for cid in [*CART_SHOPPERS, CHECKED_OUT, EMPTIED, BOUGHT]:
        events = [_ev(n, "product_added_to_cart", t0, 42, 2), _ev(n + 1, "product_removed_from_cart", t0 + timedelta(minutes=1), 42),
                  _ev(n + 2, "product_added_to_cart", t0 + timedelta(minutes=2), 43)]  # fmt: skip
        if cid == CHECKED_OUT:
            events.append(_ev(n + 3, "checkout_started", t0 + timedelta(minutes=3), 42))
        if cid == EMPTIED:
            events += [_ev(n + 3, "product_removed_from_cart", t0 + timedelta(minutes=3), 42),
                       _ev(n + 4, "product_removed_from_cart", t0 + timedelta(minutes=4), 43)]  # fmt: skip
        n += 10
        _post(client, shop, f"web-{cid}", events)
    _post(client, shop, "anonymous-browser", [_ev(999, "product_added_to_cart", t0, 42)])
    order = {"id": 7_100_000, "name": "#9", "email": f"c{BOUGHT}@example.com", "currency": "USD",
             "total_price": "12.00", "test": False, "customer": {"id": BOUGHT},
             "created_at": (t0 + timedelta(minutes=20)).isoformat(),
             "processed_at": (t0 + timedelta(minutes=20)).isoformat(),
             "updated_at": (t0 + timedelta(minutes=20)).isoformat(), "line_items": []}  # fmt: skip
    deliver(client, "orders/create", order, shop=DOMAIN)
    run_jobs(jobs_env.redis_url, ("webhooks", "default"))

    assert run_rescue(shop.id, now=t0 + timedelta(minutes=30))["proposals"] == 0  # not idle long enough
    now = t0 + timedelta(hours=1, minutes=5)
    result = run_rescue(shop.id, now=now)
    assert result["sources"]["cart"] == len(CART_SHOPPERS) + 1  # the buyer's cart is seen, and skipped
    assert result["proposals"] == 3 * len(CART_SHOPPERS)
    assert run_rescue(shop.id, now=now + timedelta(minutes=10))["proposals"] == 0
    with session_scope(jobs_env.database_url) as s:
        decisions = s.exec(select(MessageDecision)).all()
        rows = s.exec(select(OutboxMessage)).all()
    assert {d.customer_shopify_id for d in decisions} == set(CART_SHOPPERS)
    assert all(d.features["source"] == "cart" and "no checkout" in d.proposal_reason for d in decisions)
    arms = {d.customer_shopify_id: d.arm for d in decisions}
    treated = sorted(c for c, a in arms.items() if a == "treatment")
    held = sorted(c for c, a in arms.items() if a == "holdout")
    assert treated and held and sorted({r.customer_shopify_id for r in rows}) == treated
    assert all(r.data["cta_url"] == f"https://{DOMAIN}/cart/1042:1,1043:1" for r in rows)

    _relay_all(shop.id, now, days=8)
    sent_to = [m.rcpt_tos[0] for m in smtp.messages]
    assert all(sent_to.count(f"c{c}@example.com") == 3 for c in treated)
    assert not any(f"c{c}@example.com" in sent_to for c in [*held, CHECKED_OUT, EMPTIED, BOUGHT])
    text = smtp.messages[0].message.get_body(("plain",)).get_content()
    assert f"https://{DOMAIN}/cart/1042:1,1043:1" in text


def test_a_guests_redact_erases_their_address_consent_and_messages(client, jobs_env, shop, smtp):
    t0 = base_time()
    for email in GUESTS[:2]:
        deliver(client, "checkouts/create", guest_checkout(email, t0), shop=DOMAIN)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    run_rescue(shop.id, now=t0 + timedelta(hours=2))
    gone, kept = guest_id(shop.id, GUESTS[0]), guest_id(shop.id, GUESTS[1])
    redact = {"shop_id": 1, "shop_domain": DOMAIN, "customer": {"id": 999_001, "email": GUESTS[0].upper()},
              "orders_to_redact": []}  # fmt: skip
    assert deliver(client, "customers/redact", redact, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    with session_scope(jobs_env.database_url) as s:
        contacts = {c.guest_key for c in s.exec(select(GuestContact)).all()}
        decided = {d.client_id for d in s.exec(select(MessageDecision)).all()}
        queued = {r.client_id for r in s.exec(select(OutboxMessage)).all()}
    assert contacts == {kept} and gone not in decided and kept in decided and gone not in queued
