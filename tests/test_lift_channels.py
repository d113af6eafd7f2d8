"""Lift per agent × channel, honestly: the orchestrator records on every decision the channel it would use for
the shopper (``intended_channel``), read from reachability and consent before the arm is applied, so a
held-out shopper has the channel they would have been reached on; the admin's lift compares, per channel, the
treated and held-out shoppers of that channel (intention to treat), with intervals from app/measurement/lift."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from app.db import session_scope
from app.jobs.orchestrate import submit
from app.measurement.lift import Exposure, Purchase, measure
from app.models.commerce import Customer, Order
from app.models.messaging import ContactConsent, MessageDecision
from app.models.shop import Shop
from app.orchestrator.policy import decide
from app.orchestrator.proposal import (
    SUBSCRIBED,
    Action,
    Arm,
    ContactPolicy,
    HoldoutShare,
    Shopper,
    ShopperFacts,
)
from tests.browser_support import admin_page, chromium, needs_chromium
from tests.conftest import TEST_API_KEY, TEST_API_SECRET
from tests.messaging_support import make_proposal

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York
ALL_HELD, NONE_HELD = (
    ContactPolicy(default_holdout=HoldoutShare(1.0)),
    ContactPolicy(default_holdout=HoldoutShare(0.0)),
)
CHANNELS = ("email", "sms", "push", "onsite")
facts_strategy = st.builds(
    lambda reach, consent, hour: ShopperFacts(
        consents={c: SUBSCRIBED for c in consent},
        reachable=frozenset(reach),
        country="US",
        province="NY",
        marketing_times=(NOW - timedelta(hours=hour),) if hour is not None else (),
    ),
    st.sets(st.sampled_from(CHANNELS)),
    st.sets(st.sampled_from(("email", "sms", "push"))),
    st.one_of(st.none(), st.integers(1, 30)),
)


@settings(max_examples=200, deadline=None)
@given(facts=facts_strategy, channels=st.permutations(CHANNELS), hour=st.integers(0, 23))
def test_a_held_out_shopper_has_the_channel_a_treated_one_would_be_reached_on(facts, channels, hour):
    now = NOW.replace(hour=hour)
    p = make_proposal(1, now, channels=tuple(channels), product_ids=())
    held = decide([p], {p.shopper.key: facts}, ALL_HELD, now)[0]
    treated = decide([p], {p.shopper.key: facts}, NONE_HELD, now)[0]
    assert held.arm is Arm.HOLDOUT and held.action is Action.HOLD_OUT and held.channel is None
    assert treated.arm is Arm.TREATMENT
    # decided before the arm, the same for both arms, whatever later steps (quiet hours, budget) do
    assert held.intended_channel == treated.intended_channel
    if treated.channel is not None:
        assert treated.intended_channel == treated.channel
    if treated.intended_channel is None:
        assert treated.action is Action.SUPPRESS and "no channel it may use" in treated.reason


def test_the_intended_channel_is_recorded_on_the_decision_row(jobs_env):
    with session_scope(jobs_env.database_url) as s:
        shop = Shop(domain="mugs.myshopify.com")
        s.add(shop)
        s.flush()
        shop_id = shop.id
        for cid, consent in ((7, "SUBSCRIBED"), (8, "UNSUBSCRIBED")):
            s.add(Customer(shop_id=shop_id, shopify_id=cid, email=f"c{cid}@example.com",
                           default_address={"country_code": "US", "province_code": "NY"}))  # fmt: skip
            s.add(ContactConsent(shop_id=shop_id, customer_shopify_id=cid, channel="email", state=consent,
                                 consent_updated_at=NOW - timedelta(days=3)))  # fmt: skip
    proposals = [
        make_proposal(shop_id, NOW, shopper=Shopper(customer_id=cid), dedupe_key=f"k{cid}", product_ids=())
        for cid in (7, 8)
    ]
    with session_scope(jobs_env.database_url) as s:
        submit(s, shop_id, proposals, NOW)
    with session_scope(jobs_env.database_url) as s:
        rows = {r.customer_shopify_id: r for r in s.exec(select(MessageDecision)).all()}
    assert rows[7].intended_channel == "email"
    assert rows[8].intended_channel == "none" and rows[8].action in ("suppress", "hold_out")


def _token(domain: str) -> str:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": f"https://{domain}/admin", "dest": f"https://{domain}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


def seed_channels(settings, domain: str, now: datetime, *, add_shop: bool = True) -> int:
    """E-mail helped (30 % vs 10 % bought within the week), SMS did not (10 % vs 10 %); 60 older decisions
    have no intended channel recorded. Returns the shop's id."""
    rng = random.Random(11)
    at = now - timedelta(days=10)
    with session_scope(settings.database_url) as s:
        if add_shop:
            s.add(Shop(domain=domain, access_token_enc="x", installed_at=now))
            s.flush()
        shop = s.exec(select(Shop).where(Shop.domain == domain)).one()
        cid, order = 1000, 50_000
        plan = [("email", "treatment", 0.30), ("email", "holdout", 0.10), ("sms", "treatment", 0.10),
                ("sms", "holdout", 0.10), (None, "treatment", 0.2), (None, "holdout", 0.2)]  # fmt: skip
        for channel, arm, rate in plan:
            for _ in range(300 if channel else 30):
                cid += 1
                sent = arm == "treatment"
                s.add(MessageDecision(shop_id=shop.id, agent="browse_abandonment", shopper_key=f"customer:{cid}",
                                      customer_shopify_id=cid, purpose="marketing", arm=arm,
                                      action="send" if sent else "hold_out", channel=channel if sent else None,
                                      intended_channel=channel, reason="r", proposal_reason="r",
                                      dedupe_key=f"b:{cid}", template="message", decided_at=at))  # fmt: skip
                if rng.random() < rate:
                    order += 1
                    s.add(Order(shop_id=shop.id, shopify_id=order, customer_shopify_id=cid, test=False,
                                processed_at=at + timedelta(days=2), total_price=Decimal("20.00"),
                                currency="USD"))  # fmt: skip
        return shop.id


