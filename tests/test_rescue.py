"""Checkout rescue end to end: signed checkouts/create webhooks through the real ingress, mirrored by the worker,
the rescue job proposes a sequence per abandoned checkout, the orchestrator decides (holdout drawn first), the
relay sends a parsed e-mail with the recovery link to a real SMTP server on loopback; a purchase (orders/create
webhook) stops the sequence, held-out checkouts are never sent, and re-runs send nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from app.agents.rescue import DELAYS, delay_arm
from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.rescue import run_rescue
from app.models.commerce import Checkout, Product, ProductVariant
from app.models.messaging import MessageDecision, OutboxMessage
from app.models.serving import HoldoutPolicy
from app.models.shop import Shop
from app.stores.channels import save_email_settings
from tests.conftest import FIXTURES, needs_shared
from tests.email_support import SENDER
from tests.messaging_support import add_subscribed_customer
from tests.webhook_support import deliver, run_jobs

DOMAIN = "mugs.myshopify.com"
CUSTOMERS = list(range(201, 231))


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


def base_time() -> datetime:
    """Yesterday, 12:00 UTC: inside the default allowed hours (the shop's zone is UTC), and in the past."""
    return (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
def shop(jobs_env, smtp):
    """Thirty customers subscribed to e-mail, one product, the sender on the SMTP sink, a 50 % rescue holdout."""
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain=DOMAIN, access_token_enc="x", installed_at=datetime.now(UTC))
        s.add(shop)
        s.flush()
        s.add(Product(shop_id=shop.id, shopify_id=42, title="Blue Mug", handle="blue-mug", status="active"))
        s.add(ProductVariant(shop_id=shop.id, shopify_id=1042, product_shopify_id=42, price=Decimal("12.00"),
                             inventory_quantity=50))  # fmt: skip
        for cid in CUSTOMERS:  # no address: the shop's zone (UTC) decides their hours
            add_subscribed_customer(s, shop.id, "email", datetime.now(UTC) - timedelta(days=30), cid,
                                    email=f"c{cid}@example.com", default_address=None)  # fmt: skip
        s.add(HoldoutPolicy(shop_id=shop.id, agent="rescue", share=0.5))
        save_email_settings(s, TokenCipher(jobs_env.encryption_keys), shop.id, SENDER, smtp.url)
        s.flush()
        return s.get(Shop, shop.id)


def checkout_payload(cid: int, at: datetime, *, recovery: bool = True, token: str | None = None) -> dict:
    """A checkouts/create payload shaped like Shopify's sample (the fields the mirror reads)."""
    token = token or f"tok-{cid}"
    return {
        "id": 9_000_000 + cid,
        "token": token,
        "cart_token": f"cart-{cid}",
        "email": f"c{cid}@example.com",
        "created_at": at.isoformat(),
        "updated_at": at.isoformat(),
        "completed_at": None,
        "currency": "USD",
        "total_price": "24.00",
        "abandoned_checkout_url": f"https://{DOMAIN}/1/checkouts/{token}/recover?key=k{cid}" if recovery else None,
        "line_items": [{"product_id": 42, "variant_id": 1042, "quantity": 2, "title": "Blue Mug", "price": "12.00"}],
        "customer": {"id": cid, "email": f"c{cid}@example.com", "updated_at": (at - timedelta(days=60)).isoformat()},
    }  # fmt: skip


def order_payload(cid: int, at: datetime) -> dict:
    return {"id": 7_000_000 + cid, "name": f"#{cid}", "email": f"c{cid}@example.com", "currency": "USD",
            "total_price": "24.00", "subtotal_price": "24.00", "total_discounts": "0.00", "test": False,
            "created_at": at.isoformat(), "processed_at": at.isoformat(), "updated_at": at.isoformat(),
            "checkout_token": f"tok-{cid}", "cart_token": f"cart-{cid}", "customer": {"id": cid},
            "line_items": [{"id": 8_000_000 + cid, "product_id": 42, "variant_id": 1042, "quantity": 2,
                            "price": "12.00", "title": "Blue Mug"}]}  # fmt: skip


def _decisions(url: str, step: int | None = None) -> list[MessageDecision]:
    with session_scope(url) as s:
        rows = s.exec(select(MessageDecision).order_by(MessageDecision.id)).all()
    return [d for d in rows if step is None or d.dedupe_key.endswith(f":{step}")]


def test_abandoned_checkouts_get_a_sequence_stopped_by_purchase_never_for_holdout(
    client, jobs_env, shop, smtp
):
    t0 = base_time() - timedelta(hours=2)
    for cid in CUSTOMERS:
        assert deliver(client, "checkouts/create", checkout_payload(cid, t0), shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    with session_scope(jobs_env.database_url) as s:
        assert len(s.exec(select(Checkout).where(Checkout.shop_id == shop.id)).all()) == len(CUSTOMERS)

    assert run_rescue(shop.id, now=t0 + timedelta(minutes=30))["proposals"] == 0  # not abandoned yet
    now = t0 + timedelta(hours=1, minutes=5)
    result = run_rescue(shop.id, now=now)
    assert result["proposals"] == 3 * len(CUSTOMERS)
    firsts = _decisions(jobs_env.database_url, 1)
    arms = {d.customer_shopify_id: d.arm for d in firsts}
    treated = sorted(c for c, a in arms.items() if a == "treatment")
    held = sorted(c for c, a in arms.items() if a == "holdout")
    assert treated and held and set(arms) == set(CUSTOMERS)
    delays = {d.customer_shopify_id: d.features["delay_h"] for d in firsts}
    assert all(
        delays[c] == int(DELAYS[delay_arm(shop.id, f"tok-{c}")].total_seconds() // 3600) for c in CUSTOMERS
    )
    assert set(delays.values()) == {1, 24, 72}  # every timing arm drawn (30 checkouts)
    assert all(d.action == "hold_out" for d in _decisions(jobs_env.database_url) if d.arm == "holdout")
    with session_scope(jobs_env.database_url) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert sorted({r.customer_shopify_id for r in rows}) == treated and len(rows) == 3 * len(treated)

    # the 1 h arm is due now: one e-mail each, with Shopify's recovery URL
    one_hour = [c for c in treated if delays[c] == 1]
    assert relay.relay_due(shop.id, "email", now=now)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [f"c{c}@example.com" for c in one_hour]
    msg = smtp.messages[0].message
    assert msg["Subject"] == "You left Blue Mug in your cart"
    text = msg.get_body(("plain",)).get_content()
    cid = int(msg["To"].split("@")[0].split("c")[-1])
    assert f"https://{DOMAIN}/1/checkouts/tok-{cid}/recover?key=k{cid}" in text

    # retries send nothing twice: the job proposes nothing new, the relay finds nothing due
    assert run_rescue(shop.id, now=now + timedelta(minutes=10))["proposals"] == 0
    relay.relay_due(shop.id, "email", now=now + timedelta(minutes=10))
    assert len(smtp.messages) == len(one_hour)

    # a treated shopper buys: the rest of their sequence is cancelled, the others' goes on
    buyer = one_hour[0]
    bought_at = now + timedelta(hours=2)
    assert deliver(client, "orders/create", order_payload(buyer, bought_at), shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    later = t0 + timedelta(days=6)
    for hours in range(0, 24 * 6, 6):
        relay.relay_due(shop.id, "email", now=now + timedelta(hours=hours))
    relay.relay_due(shop.id, "email", now=later)
    sent_to = [m.rcpt_tos[0] for m in smtp.messages]
    assert sent_to.count(f"c{buyer}@example.com") == 1
    others = [c for c in treated if c != buyer]
    assert all(sent_to.count(f"c{c}@example.com") == 3 for c in others)  # at most three, all sent
    assert not any(f"c{c}@example.com" in sent_to for c in held)
    with session_scope(jobs_env.database_url) as s:
        statuses = {
            r.dedupe_key: r.status
            for r in s.exec(select(OutboxMessage)).all()
            if r.customer_shopify_id == buyer
        }
    assert statuses == {f"rescue:tok-{buyer}:1": "sent", f"rescue:tok-{buyer}:2": "cancelled",
                        f"rescue:tok-{buyer}:3": "cancelled"}  # fmt: skip


def test_cart_permalink_when_the_checkout_has_no_recovery_url_and_bought_checkouts_are_not_rescued(
    client, jobs_env, shop, smtp
):
    t0 = base_time() - timedelta(hours=30)
    no_url, bought = CUSTOMERS[0], CUSTOMERS[1]
    for cid in (no_url, bought):
        deliver(client, "checkouts/create", checkout_payload(cid, t0, recovery=False), shop=DOMAIN)
    deliver(client, "orders/create", order_payload(bought, t0 + timedelta(minutes=20)), shop=DOMAIN)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    result = run_rescue(shop.id, now=t0 + timedelta(hours=2))
    assert result["checkouts"] == 2 and result["proposals"] == 3
    with session_scope(jobs_env.database_url) as s:
        decisions = s.exec(select(MessageDecision)).all()
    assert {d.customer_shopify_id for d in decisions} == {no_url}
    links = {d.dedupe_key: d for d in decisions}
    assert all(d.features["checkout_token"] == f"tok-{no_url}" for d in links.values())
    with session_scope(jobs_env.database_url) as s:
        outbox = s.exec(select(OutboxMessage)).all()
    for row in outbox:
        assert row.content["data"]["cta_url"] == f"https://{DOMAIN}/cart/1042:2"


def test_bad_checkout_deliveries_are_refused_or_ignored_never_a_500(client, jobs_env, shop):
    payload = checkout_payload(CUSTOMERS[0], base_time())
    body = json.dumps(payload).encode()
    bad_sig = client.post("/webhooks", data=body, headers={"X-Shopify-Topic": "checkouts/create",
                          "X-Shopify-Shop-Domain": DOMAIN, "X-Shopify-Hmac-Sha256": "AAAA",
                          "X-Shopify-Event-Id": "e1", "Content-Type": "application/json"})  # fmt: skip
    assert bad_sig.status_code == 401
    assert deliver(client, "checkouts/create", b"{not json", shop=DOMAIN).status_code == 400
    odd = {"token": None, "line_items": "nope", "customer": "x"}
    assert deliver(client, "checkouts/update", odd, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    assert run_rescue(shop.id, now=base_time() + timedelta(hours=3))["proposals"] == 0


@needs_shared(FIXTURES / "webhooks" / "checkouts__create.json")
def test_shopifys_sample_checkout_is_rescued_with_its_recovery_url(client, jobs_env, shop):
    sample = json.loads((FIXTURES / "webhooks" / "checkouts__create.json").read_text())
    sample["updated_at"] = sample["created_at"] = (base_time() - timedelta(hours=3)).isoformat()
    assert deliver(client, "checkouts/create", sample, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    run_rescue(shop.id, now=base_time())
    decisions = _decisions(jobs_env.database_url)
    assert len(decisions) == 3 and {d.customer_shopify_id for d in decisions} == {sample["customer"]["id"]}
    assert "recovery URL" in decisions[0].proposal_reason


def test_the_ladder_never_points_at_a_product_out_of_stock(client, jobs_env, shop, smtp):
    """A checkout whose product sells out after its sequence was decided: the relay cancels the scheduled
    messages instead of sending them; a checkout abandoned while it is sold out is not proposed at all. No
    e-mail either way."""
    with session_scope(jobs_env.database_url) as s:
        rescue = s.exec(select(HoldoutPolicy).where(HoldoutPolicy.shop_id == shop.id)).one()
        rescue.share = 0.0  # everyone treated
        s.add(rescue)
        s.add(HoldoutPolicy(shop_id=shop.id, agent="global", share=0.0))
    t0 = base_time() - timedelta(hours=2)
    first, second = CUSTOMERS[:2]
    assert deliver(client, "checkouts/create", checkout_payload(first, t0), shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    now = t0 + timedelta(hours=1, minutes=5)
    assert run_rescue(shop.id, now=now)["proposals"] == 3
    with session_scope(jobs_env.database_url) as s:
        assert [r.status for r in s.exec(select(OutboxMessage))] == ["pending"] * 3
        variant = s.exec(select(ProductVariant).where(ProductVariant.shop_id == shop.id)).one()
        variant.inventory_quantity = 0  # the Blue Mug sells out
        s.add(variant)
    for hours in range(0, 24 * 6, 6):
        relay.relay_due(shop.id, "email", now=now + timedelta(hours=hours))
    assert smtp.messages == []
    with session_scope(jobs_env.database_url) as s:
        rows = s.exec(select(OutboxMessage)).all()
    assert [(r.status, r.last_error) for r in rows] == [
        ("cancelled", "out of stock since it was decided: product 42")
    ] * 3

    later = t0 + timedelta(hours=1)
    answer = deliver(client, "checkouts/create", checkout_payload(second, later), shop=DOMAIN)
    assert answer.status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    assert run_rescue(shop.id, now=later + timedelta(hours=1, minutes=5))["proposals"] == 0
    assert not [d for d in _decisions(jobs_env.database_url) if d.customer_shopify_id == second]
    assert smtp.messages == []


def test_a_checkout_holding_a_sold_out_variant_waits_for_its_restock(client, jobs_env, shop, smtp):
    """The Blue Mug has another variant in stock, so the product is sellable, but the checkout's own variant is
    sold out: no sequence (its link would restore a cart that cannot be bought); once that variant is back, the
    next run proposes it."""
    with session_scope(jobs_env.database_url) as s:
        s.add(ProductVariant(shop_id=shop.id, shopify_id=2042, product_shopify_id=42, price=Decimal("14.00"),
                             inventory_quantity=8))  # fmt: skip
        mug = s.exec(select(ProductVariant).where(ProductVariant.shopify_id == 1042)).one()
        mug.inventory_quantity = 0
        s.add(mug)
    t0 = base_time() - timedelta(hours=2)
    cid = CUSTOMERS[0]
    assert deliver(client, "checkouts/create", checkout_payload(cid, t0), shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    now = t0 + timedelta(hours=1, minutes=5)
    result = run_rescue(shop.id, now=now)
    assert result["checkouts"] == 1 and result["proposals"] == 0 and _decisions(jobs_env.database_url) == []
    with session_scope(jobs_env.database_url) as s:
        mug = s.exec(select(ProductVariant).where(ProductVariant.shopify_id == 1042)).one()
        mug.inventory_quantity = 3  # restocked
        s.add(mug)
    assert run_rescue(shop.id, now=now + timedelta(minutes=10))["proposals"] == 3
    assert {d.customer_shopify_id for d in _decisions(jobs_env.database_url)} == {cid}
