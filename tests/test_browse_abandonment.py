"""Browse abandonment end to end: pixel events through the real ingress, folded into profiles, the hourly job
proposes, the orchestrator decides (holdout, consent, quiet hours in the browser's zone), the relay sends a
parsed e-mail to a real SMTP server on loopback, a second run sends nothing, and the admin's lift API has the
agent's row with both arms."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jwt
import pytest
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.browse_abandonment import run_browse_abandonment
from app.models.commerce import Customer, Order, Product, ProductVariant
from app.models.events import PixelEvent
from app.models.messaging import ContactConsent, MessageDecision, OutboxMessage
from app.models.profiles import CustomerProfile
from app.models.serving import HoldoutPolicy, RecommendationList
from app.models.shop import Shop
from app.stores.channels import save_email_settings
from app.stores.profiles import link_commerce_identity
from tests.conftest import TEST_API_KEY, TEST_API_SECRET
from tests.webhook_support import run_jobs

DOMAIN = "mugs.myshopify.com"
SHOPPERS = list(range(101, 109))  # eight customers who looked at the Blue Mug twice
CARTED, BOUGHT = 120, 121  # who also put it in the cart / bought something after looking


def _zone_at_noon(now: datetime) -> str:
    """An ``Etc/GMT`` zone in which ``now`` is between 12:00 and 13:00, so the test never meets quiet hours."""
    offset = 12 - now.hour  # -11 .. +12
    return f"Etc/GMT{-offset:+d}"


def _token() -> str:
    now = int(time.time())
    claims = {"iss": f"https://{DOMAIN}/admin", "dest": f"https://{DOMAIN}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


def _event(i: int, name: str, at: datetime, product: int) -> dict:
    variant = {"id": str(product + 1000), "price": {"amount": 12.0, "currencyCode": "USD"},
               "product": {"id": f"gid://shopify/Product/{product}", "title": "Blue Mug"}}  # fmt: skip
    data = {"variant": variant} if name == "product_viewed" else {"line": {"quantity": 1, "variant": variant}}
    return {"id": f"ev-{i}", "name": name, "timestamp": at.isoformat(), "context": {}, "data": data}


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


@pytest.fixture
def shop(jobs_env, smtp):
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain=DOMAIN, access_token_enc="x", installed_at=datetime.now(UTC))
        s.add(shop)
        s.flush()
        for pid, title in ((42, "Blue Mug"), (43, "Saucer"), (45, "Tea")):
            s.add(Product(shop_id=shop.id, shopify_id=pid, title=title, handle=title.lower().replace(" ", "-"),
                          status="active"))  # fmt: skip
            s.add(ProductVariant(shop_id=shop.id, shopify_id=pid + 1000, product_shopify_id=pid,
                                 price=Decimal("12.00"), inventory_quantity=5))  # fmt: skip
        s.add(RecommendationList(shop_id=shop.id, scope="product", subject="42", placement="fbt",
                                 strategy="cooccurrence", items=[{"product_id": 43}, {"product_id": 45}]))  # fmt: skip
        for cid in [*SHOPPERS, CARTED, BOUGHT]:
            s.add(
                Customer(shop_id=shop.id, shopify_id=cid, email=f"c{cid}@example.com", first_name=f"C{cid}")
            )
            s.add(ContactConsent(shop_id=shop.id, customer_shopify_id=cid, channel="email", state="SUBSCRIBED",
                                 consent_updated_at=datetime.now(UTC) - timedelta(days=30)))  # fmt: skip
        s.add(HoldoutPolicy(shop_id=shop.id, agent="browse_abandonment", share=0.5))
        save_email_settings(
            s,
            TokenCipher(jobs_env.encryption_keys),
            shop.id,
            {
                "shop_name": "Mugs & Co",
                "from_name": "Mugs & Co",
                "from_address": "hello@mugs.test",
                "postal_address": "1 Harbour St, Portland ME 04101",
            },  # fmt: skip
            smtp.url,
        )
        s.flush()
        for cid in [*SHOPPERS, CARTED, BOUGHT]:  # signed in on the storefront once: a verified link
            link_commerce_identity(s, shop.id, cid, client_id=f"web-{cid}")
        return s.get(Shop, shop.id)


def test_two_views_become_one_reminder_email_and_a_lift_row(client, jobs_env, shop, smtp):
    now = datetime.now(UTC).replace(microsecond=0)
    zone = _zone_at_noon(now)
    n = 0
    for cid in [*SHOPPERS, CARTED, BOUGHT]:
        events = [_event(n, "product_viewed", now - timedelta(days=2), 42),
                  _event(n + 1, "product_viewed", now - timedelta(days=1), 42)]  # fmt: skip
        if cid == CARTED:
            events.append(_event(n + 2, "product_added_to_cart", now - timedelta(days=1, minutes=-1), 42))
        n += 3
        body = {"shop": DOMAIN, "pixelKey": shop.pixel_key, "clientId": f"web-{cid}", "timeZone": zone,
                "events": events}  # fmt: skip
        assert (
            client.post("/pixel/events", data=json.dumps(body), content_type="text/plain").status_code == 200
        )
    with session_scope(jobs_env.database_url) as s:
        s.add(Order(shop_id=shop.id, shopify_id=9001, customer_shopify_id=BOUGHT, test=False,
                    processed_at=now - timedelta(hours=20), total_price=Decimal("30.00"), currency="USD"))  # fmt: skip
    run_jobs(jobs_env.redis_url, ("default",))  # fold the pixel events into the customers' profiles

    result = run_browse_abandonment(shop.id, now=now)
    assert result["proposals"] == len(SHOPPERS)  # not the one who carted it, not the one who bought
    with session_scope(jobs_env.database_url) as s:
        decisions = s.exec(select(MessageDecision).order_by(MessageDecision.customer_shopify_id)).all()
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    arms = {d.customer_shopify_id: d.arm for d in decisions}
    treated = sorted(c for c, arm in arms.items() if arm == "treatment")
    held = sorted(c for c, arm in arms.items() if arm == "holdout")
    assert set(arms) == set(SHOPPERS) and treated and held  # both arms drawn at 50 %
    assert all(d.action == "hold_out" for d in decisions if d.arm == "holdout")
    assert all(
        d.action == "send" and d.channel == "email" and d.timezone == zone
        for d in decisions
        if d.arm == "treatment"
    )
    assert sorted(r.customer_shopify_id for r in rows) == treated

    for row in rows:
        assert relay.relay_message(row.id, now=now) == "sent"
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [f"c{c}@example.com" for c in treated]
    msg = smtp.messages[0].message
    assert msg["Subject"] == "Still thinking about Blue Mug?"
    text = msg.get_body(("plain",)).get_content()
    assert "Saucer" in text and "Tea" in text and f"https://{DOMAIN}/products/blue-mug" in text
    # the viewed product first, then the heading over the two that go with it (not over the viewed one)
    html = msg.get_body(("html",)).get_content()
    for body, item in ((text, "- {}"), (html, ">{}</a>")):
        viewed, rest = (
            body.index(item.format("Blue Mug")),
            [body.index(item.format(t)) for t in ("Saucer", "Tea")],
        )
        assert body.count("go well with it") == 1 and viewed < body.index("go well with it") < min(rest)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    again = run_browse_abandonment(shop.id, now=now + timedelta(hours=1))
    assert again["proposals"] == 0  # one reminder per shopper and product, ever
    with session_scope(jobs_env.database_url) as s:
        assert len(s.exec(select(MessageDecision)).all()) == len(SHOPPERS)

    # a treated shopper buys after the reminder: the admin's lift has the agent, both arms, intention to treat
    with session_scope(jobs_env.database_url) as s:
        s.add(Order(shop_id=shop.id, shopify_id=9002, customer_shopify_id=treated[0], test=False,
                    processed_at=datetime.now(UTC), total_price=Decimal("12.00"), currency="USD"))  # fmt: skip
    r = client.get("/api/admin/lift", headers={"Authorization": f"Bearer {_token()}"})
    assert r.status_code == 200
    (row,) = [a for a in r.json["agents"] if a["agent"] == "browse_abandonment"]
    assert row["treatment"]["shoppers"] == len(treated) and row["holdout"]["shoppers"] == len(held)
    assert row["treatment"]["converters"] == 1 and row["holdout"]["converters"] == 0
    assert row["placement"] is None and row["verdict"]["status"]
    # per channel: every one of them (held out too) would have been e-mailed
    (email,) = row["placements"]
    assert (email["placement"], email["channel"]) == ("email_messages", "email")
    assert email["treatment"]["shoppers"] == len(treated) and email["holdout"]["shoppers"] == len(held)
    assert row["holdout_share"] == 0.5


def test_with_enough_randomised_exposures_only_shoppers_with_predicted_gain_are_contacted(jobs_env, shop):
    """A reminder helped Champions (35 % vs 5 % converted) and put off Hibernating shoppers (2 % vs 15 %) in
    this shop's own experiment: the agent's uplift model proposes the Champion and not the Hibernating one,
    although both left the same product the same way."""
    now = datetime.now(UTC).replace(microsecond=0)
    past = now - timedelta(days=10)
    rng = random.Random(3)
    cid = 5000
    with session_scope(jobs_env.database_url) as s:
        for segment, rates in (("Champions", (0.35, 0.05)), ("Hibernating", (0.02, 0.15))):
            for arm, rate in zip(("treatment", "holdout"), rates, strict=True):
                for _ in range(220):
                    cid += 1
                    s.add(MessageDecision(shop_id=shop.id, agent="browse_abandonment", shopper_key=f"customer:{cid}",
                                          customer_shopify_id=cid, purpose="marketing", arm=arm,
                                          action="send" if arm == "treatment" else "hold_out", reason="r",
                                          proposal_reason="r", dedupe_key=f"browse:{cid}", template="message",
                                          features={"segment": segment, "orders": 2.0}, decided_at=past))  # fmt: skip
                    if rng.random() < rate:
                        s.add(Order(shop_id=shop.id, shopify_id=100000 + cid, customer_shopify_id=cid, test=False,
                                    processed_at=past + timedelta(days=2), total_price=Decimal("10.00")))  # fmt: skip
        for who, segment in ((9001, "Champions"), (9002, "Hibernating")):
            s.add(Customer(shop_id=shop.id, shopify_id=who, email=f"c{who}@example.com"))
            s.add(ContactConsent(shop_id=shop.id, customer_shopify_id=who, channel="email", state="SUBSCRIBED",
                                 consent_updated_at=now - timedelta(days=30)))  # fmt: skip
            s.add(CustomerProfile(shop_id=shop.id, customer_key=f"customer:{who}", customer_shopify_id=who,
                                  derived={"rfm": {"value": segment}}, explicit={"orders": {"count": 2}}))  # fmt: skip
            link_commerce_identity(s, shop.id, who, client_id=f"web-{who}")
            for n, days in enumerate((2, 1)):
                s.add(PixelEvent(shop_id=shop.id, event_id=f"v-{who}-{n}", client_id=f"web-{who}",
                                 name="product_viewed", occurred_at=now - timedelta(days=days),
                                 data={"variant": {"product": {"id": "gid://shopify/Product/42"}}}))  # fmt: skip

    result = run_browse_abandonment(shop.id, now=now)
    assert result["targeting"] == "uplift model"
    assert result["proposals"] == 1 and result["no_predicted_gain"] == 1
    with session_scope(jobs_env.database_url) as s:
        (decided,) = s.exec(select(MessageDecision).where(MessageDecision.decided_at == now)).all()
    assert decided.customer_shopify_id == 9001 and decided.features["segment"] == "Champions"
    assert decided.expected_value > 0.003 * 12.0  # its own predicted uplift, above the prior


def test_before_enough_exposures_every_candidate_gets_the_prior(jobs_env, shop):
    now = datetime.now(UTC).replace(microsecond=0)
    with session_scope(jobs_env.database_url) as s:
        link_commerce_identity(s, shop.id, 101, client_id="web-101")
        for n, days in enumerate((2, 1)):
            s.add(PixelEvent(shop_id=shop.id, event_id=f"p-{n}", client_id="web-101", name="product_viewed",
                             occurred_at=now - timedelta(days=days),
                             data={"variant": {"product": {"id": "gid://shopify/Product/42"}}}))  # fmt: skip
    result = run_browse_abandonment(shop.id, now=now)
    assert result["targeting"] == "prior" and result["proposals"] == 1
    with session_scope(jobs_env.database_url) as s:
        (decided,) = s.exec(select(MessageDecision)).all()
    assert decided.expected_value == pytest.approx(0.003 * 12.0)
    assert decided.features["segment"] == "unknown" and decided.features["orders"] == 0.0