def test_the_admin_lift_is_per_agent_and_channel_with_intervals(client, jobs_env):
    """The agent row mixes e-mail and SMS; its placements tell them apart, each with its own interval; rows
    decided before the intended channel was recorded stay apart."""
    domain = "lift-channels.myshopify.com"
    seed_channels(jobs_env, domain, datetime.now(UTC).replace(microsecond=0))
    r = client.get("/api/admin/lift?window_days=7", headers={"Authorization": f"Bearer {_token(domain)}"})
    assert r.status_code == 200, r.json
    (agent,) = r.json["agents"]
    by_channel = {p["channel"]: p for p in agent["placements"]}
    assert set(by_channel) == {"email", "sms", None}
    assert by_channel[None]["placement"] == "channel_not_recorded"
    email, sms = by_channel["email"], by_channel["sms"]
    assert (email["treatment"]["shoppers"], email["holdout"]["shoppers"]) == (300, 300)
    assert (sms["treatment"]["shoppers"], sms["holdout"]["shoppers"]) == (300, 300)
    lo, hi = email["conversion"]["absolute"]["low"], email["conversion"]["absolute"]["high"]
    assert 0 < lo < 0.2 < hi  # e-mail's lift is real: its interval is above 0 and holds the true +20 pts
    lo, hi = sms["conversion"]["absolute"]["low"], sms["conversion"]["absolute"]["high"]
    assert lo < 0 < hi  # SMS: no lift, and the interval says so
    assert email["revenue_per_shopper"]["absolute"]["low"] > 0


@pytest.mark.browser
@needs_chromium
def test_the_dashboard_draws_each_channels_interval(live_app, installed_shop):
    seed_channels(
        live_app.settings, installed_shop.domain, datetime.now(UTC).replace(microsecond=0), add_shop=False
    )
    landing = live_app.fake.origin_template.format(shop=installed_shop.domain) + f"/admin/apps/{TEST_API_KEY}"
    with chromium() as browser:
        page = admin_page(browser)
        page.goto(landing)
        agent = page.locator("article.agent[data-agent=browse_abandonment]")
        agent.wait_for(timeout=10_000)
        labels = agent.locator("svg.forest").first.locator("text.label").all_text_contents()
    assert labels == ["All placements", "By e-mail", "By SMS", "Channel not recorded"]


def test_measure_lists_an_acting_agents_single_channel():
    at = NOW - timedelta(days=3)
    exposures = [Exposure("a", "email_messages", f"s{i}", i % 2 == 0, at) for i in range(40)]
    purchases = [Purchase("s1", at + timedelta(days=1), 10.0)]
    (plain,) = measure(exposures, purchases, now=NOW)
    (split,) = measure(exposures, purchases, now=NOW, split={"a"})
    assert plain.placements == [] and [p.placement for p in split.placements] == ["email_messages"]
    assert split.placements[0].treatment == split.treatment and split.placements[0].holdout == split.holdout
