"""Newsletters end to end: the merchant writes one in the admin API (with two subject variants), previews it for a
recipient, sends it; the job personalises it per recipient and hands it to the orchestrator, which keeps
consent, the contact budget, the global holdout and the campaign's own; the relay sends parsed, personalised
e-mails to a real SMTP server on loopback; a second run sends nothing; the admin shows the campaign's decisions,
its lift against its holdout and its variants' readout. Bad input is a 4xx naming the field, and another shop
sees none of it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from campaign_support import (
    CAMPAIGN,
    CAMPERS,
    GLOBAL_SHARE,
    NO_ADDRESS,
    OUT_OF_STOCK,
    PLAIN,
    PRODUCTS,
    RECOMMENDED,
    SUBSCRIBED,
    UNSUBSCRIBED,
    name_of,
    seed,
)
from fixtures_shopify import InstalledShop, LiveApp, make_session_token
from sqlmodel import select

from app.channels.email_loopback import LoopbackSmtp
from app.db import session_scope
from app.jobs import outbox as relay
from app.jobs.campaign import continue_campaigns, send_campaign
from app.jobs.orchestrate import submit
from app.measurement.holdout import in_global_holdout, in_holdout
from app.models.base import utcnow
from app.models.campaigns import Campaign
from app.models.commerce import Order
from app.models.messaging import MessageDecision, OutboxMessage
from app.models.serving import HoldoutPolicy
from app.orchestrator.proposal import Shopper
from tests.messaging_support import make_proposal

OTHER = "other-camp.myshopify.com"


@pytest.fixture
def smtp():
    with LoopbackSmtp() as sink:
        yield sink


@pytest.fixture
def shop(jobs_env, live_app: LiveApp, installed_shop: InstalledShop, smtp):
    now = utcnow().replace(microsecond=0)
    with session_scope(jobs_env.database_url) as s:
        seed(s, installed_shop.id, now, smtp.url, jobs_env.encryption_keys)
    return installed_shop


def _api(live: LiveApp, domain: str, method: str, path: str, body=None):
    headers = {"Authorization": f"Bearer {make_session_token(domain)}"}
    return live.client().open(path, method=method, json=body, headers=headers)


def _held(shop_id: int, campaign_id: int, cid: int) -> bool:
    return in_global_holdout(shop_id, "customer", str(cid), GLOBAL_SHARE) or in_holdout(
        shop_id, f"newsletter-{campaign_id}", "customer", str(cid), CAMPAIGN["holdout_share"]
    )


def test_a_newsletter_reaches_each_subscriber_personalised_through_the_orchestrator(
    jobs_env, live_app: LiveApp, shop: InstalledShop, smtp
):
    r = _api(live_app, shop.domain, "POST", "/api/admin/campaigns", CAMPAIGN)
    assert r.status_code == 201, r.json
    cid = r.json["id"]
    assert r.json["agent"] == f"newsletter-{cid}" and [v["key"] for v in r.json["variants"]] == ["a", "b"]
    now = utcnow().replace(microsecond=0)

    # the preview shows one recipient's own products and words, and decides nothing
    camper = CAMPERS[0]
    p = _api(live_app, shop.domain, "GET", f"/api/admin/campaigns/{cid}/preview?customer={camper}&variant=a")
    assert p.status_code == 200, p.json
    assert p.json["subject"] == f"{name_of(camper)}, your spring picks"
    assert [x["title"] for x in p.json["data"]["products"]] == [
        "Stove",
        "Sleeping bag",
    ]  # not the tent they own
    assert p.json["data"]["block"] == "interest"
    for bad, code in ((f"customer={UNSUBSCRIBED}", 404), (f"customer={NO_ADDRESS}", 404), ("customer=x", 400),
                      (f"customer={camper}&variant=z", 400)):  # fmt: skip
        assert (
            _api(live_app, shop.domain, "GET", f"/api/admin/campaigns/{cid}/preview?{bad}").status_code
            == code
        )
    assert _api(
        live_app, OTHER, "GET", f"/api/admin/campaigns/{cid}/preview?customer={camper}"
    ).status_code in (
        401,
        404,
    )

    # the contact budget: one treated recipient already had today's marketing message from another agent
    busy = next(c for c in RECOMMENDED if not _held(shop.id, cid, c))
    with session_scope(jobs_env.database_url) as s:
        s.add(HoldoutPolicy(shop_id=shop.id, agent="browse_abandonment", share=0.0))
    if not in_global_holdout(shop.id, "customer", str(busy), GLOBAL_SHARE):
        with session_scope(jobs_env.database_url) as s:
            submit(s, shop.id, [make_proposal(shop.id, now, shopper=Shopper(customer_id=busy),
                                              dedupe_key=f"browse:{busy}:11")], now)  # fmt: skip

    assert _api(live_app, shop.domain, "POST", f"/api/admin/campaigns/{cid}/send").status_code == 202
    assert _api(live_app, shop.domain, "POST", f"/api/admin/campaigns/{cid}/send").status_code == 409
    result = send_campaign(shop.id, cid, now=now)
    assert result["recipients"] == len(SUBSCRIBED) and result["proposals"] == len(SUBSCRIBED)
    with session_scope(jobs_env.database_url) as s:
        decisions = {
            d.customer_shopify_id: d
            for d in s.exec(select(MessageDecision).where(MessageDecision.agent == f"newsletter-{cid}")).all()
        }
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.agent == f"newsletter-{cid}")).all()
        assert s.get(Campaign, cid).status == "sent"
    assert set(decisions) == set(SUBSCRIBED)  # not the unsubscribed one, not the one without an address
    held = {c for c in SUBSCRIBED if _held(shop.id, cid, c)}
    assert held and held != set(SUBSCRIBED)
    assert {c for c, d in decisions.items() if d.action == "hold_out"} == held  # global and its own holdout
    assert "contact budget" in decisions[busy].reason and decisions[busy].action == "suppress"
    sent = {c for c, d in decisions.items() if d.action == "send"}
    assert sent == set(SUBSCRIBED) - held - {busy}
    assert sorted(r.customer_shopify_id for r in rows) == sorted(sent)

    for row in rows:
        assert relay.relay_message(row.id, now=now) == "sent"
    received = {int(m.rcpt_tos[0][1:].split("@")[0]): m.message for m in smtp.messages}
    assert set(received) == sent
    for c, msg in received.items():
        variant = decisions[c].features["variant"]
        subject = {"a": f"{name_of(c)}, your spring picks", "b": "New at Installed Shop this spring"}[variant]
        assert msg["Subject"] == subject and msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        if variant == "a":
            assert f"Our spring edit is in, {name_of(c)}." in text
        else:
            assert "Fresh for spring at Installed Shop." in text
        if c in RECOMMENDED:
            assert "Picked for you at Installed Shop:" in text
            for pid in (11, 12, 13):
                assert PRODUCTS[pid] in text and PRODUCTS[pid] in html
            assert PRODUCTS[OUT_OF_STOCK] not in text
        elif c in CAMPERS:
            assert "For your camping, a few things you do not have yet:" in text
            assert "Stove" in text and "Sleeping bag" in text and "- Tent" not in text
        else:
            assert c in PLAIN and "Picked for you" not in text and "- " not in text.split("--")[0]
    assert {decisions[c].features["variant"] for c in sent} <= {"a", "b"}

    again = send_campaign(shop.id, cid, now=now + timedelta(hours=1))
    assert again["proposals"] == 0 and continue_campaigns() == 0  # once per recipient; nothing left to send
    with session_scope(jobs_env.database_url) as s:
        n = len(s.exec(select(MessageDecision).where(MessageDecision.agent == f"newsletter-{cid}")).all())
    assert n == len(SUBSCRIBED)

    listed = _api(live_app, shop.domain, "GET", "/api/admin/campaigns").json["campaigns"]
    (mine,) = [c for c in listed if c["id"] == cid]
    assert mine["decisions"]["hold_out"] == len(held) and mine["decisions"]["send"] == len(sent)
    assert mine["lift"]["treated"]["shoppers"] == len(sent) and mine["lift"]["holdout"]["shoppers"] == len(
        held
    )
    assert mine["readout"][0]["segment"] == "all"
    assert sum(v["shoppers"] for v in mine["readout"][0]["variants"]) == len(sent)
    assert _api(live_app, OTHER, "GET", "/api/admin/campaigns").json["campaigns"] == []


def test_waves_send_part_of_the_list_each_day(jobs_env, live_app: LiveApp, shop: InstalledShop):
    r = _api(live_app, shop.domain, "POST", "/api/admin/campaigns", {**CAMPAIGN, "wave": 8})
    cid = r.json["id"]
    now = utcnow().replace(microsecond=0)
    first = send_campaign(shop.id, cid, wave=8, now=now)
    assert first["proposals"] == 8 and first["remaining"] == len(SUBSCRIBED) - 8
    with session_scope(jobs_env.database_url) as s:
        assert s.get(Campaign, cid).status == "sending"
    # every treated recipient of one variant buys the next day, nobody else: the bandit reads it between waves
    with session_scope(jobs_env.database_url) as s:
        wave1 = s.exec(select(MessageDecision).where(MessageDecision.agent == f"newsletter-{cid}")).all()
        treated = [d for d in wave1 if d.action in ("send", "defer")]
        got = [d.features["variant"] for d in treated]
        winner = max(("a", "b"), key=lambda v: (got.count(v), v))
        for i, d in enumerate(x for x in treated if x.features["variant"] == winner):
            s.add(Order(shop_id=shop.id, shopify_id=70_000 + i, customer_shopify_id=d.customer_shopify_id,
                        test=False, processed_at=now + timedelta(hours=20), total_price=Decimal("25")))  # fmt: skip
    second = send_campaign(shop.id, cid, wave=8, now=now + timedelta(days=1))
    third = send_campaign(shop.id, cid, wave=8, now=now + timedelta(days=2))
    assert second["proposals"] + third["proposals"] == len(SUBSCRIBED) - 8 and third["remaining"] == 0
    with session_scope(jobs_env.database_url) as s:
        assert s.get(Campaign, cid).status == "sent"
        later = s.exec(select(MessageDecision).where(MessageDecision.agent == f"newsletter-{cid}")).all()
    later = [d for d in later if d.id not in {w.id for w in wave1}]
    picks = [d.features["variant"] for d in later]  # the held-out ones were drawn too (and never sent)
    assert picks.count(winner) >= 0.8 * len(picks), (winner, picks)
    holdout = [d for d in later if d.action == "hold_out"]
    assert {d.customer_shopify_id for d in holdout} == {
        d.customer_shopify_id for d in later if _held(shop.id, cid, d.customer_shopify_id)
    }  # the arms are the hash's, whatever the bandit chose


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CAMPAIGN, "name": ""}, "name"),
        ({**CAMPAIGN, "subject": "x" * 201}, "subject"),
        ({k: v for k, v in CAMPAIGN.items() if k != "body"}, "body"),
        ({**CAMPAIGN, "products": 7}, "products"),
        ({**CAMPAIGN, "holdout_share": 0.6}, "holdout_share"),
        ({**CAMPAIGN, "holdout_share": True}, "holdout_share"),
        ({**CAMPAIGN, "wave": 0}, "wave"),
        ({**CAMPAIGN, "variants": [{}]}, "variants[0]"),
        ({**CAMPAIGN, "variants": [{"subject": None}]}, "variants[0]"),
        ({**CAMPAIGN, "variants": [{"tone": "warm"}]}, "variants[0]"),
        ({**CAMPAIGN, "variants": [{"subject": "s"}] * 7}, "variants"),
        ({**CAMPAIGN, "colour": "red"}, "colour"),
        ([], "body"),
    ],
)
def test_bad_campaigns_get_422_naming_the_field(
    live_app: LiveApp, installed_shop: InstalledShop, body, field
):
    r = _api(live_app, installed_shop.domain, "POST", "/api/admin/campaigns", body)
    assert r.status_code == 422 and r.json["field"] == field, r.json


def test_any_agents_variants_are_set_and_read_out(live_app: LiveApp, installed_shop: InstalledShop):
    d = installed_shop.domain
    r = _api(
        live_app, d, "PUT", "/api/admin/variants/win_back", {"variants": [{"subject": "We kept your seat"}]}
    )
    assert r.status_code == 200 and r.json["variants"][0]["key"] == "a"
    got = _api(live_app, d, "GET", "/api/admin/variants/win_back").json
    assert got["variants"][0]["subject"] == "We kept your seat"
    assert got["readout"][0]["segment"] == "all" and got["readout"][0]["variants"] == []  # nothing sent yet
    assert _api(live_app, d, "PUT", "/api/admin/variants/win_back", {"variants": "x"}).status_code == 422
    assert _api(live_app, d, "GET", "/api/admin/variants/Bad Name").status_code == 404
    assert live_app.install(OTHER).status_code == 200
    assert _api(live_app, OTHER, "GET", "/api/admin/variants/win_back").json["variants"] == []
