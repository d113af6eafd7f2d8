"""Issue 20's end-to-end check, through the asking agent: shoppers hesitate at checkout (signed webhooks), the
rescue job proposes its sequence and its last reminder asks the pricing agent with each customer's profile.
The price-sensitive shopper outside the control group gets a single-use, customer-specific code made in the fake
Shopify and mailed to them; a loyal one gets none; the control group gets the reminder without one. The code is
redeemed in an order (webhook), the daily settle closes the 14 days, and the admin's lift readout compares the
treated shoppers' gross margin with the control group's: the redeemed order's margin is in it, to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select
from writeback_support import REQUIRED

from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.pricing import settle_offers
from app.jobs.rescue import run_rescue
from app.models.commerce import Product, ProductVariant
from app.models.messaging import OutboxMessage
from app.models.pricing import PricingOffer
from app.models.profiles import CustomerProfile
from app.models.serving import HoldoutPolicy
from app.stores.channels import save_email_settings
from tests.email_support import SENDER
from tests.messaging_support import add_subscribed_customer
from tests.test_pricing_asking_agents import _assert_single_use_for, _control, _treated
from tests.test_pricing_offers import (
    DOMAIN,
    PRODUCT,
    VARIANT,
    _hesitate,
    _install,
    _order,
    _readout,
    run_jobs,
)
from tests.webhook_support import deliver

SENSITIVE = {"price_sensitivity": 0.9, "intent": 0.5, "clv": 100.0}
LOYAL = {"price_sensitivity": 0.1, "intent": 0.8, "clv": 500.0}


@pytest.fixture
def shop(live_app, jobs_env, monkeypatch):
    """Installed with write_discounts; unit cost 40 for the 80.00 lamp; a response model that has learned that
    price-sensitive shoppers respond to codes and loyal ones buy anyway (as in test_pricing_offers)."""
    return _install(live_app, monkeypatch, DOMAIN, REQUIRED + ",write_discounts")


def _setup(live, shop_id: int, profiles: dict[int, dict], smtp_url: str, now: datetime) -> None:
    with session_scope(live.settings.database_url) as s:
        s.add(HoldoutPolicy(shop_id=shop_id, agent="rescue", share=0.0))
        s.add(Product(shop_id=shop_id, shopify_id=PRODUCT, title="Lamp", handle="lamp", status="active"))
        s.add(ProductVariant(shop_id=shop_id, shopify_id=VARIANT, product_shopify_id=PRODUCT,
                             price=Decimal("80.00"), inventory_quantity=50))  # fmt: skip
        save_email_settings(s, TokenCipher(live.settings.encryption_keys), shop_id, SENDER, smtp_url)
        for cid, derived in profiles.items():
            add_subscribed_customer(s, shop_id, "email", now - timedelta(days=60), cid,
                                    email=f"c{cid}@example.com", default_address=None)  # fmt: skip
            s.add(CustomerProfile(shop_id=shop_id, customer_key=f"customer:{cid}", customer_shopify_id=cid,
                                  derived=derived))  # fmt: skip


def _last_reminders(live, shop_id: int) -> dict[int, OutboxMessage]:
    with session_scope(live.settings.database_url) as s:
        rows = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.shop_id == shop_id,
                OutboxMessage.dedupe_key.like("rescue:%:3"),  # type: ignore[attr-defined]
            )
        ).all()
        return {r.customer_shopify_id: r for r in rows}


def test_a_price_sensitive_shoppers_code_is_redeemed_and_its_margin_is_in_the_lift(live_app, jobs_env, shop):
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    sensitive, unmoved, loyal = _treated(shop)[:3]
    controls = [c for c in range(100, 140) if c not in _treated(shop)][:2]
    assert controls[0] == _control(shop) and len(controls) == 2
    profiles = {sensitive: SENSITIVE, unmoved: SENSITIVE, loyal: LOYAL, **dict.fromkeys(controls, SENSITIVE)}
    with LoopbackSmtp() as smtp:
        _setup(live_app, shop, profiles, smtp.url, now)
        for cid in profiles:
            _hesitate(live_app, cid, now + timedelta(hours=2), times=2)  # a second hesitation: offers allowed
        run_jobs(jobs_env.redis_url, ("webhooks",))
        assert run_rescue(shop, now=now + timedelta(hours=3))["offers"] == 2
        reminders = _last_reminders(live_app, shop)
        assert set(reminders) == set(profiles)
        code = reminders[sensitive].data["offer"]["code"]
        assert reminders[unmoved].data["offer"]["code"] not in (None, code)
        assert all("offer" not in reminders[c].data for c in (loyal, *controls))

        # the code in the fake Shopify: this customer's only, single use, not combinable, 48-72 h
        _assert_single_use_for(live_app, code, sensitive)
        found = live_app.fake.store(DOMAIN).discounts[code.upper()]
        window = found["node"]["codeDiscount"]
        life = datetime.fromisoformat(window["endsAt"]) - datetime.fromisoformat(window["startsAt"])
        assert timedelta(hours=48) <= life <= timedelta(hours=72)
        sent_at = reminders[sensitive].send_at
        assert relay.relay_message(reminders[sensitive].id, now=sent_at) == "sent"
        (mail,) = [m for m in smtp.messages if m.rcpt_tos == [f"c{sensitive}@example.com"]]
        assert code in mail.message.get_body(("plain",)).get_content()

    # the sensitive shopper redeems it; the loyal one and one control shopper buy at full price
    discount = round(80 * found["percentage"], 2)
    client = live_app.client()
    bought = sent_at + timedelta(hours=1)
    for cid, used in ((sensitive, code), (loyal, None), (controls[0], None)):
        order = _order(cid, bought, used, f"{discount if used else 0:.2f}")
        assert deliver(client, "orders/create", order, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    assert settle_offers(shop, now=now + timedelta(days=15))["settled"] == len(profiles)
    with session_scope(live_app.settings.database_url) as s:
        row = s.exec(select(PricingOffer).where(PricingOffer.code == code)).one()
    assert row.redeemed_order_id == 7_000_000 + sensitive and float(row.redeemed_discount or 0) == discount

    # the lift readout: gross margin (revenue − unit cost 40 − discount) per eligible shopper, treated vs control
    body = _readout(live_app).json()
    redeemed_margin = 80 - discount - 40
    treated_mean = (redeemed_margin + 0 + 40) / 3  # sensitive (code), unmoved (code unused), loyal (no code)
    assert body["settled_eligible"] == 5
    assert body["treated"] == {"shoppers": 3, "buyers": 2, "margin_per_shopper": pytest.approx(treated_mean, abs=1e-3),
                               "aov": pytest.approx((80 - discount + 80) / 2)}  # fmt: skip
    assert body["control"]["shoppers"] == 2 and body["control"]["margin_per_shopper"] == pytest.approx(20.0)
    lift = body["incremental_margin_per_shopper"]
    assert lift["estimate"] == pytest.approx(treated_mean - 20.0, abs=1e-3) and lift["low"] < lift["high"]
    assert body["discount"]["redeemed_total"] == pytest.approx(discount)
    assert body["waste"] == {**body["waste"], "redemptions": 1, "wasted": 0, "share": 0.0}
    assert body["arms"][row.arm]["redeemed"] == 1
