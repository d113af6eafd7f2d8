"""Personal offers through the app and the fake Shopify (issue 20): a hesitating, price-sensitive shopper gets
a single-use, customer-specific, expiring, non-combinable code created once per proposal; the order that
redeems it is recognised from its webhook, its gross margin is settled after 14 days and shows in the
readout. No code without every guardrail, and an Admin API error means no offer. The settings API refuses
bad input with 400/422, and each shop sees only its own offers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from redis import Redis
from rq import Queue
from sqlmodel import select
from writeback_support import REQUIRED, point_jobs_at

from app.agents.pricing import in_control
from app.config import get_settings
from app.db import session_scope
from app.jobs.pricing import Ask, code_for, offer_for, settle_offers
from app.models.pricing import PricingArmStats, PricingOffer
from app.orchestrator.proposal import Shopper
from app.shopify.admin import AdminClient
from app.shopify.discounts import CodeSpec, create_code
from app.stores.pricing import MODEL, save_unit_costs
from tests.test_pricing_agent import learned
from tests.webhook_support import deliver
from webhooks.ingest import flush_enqueues

DOMAIN = "offers.myshopify.com"
VARIANT, PRODUCT = 5005, 505
SENSITIVE = {"price_sensitivity": 0.9, "intent": 0.5, "clv": 100.0}


def run_jobs(redis_url: str, queues: tuple[str, ...]) -> None:
    """The queued webhook batches, run here in order (an RQ worker's teardown waits on its pub/sub thread
    for tens of seconds beside the live server)."""
    assert flush_enqueues()
    connection = Redis.from_url(redis_url)
    for name in queues:
        queue = Queue(name, connection=connection)
        while jobs := queue.jobs:
            for job in jobs:
                queue.remove(job)
                job.perform()


def _customers(n: int = 40) -> list[int]:
    return list(range(100, 100 + n))


@pytest.fixture
def shop(live_app, jobs_env, monkeypatch):
    """Installed with write_discounts; 40 customers in the fake; unit cost 40 for the 80.00 variant; the
    shop's response model has learned that sensitive shoppers respond to codes."""
    return _install(live_app, monkeypatch, DOMAIN, REQUIRED + ",write_discounts")


def _install(live, monkeypatch, domain: str, scopes: str) -> int:
    live.fake.granted_scopes = scopes
    live.fake.seed(domain, customers=[{"id": c, "email": f"c{c}@example.com"} for c in _customers()])
    assert live.install(domain).status_code == 200
    shop_id = live.shop_row(domain).id
    point_jobs_at(live, monkeypatch)
    with session_scope(live.settings.database_url) as s:
        save_unit_costs(s, shop_id, {VARIANT: Decimal("40.00")})
        s.add(PricingArmStats(shop_id=shop_id, arm=MODEL, stats=learned().to_json()))
    return shop_id


def _checkout(cid: int, at: datetime, n: int) -> dict:
    return {
        "id": 9_000_000 + cid * 10 + n, "token": f"tok-{cid}-{n}", "cart_token": f"cart-{cid}-{n}",
        "email": f"c{cid}@example.com", "created_at": at.isoformat(), "updated_at": at.isoformat(),
        "completed_at": None, "currency": "USD", "total_price": "80.00",
        "line_items": [{"product_id": PRODUCT, "variant_id": VARIANT, "quantity": 1, "title": "Lamp", "price": "80.00"}],
        "customer": {"id": cid, "email": f"c{cid}@example.com", "updated_at": (at - timedelta(days=90)).isoformat()},
    }  # fmt: skip


def _order(cid: int, at: datetime, code: str | None, discount: str) -> dict:
    total = f"{80 - float(discount):.2f}"
    return {
        "id": 7_000_000 + cid, "name": f"#{cid}", "currency": "USD", "test": False, "total_price": total,
        "subtotal_price": total, "total_discounts": discount, "created_at": at.isoformat(),
        "processed_at": at.isoformat(), "updated_at": at.isoformat(), "customer": {"id": cid},
        "discount_codes": [{"code": code, "amount": discount, "type": "percentage"}] if code else [],
        "line_items": [{"id": 8_000_000 + cid, "product_id": PRODUCT, "variant_id": VARIANT, "quantity": 1,
                        "price": "80.00", "title": "Lamp"}],
    }  # fmt: skip


def _hesitate(live, cid: int, now: datetime, times: int = 2) -> None:
    client = live.client()
    for n in range(times):
        at = now - timedelta(days=40 * (times - 1 - n), hours=2)
        assert deliver(client, "checkouts/create", _checkout(cid, at, n), shop=DOMAIN).status_code == 200


