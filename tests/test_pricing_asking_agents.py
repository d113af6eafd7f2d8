"""The agents that ask the pricing agent before an incentive (issues 20 and 16), end to end through the app and
the fake Shopify: the in-session nudge (proxy → reservation → job → code → on-site thread), the journey's
win-back and the replenishment reminder (job → pricing → orchestrator → code → e-mail on the loopback SMTP).
Each code is single use and customer-specific; a pricing-control, held-out or first-time shopper gets none; a
failing Admin API gives no offer and no shopper-facing error; a redeemed code is attributed as rescue's are."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import select
from writeback_support import REQUIRED

from app.agents.pricing import in_control
from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.journey import run_journey
from app.jobs.pricing import settle_offers
from app.jobs.replenishment import run_replenishment
from app.measurement.holdout import in_holdout
from app.models.commerce import Product, ProductVariant
from app.models.journey import JourneyStage
from app.models.messaging import OutboxMessage
from app.models.pricing import PricingOffer
from app.models.profiles import CustomerProfile
from app.models.replenishment import ReplenishmentForecast
from app.models.serving import HoldoutPolicy, Nudge
from app.stores import nudge as nudge_store
from app.stores.channels import save_email_settings
from app.stores.pricing import save_policy, save_unit_costs
from tests.email_support import SENDER
from tests.messaging_support import add_subscribed_customer
from tests.test_nudge_proxy import HESITATION
from tests.test_pricing_offers import (
    DOMAIN,
    PRODUCT,
    VARIANT,
    _checkout,
    _customers,
    _hesitate,
    _install,
    _order,
    run_jobs,
)
from tests.test_proxy_storefront import signed
from tests.webhook_support import deliver

PROFILE = {"price_sensitivity": 0.9, "clv": 100.0}
WITH_CODES = REQUIRED + ",write_discounts"


def _treated(shop_id: int) -> list[int]:
    return [c for c in _customers() if not in_control(shop_id, f"customer:{c}", 0.10)]


def _control(shop_id: int) -> int:
    return next(c for c in _customers() if in_control(shop_id, f"customer:{c}", 0.10))


def _setup(
    live, shop_id: int, customers: list[int], holdouts: dict[str, float], now: datetime, **extra
) -> None:
    with session_scope(live.settings.database_url) as s:
        for agent, share in {"global": 0.0, **holdouts}.items():
            s.add(HoldoutPolicy(shop_id=shop_id, agent=agent, share=share))
        s.add(
            Product(shop_id=shop_id, shopify_id=PRODUCT, title="Lamp oil", handle="lamp-oil", status="active")
        )
        s.add(ProductVariant(shop_id=shop_id, shopify_id=VARIANT, product_shopify_id=PRODUCT,
                             price=Decimal("80.00"), inventory_quantity=50))  # fmt: skip
        for cid in customers:
            add_subscribed_customer(s, shop_id, "email", now - timedelta(days=400), cid,
                                    email=f"c{cid}@example.com", default_address=None)  # fmt: skip
            s.add(CustomerProfile(shop_id=shop_id, customer_key=f"customer:{cid}", customer_shopify_id=cid,
                                  derived={**PROFILE, **extra.get("derived", {})},
                                  explicit=extra.get("explicit", {})))  # fmt: skip


def _offers(live, shop_id: int) -> dict[int, PricingOffer]:
    """Each customer's first pricing decision."""
    with session_scope(live.settings.database_url) as s:
        rows = s.exec(select(PricingOffer).where(PricingOffer.shop_id == shop_id)).all()
        return {r.customer_shopify_id: r for r in sorted(rows, key=lambda r: -(r.id or 0))}


def _assert_single_use_for(live, code: str, cid: int) -> None:
    found = live.fake.store(DOMAIN).discounts[code.upper()]
    node = found["node"]["codeDiscount"]
    assert found["customers"] == [f"gid://shopify/Customer/{cid}"]
    assert node["usageLimit"] == 1 and node["appliesOncePerCustomer"] is True
    assert not any(node["combinesWith"].values())


# --- the in-session nudge ------------------------------------------------------------------------------


def _nudge(client, session_id: str, cid: int | None, client_id: str = "cid-x"):
    payload = {"session": session_id, "signals": HESITATION,
               "cart": {"token": f"cart-{session_id}", "total": 80.0, "currency": "USD", "product_ids": [PRODUCT]}}  # fmt: skip
    return client.post(signed("/nudge", {"client_id": client_id}, customer=cid, shop=DOMAIN),
                       data=json.dumps(payload), content_type="application/json")  # fmt: skip