def _ask(cid: int, key: str | None = None, **kw) -> Ask:
    return Ask(key=key or f"rescue:tok-{cid}-1:2", agent="rescue", shopper=Shopper(customer_id=cid),
               cart_value=80.0, lines=[(VARIANT, 1)], features=SENSITIVE, **kw)  # fmt: skip


def _offer(live, shop_id: int, ask: Ask, now: datetime):
    with session_scope(live.settings.database_url) as s:
        return offer_for(s, get_settings(), shop_id, ask, now)


def _treated(shop_id: int) -> list[int]:
    return [c for c in _customers() if not in_control(shop_id, f"customer:{c}", 0.10)]


def _readout(live, domain: str = DOMAIN, query: str = "") -> requests.Response:
    token = live.fake.session_token(domain)
    return requests.get(f"{live.url}/api/admin/pricing{query}", headers={"Authorization": f"Bearer {token}"},
                        timeout=30)  # fmt: skip


def test_hesitating_sensitive_shopper_to_redeemed_code_in_the_readout(live_app, jobs_env, shop):
    now = datetime.now(UTC).replace(microsecond=0)
    cid = _treated(shop)[0]
    _hesitate(live_app, cid, now)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    offer = _offer(live_app, shop, _ask(cid), now)
    assert offer.code == code_for(shop, _ask(cid).key) and offer.kind == "percentage"
    found = live_app.fake.store(DOMAIN).discounts[offer.code.upper()]
    node = found["node"]["codeDiscount"]
    assert found["customers"] == [f"gid://shopify/Customer/{cid}"]
    assert node["usageLimit"] == 1 and node["appliesOncePerCustomer"] is True
    assert not any(node["combinesWith"].values())
    life = datetime.fromisoformat(node["endsAt"]) - datetime.fromisoformat(node["startsAt"])
    assert timedelta(hours=48) <= life <= timedelta(hours=72)
    assert found["percentage"] == pytest.approx(offer.value / 100)

    # idempotent per proposal: asked again, the same answer and no second code
    again = _offer(live_app, shop, _ask(cid), now + timedelta(minutes=5))
    assert again.code == offer.code and len(live_app.fake.store(DOMAIN).discounts) == 1

    discount = f"{80 * offer.value / 100:.2f}"
    bought = now + timedelta(hours=5)
    assert deliver(live_app.client(), "orders/create", _order(cid, bought, offer.code, discount),
                   shop=DOMAIN).status_code == 200  # fmt: skip
    run_jobs(jobs_env.redis_url, ("webhooks",))
    assert settle_offers(shop, now=now + timedelta(days=15))["settled"] == 1
    with session_scope(live_app.settings.database_url) as s:
        row = s.exec(select(PricingOffer).where(PricingOffer.shop_id == shop)).one()
    assert row.redeemed_order_id == 7_000_000 + cid and row.redeemed_discount == Decimal(discount)
    margin = 80 - float(discount) - 40
    assert row.margin == pytest.approx(margin) and row.orders == 1

    body = _readout(live_app).json()
    assert body["treated"]["margin_per_shopper"] == pytest.approx(margin)
    assert body["treated"]["aov"] == pytest.approx(80 - float(discount))
    assert body["discount"]["redeemed_total"] == pytest.approx(float(discount))
    assert body["arms"][offer.arm]["redeemed"] == 1
    assert body["reference"]["low"] == 0.15 and "not measured" in body["reference"]["kind"]


def test_a_code_survives_a_lost_answer(live_app, jobs_env, shop):
    """A retry after the Admin API made the code but the answer was lost finds it instead of failing."""
    client = AdminClient.for_shop(get_settings(), shop)
    at = datetime.now(UTC)
    spec = CodeSpec("ATN-LOST", "t", "percentage", 0.1, at, at + timedelta(hours=72), _customers()[0])
    first, second = create_code(client, spec), create_code(client, spec)
    assert first.gid == second.gid and len(live_app.fake.store(DOMAIN).discounts) == 1


def test_no_code_without_every_guardrail(live_app, jobs_env, shop):
    now = datetime.now(UTC)
    treated = _treated(shop)
    first_time, waiter, control = treated[1], treated[2], None
    _hesitate(live_app, first_time, now, times=1)
    _hesitate(live_app, waiter, now)
    # the waiter twice ordered with a code a day after abandoning
    client = live_app.client()
    for n, days in enumerate((80, 40)):
        order = _order(waiter, now - timedelta(days=days) + timedelta(days=1), "OLDCODE", "8.00")
        order["id"] += n * 100
        order["line_items"][0]["id"] += n * 100
        deliver(
            client, "checkouts/create", _checkout(waiter, now - timedelta(days=days), 10 + n), shop=DOMAIN
        )
        deliver(client, "orders/create", order, shop=DOMAIN)
    control = next(c for c in _customers() if in_control(shop, f"customer:{c}", 0.10))
    _hesitate(live_app, control, now)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    assert "first hesitation" in _offer(live_app, shop, _ask(first_time), now).reason
    assert "waits for codes" in _offer(live_app, shop, _ask(waiter), now).reason
    assert "control group" in _offer(live_app, shop, _ask(control), now).reason
    # a second proposal for an offered shopper within 30 days gets nothing
    repeat = treated[3]
    _hesitate(live_app, repeat, now)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    assert _offer(live_app, shop, _ask(repeat), now).code
    later = _offer(live_app, shop, _ask(repeat, key="journey:x"), now + timedelta(days=3))
    assert later.code is None and "already had an offer" in later.reason
    # the budget: spent up to it, nothing more
    put = requests.put(f"{live_app.url}/api/admin/pricing/settings", json={"weekly_budget": 1},
                       headers={"Authorization": f"Bearer {live_app.fake.session_token(DOMAIN)}"}, timeout=30)  # fmt: skip
    assert put.status_code == 200
    broke = treated[4]
    _hesitate(live_app, broke, now)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    assert _offer(live_app, shop, _ask(broke), now).code is None
    assert len(live_app.fake.store(DOMAIN).discounts) == 1  # only the one offer that passed everything


def test_an_admin_api_error_means_no_offer(live_app, jobs_env, monkeypatch):
    shop = _install(live_app, monkeypatch, DOMAIN, REQUIRED)  # no write_discounts: ACCESS_DENIED
    now = datetime.now(UTC)
    cid = _treated(shop)[0]
    _hesitate(live_app, cid, now)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    offer = _offer(live_app, shop, _ask(cid), now)
    assert offer.code is None and offer.arm == "none" and "Admin API" in offer.reason
    assert live_app.fake.store(DOMAIN).discounts == {}
    with session_scope(live_app.settings.database_url) as s:
        assert s.exec(select(PricingOffer.status)).all() == ["failed"]
    # an unknown customer in Shopify is an error too, and still no offer
    cid2 = _treated(shop)[1]
    _hesitate(live_app, cid2, now)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    assert _offer(live_app, shop, _ask(cid2), now).code is None