def _onsite(client, cid: int) -> list[dict]:
    r = client.get(signed("/nudges", {}, customer=cid, shop=DOMAIN))
    assert r.status_code == 200
    return [n for n in r.json["nudges"] if n["kind"] == "offer"]


@pytest.fixture
def nudge_shop(live_app, jobs_env, monkeypatch):
    nudge_store.clear_caches()
    yield lambda scopes=WITH_CODES: _install(live_app, monkeypatch, DOMAIN, scopes)
    nudge_store.clear_caches()


def test_a_hesitating_customer_gets_a_code_in_the_on_site_thread_and_its_redemption_counts(
    live_app, jobs_env, nudge_shop
):
    shop = nudge_shop()
    now = datetime.now(UTC).replace(microsecond=0)
    buyer, first_time, repeat = _treated(shop)[:3]
    control = _control(shop)
    _setup(live_app, shop, [buyer, first_time, repeat, control], {"nudge": 0.0}, now)
    for cid in (buyer, control, repeat):
        _hesitate(live_app, cid, now - timedelta(hours=1), times=1)  # one checkout abandoned before
    run_jobs(jobs_env.redis_url, ("webhooks",))
    client = live_app.client()

    r = _nudge(client, "sess-buyer-01", buyer)
    assert r.status_code == 200 and r.json["nudge"] is None  # no code promised before it exists
    assert r.json["pending"]["rung"] == "incentive" and r.json["pending"]["title"]
    offers = _offers(live_app, shop)
    assert offers[buyer].status == "pending" and offers[buyer].agent == "nudge"
    assert _onsite(client, buyer) == []
    run_jobs(jobs_env.redis_url, ("default",))  # the delivery job, then the on-site relay
    offers = _offers(live_app, shop)
    code = offers[buyer].code
    assert offers[buyer].status == "created" and code
    _assert_single_use_for(live_app, code, buyer)
    (item,) = _onsite(client, buyer)
    assert code in item["text"] and item["url"].startswith(f"/discount/{code}")
    assert _onsite(client, first_time) == []  # a personal message: nobody else's thread shows it
    with session_scope(live_app.settings.database_url) as s:
        assert s.exec(select(Nudge).where(Nudge.shop_id == shop)).one().agent == "nudge"
    # idempotent: the job again, and a second request of the session, make nothing new
    from app.jobs.nudge_offer import deliver_nudge_offer

    assert deliver_nudge_offer(shop, offers[buyer].key)["status"] == "created"
    assert _nudge(client, "sess-buyer-01", buyer).json.get("pending") is None
    assert len(live_app.fake.store(DOMAIN).discounts) == 1

    # guardrails through the proxy: pricing's control group, a first hesitation, an anonymous shopper
    assert _nudge(client, "sess-control-1", control).json.get("pending") is None
    assert _nudge(client, "sess-first-01", first_time).json.get("pending") is None
    assert _nudge(client, "sess-anon-001", None, client_id="anon-1").json.get("pending") is None
    offers = _offers(live_app, shop)
    assert offers[control].control and offers[control].status == "no_offer"
    assert "first hesitation" in offers[first_time].reason
    # at most one offer per 30 days: the buyer's next session gets none
    assert _nudge(client, "sess-buyer-02", buyer).json.get("pending") is None
    # the weekly budget: spent, nothing more
    with session_scope(live_app.settings.database_url) as s:
        save_policy(s, shop, {"weekly_budget": 1})
    assert _nudge(client, "sess-repeat-1", repeat).json.get("pending") is None
    run_jobs(jobs_env.redis_url, ("default",))
    assert len(live_app.fake.store(DOMAIN).discounts) == 1

    # the redemption is attributed to the pricing readout as a rescue code's is
    value = float(offers[buyer].discount or 0)
    order = _order(buyer, now + timedelta(hours=1), code, f"{value:.2f}")
    assert deliver(live_app.client(), "orders/create", order, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    settle_offers(shop, now=now + timedelta(days=15))
    row = _offers(live_app, shop)[buyer]
    assert row.redeemed_order_id == order["id"] and float(row.redeemed_discount or 0) == pytest.approx(value)
    assert row.margin == pytest.approx(80 - value - 40) and row.orders == 1


def test_a_held_out_session_gets_nothing_and_nothing_is_reserved(live_app, jobs_env, nudge_shop):
    shop = nudge_shop()
    now = datetime.now(UTC)
    # half the sessions held out: a session that is, of a customer the orchestrator's nudge holdout is not
    cid = next(c for c in _treated(shop) if not in_holdout(shop, "nudge", "customer", str(c), 0.5))
    sid = next(f"sess-held-{n:03d}" for n in range(999) if in_holdout(
        shop, "nudge", "session", nudge_store.session_key(shop, cid, "cid-x", f"sess-held-{n:03d}"), 0.5))  # fmt: skip
    _setup(live_app, shop, [cid], {"nudge": 0.5}, now)
    _hesitate(live_app, cid, now - timedelta(hours=1), times=1)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    r = _nudge(live_app.client(), sid, cid)
    assert r.status_code == 200 and r.json["nudge"] is None and "pending" not in r.json
    run_jobs(jobs_env.redis_url, ("default",))
    assert _offers(live_app, shop) == {} and live_app.fake.store(DOMAIN).discounts == {}
    with session_scope(live_app.settings.database_url) as s:
        from app.models.nudge import NudgeSession

        held = s.exec(select(NudgeSession)).one()  # the counterfactual, recorded
        assert held.holdout and held.action == "hold_out" and held.rung == "incentive"


def test_a_failing_admin_api_means_no_offer_and_nothing_on_site(live_app, jobs_env, nudge_shop):
    shop = nudge_shop(REQUIRED)  # no write_discounts: the Admin API refuses
    now = datetime.now(UTC)
    cid = _treated(shop)[0]
    _setup(live_app, shop, [cid], {"nudge": 0.0}, now)
    _hesitate(live_app, cid, now - timedelta(hours=1), times=1)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    client = live_app.client()
    assert _nudge(client, "sess-fail-001", cid).status_code == 200
    run_jobs(jobs_env.redis_url, ("default",))
    row = _offers(live_app, shop)[cid]
    assert row.status == "failed" and "Admin API" in (row.error or "")
    assert _onsite(client, cid) == [] and live_app.fake.store(DOMAIN).discounts == {}
    with session_scope(live_app.settings.database_url) as s:
        assert s.exec(select(OutboxMessage).where(OutboxMessage.shop_id == shop)).all() == []


# --- the journey's win-back and the replenishment reminder ------------------------------------------------


def _email_setup(live, shop_id: int, smtp: LoopbackSmtp) -> None:
    with session_scope(live.settings.database_url) as s:
        save_email_settings(s, TokenCipher(live.settings.encryption_keys), shop_id, SENDER, smtp.url)


def _sent_mail(live, smtp, shop_id: int, agent_like: str) -> dict[int, tuple[OutboxMessage, str]]:
    with session_scope(live.settings.database_url) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.shop_id == shop_id,
                                                  OutboxMessage.channel == "email",
                                                  OutboxMessage.dedupe_key.like(agent_like))).all()  # type: ignore[attr-defined]  # fmt: skip
    out = {}
    for row in rows:
        assert relay.relay_message(row.id, now=row.send_at) == "sent"
        (mail,) = [m for m in smtp.messages if m.rcpt_tos == [f"c{row.customer_shopify_id}@example.com"]]
        out[row.customer_shopify_id] = (row, mail.message.get_body(("plain",)).get_content())
    return out


def _redeemed(live, jobs_env, shop_id: int, cid: int, code: str, now: datetime) -> None:
    """The order that uses the code marks the offer redeemed, and its margin is settled into the readout's
    rows, as a rescue code's is."""
    row = _offers(live, shop_id)[cid]
    value = float(row.discount or 0)
    order = _order(cid, now + timedelta(days=1), code, f"{value:.2f}")
    assert deliver(live.client(), "orders/create", order, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    settle_offers(shop_id, now=now + timedelta(days=15))
    row = _offers(live, shop_id)[cid]
    assert row.redeemed_order_id == order["id"] and float(row.redeemed_discount or 0) == pytest.approx(value)
    assert row.settled_at is not None and row.orders == 1 and row.margin == pytest.approx(80 - value - 40)


def _lapsing(live, shop_id: int, customers: list[int], now: datetime) -> None:
    last = (now - timedelta(days=150)).isoformat()
    _setup(live, shop_id, customers, {a: 1.0 for a in ("cross_sell", "welcome", "vip")} | {"win_back": 0.0}, now,
           derived={"churn_risk": {"value": 0.8}},
           explicit={"orders": {"count": 2, "spent": 160.0, "average_order_value": 80.0, "last_at": last}})  # fmt: skip
    with session_scope(live.settings.database_url) as s:
        for cid in customers:
            s.add(
                JourneyStage(
                    shop_id=shop_id, shopper_key=f"customer:{cid}", stage="lapsing", explanation="seeded"
                )
            )


@pytest.mark.parametrize("scopes", [WITH_CODES, REQUIRED], ids=["codes", "admin-api-error"])
def test_a_lapsing_customer_who_hesitated_gets_a_win_back_code_by_email(
    live_app, jobs_env, monkeypatch, scopes
):
    shop = _install(live_app, monkeypatch, DOMAIN, scopes)
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    again, first = _treated(shop)[:2]
    control = _control(shop)
    _lapsing(live_app, shop, [again, first, control], now)
    for cid, times in ((again, 2), (first, 1), (control, 2)):
        _hesitate(live_app, cid, now, times=times)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    with LoopbackSmtp() as smtp:
        _email_setup(live_app, shop, smtp)
        result = run_journey(shop, now=now)
        mails = _sent_mail(live_app, smtp, shop, "win_back:%")
    offers = _offers(live_app, shop)
    assert set(mails) == {again, first, control}  # every win-back goes out; only one carries a code
    assert offers[control].control and "first hesitation" in offers[first].reason
    for cid in (first, control):
        assert "offer" not in mails[cid][0].data and "ATN-" not in mails[cid][1]
    if scopes == REQUIRED:  # the code failed: the win-back goes out without the incentive's words
        assert result["offers"] == 0 and offers[again].status == "failed"
        assert "welcome back" not in mails[again][1].lower() and "ATN-" not in mails[again][1]
        assert live_app.fake.store(DOMAIN).discounts == {}
        return
    code = mails[again][0].data["offer"]["code"]
    assert result["offers"] == 1 and code in mails[again][1] and "works once" in mails[again][1]
    _assert_single_use_for(live_app, code, again)
    assert run_journey(shop, now=now + timedelta(hours=1))["offers"] == 0  # idempotent
    assert len(live_app.fake.store(DOMAIN).discounts) == 1
    _redeemed(live_app, jobs_env, shop, again, code, now)


@pytest.mark.parametrize("scopes", [WITH_CODES, REQUIRED], ids=["codes", "admin-api-error"])
def test_a_due_reminder_carries_a_code_only_where_pricing_approves(live_app, jobs_env, monkeypatch, scopes):
    shop = _install(live_app, monkeypatch, DOMAIN, scopes)
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    again, first = _treated(shop)[:2]
    control = _control(shop)
    _setup(live_app, shop, [again, first, control], {"replenishment": 0.0}, now)
    with session_scope(live_app.settings.database_url) as s:
        for cid in (again, first, control):  # the forecast job's rows: each shopper's lamp oil is due
            s.add(ReplenishmentForecast(shop_id=shop, customer_shopify_id=cid, product_shopify_id=PRODUCT,
                                        purchase_days=4, usual_quantity=1, last_purchase_at=now - timedelta(days=28),
                                        cycle_days=30.0, due_at=now + timedelta(days=1), due_low=now, due_high=now + timedelta(days=3),
                                        predicted_next_at=now + timedelta(days=1), p_within_14d=0.8, p_within_30d=0.95,
                                        supply_left=0.1, p_active=0.9, status="due", basis="personal", consumable=True,
                                        computed_at=now))  # fmt: skip
    for cid, times in ((again, 2), (first, 1), (control, 2)):
        _hesitate(live_app, cid, now, times=times)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    with LoopbackSmtp() as smtp:
        _email_setup(live_app, shop, smtp)
        result = run_replenishment(shop, now=now)
        mails = _sent_mail(live_app, smtp, shop, "replenish:%")
    offers = _offers(live_app, shop)
    assert set(mails) == {again, first, control}
    assert offers[control].control and "first hesitation" in offers[first].reason
    for cid in (first, control):
        assert "offer" not in mails[cid][0].data and "ATN-" not in mails[cid][1]
    if scopes == REQUIRED:
        assert result["offers"] == 0 and offers[again].status == "failed" and "ATN-" not in mails[again][1]
        return
    row, text = mails[again]
    code = row.data["offer"]["code"]
    assert result["offers"] == 1 and code in text and row.data["cta_url"].endswith(f"?discount={code}")
    _assert_single_use_for(live_app, code, again)
    assert run_replenishment(shop, now=now + timedelta(hours=1))["offers"] == 0
    _redeemed(live_app, jobs_env, shop, again, code, now)


# --- no code without every guardrail, whichever agent asks ----------------------------------------------------


def _waiter(live, cid: int, now: datetime) -> None:
    """Twice ordered with a code a day after abandoning a checkout: waits for codes."""
    client = live.client()
    for n, days in enumerate((80, 40)):
        order = _order(cid, now - timedelta(days=days - 1), "OLDCODE", "8.00")
        order["id"] += n * 1000
        order["line_items"][0]["id"] += n * 1000
        deliver(client, "checkouts/create", _checkout(cid, now - timedelta(days=days), 10 + n), shop=DOMAIN)
        deliver(client, "orders/create", order, shop=DOMAIN)


def _guard(live, shop_id: int, cid: int, guardrail: str, now: datetime) -> None:
    if guardrail == "waits_for_codes":
        _waiter(live, cid, now)
    with session_scope(live.settings.database_url) as s:
        if guardrail == "recent_offer":  # an offer three days ago, from another agent
            s.add(PricingOffer(shop_id=shop_id, key=f"rescue:old-{cid}:3", agent="rescue", shopper_key=f"customer:{cid}",
                               customer_shopify_id=cid, arm="pct10", reason="pct10", cart_value=80.0, cart_cost=40.0,
                               discount=Decimal("8.00"), status="created", code="ATN-OLD",
                               decided_at=now - timedelta(days=3)))  # fmt: skip
        elif guardrail == "margin_floor":  # the cart's cost leaves no margin for any discount
            save_policy(s, shop_id, {"default_cost_share": 0.97, "margin_floor": 0.2})
            save_unit_costs(s, shop_id, {VARIANT: Decimal("79.00")})
        elif guardrail == "weekly_budget":
            save_policy(s, shop_id, {"weekly_budget": 0})


@pytest.mark.parametrize("guardrail", ["waits_for_codes", "recent_offer", "margin_floor", "weekly_budget"])
@pytest.mark.parametrize("entry", ["nudge", "win_back", "replenishment"])
def test_no_code_without_every_guardrail_whichever_agent_asks(
    live_app, jobs_env, monkeypatch, entry, guardrail
):
    """A customer who passes the control group and the first-hesitation rule (tested above for each agent),
    stopped by one other guardrail: no code reaches Shopify, whichever agent asks."""
    nudge_store.clear_caches()
    shop = _install(live_app, monkeypatch, DOMAIN, WITH_CODES)
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    cid = _treated(shop)[0]
    if entry == "win_back":
        _lapsing(live_app, shop, [cid], now)
    else:
        _setup(live_app, shop, [cid], {"nudge": 0.0, "replenishment": 0.0}, now)
    _hesitate(live_app, cid, now - timedelta(hours=1), times=2)
    _guard(live_app, shop, cid, guardrail, now)
    run_jobs(jobs_env.redis_url, ("webhooks",))
    if entry == "nudge":
        with session_scope(
            live_app.settings.database_url
        ) as s:  # the request runs now: its time, not the test's
            for row in s.exec(select(PricingOffer).where(PricingOffer.code == "ATN-OLD")).all():
                row.decided_at = datetime.now(UTC) - timedelta(days=3)
        assert "pending" not in _nudge(live_app.client(), "sess-guard-01", cid).json
        run_jobs(jobs_env.redis_url, ("default",))
    elif entry == "win_back":
        assert run_journey(shop, now=now)["offers"] == 0
    else:
        with session_scope(live_app.settings.database_url) as s:
            s.add(ReplenishmentForecast(shop_id=shop, customer_shopify_id=cid, product_shopify_id=PRODUCT,
                                        purchase_days=4, usual_quantity=1, last_purchase_at=now - timedelta(days=28),
                                        cycle_days=30.0, due_at=now + timedelta(days=1), due_low=now,
                                        due_high=now + timedelta(days=3), predicted_next_at=now + timedelta(days=1),
                                        p_within_14d=0.8, p_within_30d=0.95, supply_left=0.1, p_active=0.9,
                                        status="due", basis="personal", consumable=True, computed_at=now))  # fmt: skip
        assert run_replenishment(shop, now=now)["offers"] == 0
    assert live_app.fake.store(DOMAIN).discounts == {}
    with session_scope(live_app.settings.database_url) as s:
        asked = [
            r
            for r in s.exec(select(PricingOffer).where(PricingOffer.shop_id == shop)).all()
            if r.code != "ATN-OLD"
        ]
    assert len(asked) == 1 and asked[0].status in ("no_offer", "failed") and asked[0].code is None
    assert not asked[0].control  # stopped by the guardrail under test, not by the control group
    why = {"waits_for_codes": "waits for codes", "recent_offer": "already had an offer"}
    assert why.get(guardrail, "no offer pays here") in asked[0].reason  # (each arm refused: floor, budget)