def test_settings_api_refuses_bad_input(live_app, jobs_env, shop):
    url = f"{live_app.url}/api/admin/pricing/settings"
    auth = {"Authorization": f"Bearer {live_app.fake.session_token(DOMAIN)}"}
    for body, status in (([1, 2], 400), ({"control_share": 0.01}, 422), ({"weekly_budget": "a"}, 422),
                         ({"arms": [{"key": "pct90", "kind": "percentage", "value": 90}]}, 422),
                         ({"nonsense": 1}, 422)):  # fmt: skip
        r = requests.put(url, json=body, headers=auth, timeout=30)
        assert r.status_code == status and r.json()["message"], body
    r = requests.put(url, data="not json", headers={**auth, "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400
    arms = [{"key": "pct20", "kind": "percentage", "value": 20}]
    r = requests.put(url, json={"arms": arms, "control_share": 0.2}, headers=auth, timeout=30)
    assert r.status_code == 200 and [a["key"] for a in r.json()["arms"]] == ["none", "pct20"]
    assert requests.get(url, headers=auth, timeout=30).json()["control_share"] == 0.2
    assert _readout(live_app, query="?days=0").status_code == 400
    assert _readout(live_app, query="?days=x").status_code == 400
    assert requests.get(f"{live_app.url}/api/admin/pricing", timeout=30).status_code == 401


def test_each_shop_sees_only_its_offers(live_app, jobs_env, shop, monkeypatch):
    now = datetime.now(UTC)
    cid = _treated(shop)[0]
    _hesitate(live_app, cid, now)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    assert _offer(live_app, shop, _ask(cid), now).code
    _install(live_app, monkeypatch, "other.myshopify.com", REQUIRED + ",write_discounts")
    assert _readout(live_app).json()["decisions"] == 1
    assert _readout(live_app, "other.myshopify.com").json()["decisions"] == 0


def test_dashboard_has_the_pricing_section(client):
    html = client.get(
        "/app?shop=cool-shop.myshopify.com&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvY29vbA"
    ).get_data(as_text=True)
    assert 'id="pricing"' in html and 'id="pricing-body"' in html
    src = next(part.split('"', 1)[0] for part in html.split('<script src="') if "admin_pricing.js" in part)
    js = client.get(src.replace("&amp;", "&"))
    assert js.status_code == 200 and "/api/admin/pricing" in js.get_data(as_text=True)


def test_rescue_last_reminder_carries_the_code(live_app, jobs_env, shop):
    """The rescue job asks before its last reminder: a price-sensitive shopper on a second hesitation gets a
    code in that e-mail (in the fake Shopify, customer-specific); a first-time hesitater's e-mail has none."""
    from app.channels.email_loopback import LoopbackSmtp
    from app.crypto import TokenCipher
    from app.jobs import outbox as relay
    from app.jobs.rescue import run_rescue
    from app.models.commerce import Product, ProductVariant
    from app.models.messaging import OutboxMessage
    from app.models.profiles import CustomerProfile
    from app.models.serving import HoldoutPolicy
    from app.stores.channels import save_email_settings
    from tests.email_support import SENDER
    from tests.messaging_support import add_subscribed_customer

    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    again, first = _treated(shop)[:2]
    with LoopbackSmtp() as smtp:
        with session_scope(live_app.settings.database_url) as s:
            s.add(HoldoutPolicy(shop_id=shop, agent="rescue", share=0.0))
            s.add(Product(shop_id=shop, shopify_id=PRODUCT, title="Lamp", handle="lamp", status="active"))
            s.add(ProductVariant(shop_id=shop, shopify_id=VARIANT, product_shopify_id=PRODUCT,
                                 price=Decimal("80.00"), inventory_quantity=50))  # fmt: skip
            save_email_settings(s, TokenCipher(live_app.settings.encryption_keys), shop, SENDER, smtp.url)
            for cid in (again, first):
                add_subscribed_customer(s, shop, "email", now - timedelta(days=60), cid, email=f"c{cid}@example.com",
                                        default_address=None)  # fmt: skip
                s.add(CustomerProfile(shop_id=shop, customer_key=f"customer:{cid}", customer_shopify_id=cid,
                                      derived={"price_sensitivity": 0.9, "intent": 0.5, "clv": 100.0}))  # fmt: skip
        _hesitate(live_app, again, now + timedelta(hours=2), times=2)
        _hesitate(live_app, first, now + timedelta(hours=2), times=1)
        run_jobs(jobs_env.redis_url, ("webhooks",))
        result = run_rescue(shop, now=now + timedelta(hours=3))
        assert result["offers"] == 1
        with session_scope(live_app.settings.database_url) as s:
            rows = s.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key.like("rescue:%:3"))).all()  # type: ignore[attr-defined]
            by = {r.customer_shopify_id: r for r in rows}
        code = by[again].data["offer"]["code"]
        assert "offer" not in by[first].data
        assert live_app.fake.store(DOMAIN).discounts[code]["customers"] == [f"gid://shopify/Customer/{again}"]
        assert relay.relay_message(by[again].id, now=by[again].send_at) == "sent"
        (mail,) = [m for m in smtp.messages if m.rcpt_tos == [f"c{again}@example.com"]]
        assert code in mail.message.get_body(("plain",)).get_content()
        assert run_rescue(shop, now=now + timedelta(hours=4))["offers"] == 0  # idempotent
    assert len(live_app.fake.store(DOMAIN).discounts) == 1


def test_a_decision_whose_code_was_never_made_keeps_its_arm(live_app, jobs_env, shop):
    """A job that died after deciding and before the Admin API call: the retry makes the code for the arm that
    was decided (and recorded), whatever the model says now."""
    cid = _treated(shop)[0]
    now = datetime.now(UTC)
    with session_scope(live_app.settings.database_url) as s:
        s.add(PricingOffer(shop_id=shop, key="rescue:crashed:3", agent="rescue", shopper_key=f"customer:{cid}",
                           customer_shopify_id=cid, arm="pct5", reason="pct5: trial", cart_value=80.0,
                           cart_cost=40.0, discount=Decimal("4.00"), status="pending", decided_at=now))  # fmt: skip
    offer = _offer(live_app, shop, _ask(cid, key="rescue:crashed:3"), now)
    assert offer.arm == "pct5" and offer.code
    assert live_app.fake.store(DOMAIN).discounts[offer.code.upper()]["percentage"] == pytest.approx(0.05)
