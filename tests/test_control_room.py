"""The control room's API: the success table's figures against a seeded database (counted here by hand), English
and French words with plurals and numbers, the agents' cards, the setup guide, and the settings' validation
(422 naming the field), every read and write the token's shop's."""

from __future__ import annotations

import re
from datetime import time

import pytest
from control_room_support import DAYS, GLOBAL_SHARE, seed_shop
from fixtures_shopify import InstalledShop, LiveApp, make_session_token
from sqlmodel import select

from app.channels.admin_words import PLURALS, WORDS, Words
from app.measurement.control_room import METRICS
from app.models.base import utcnow
from app.models.control_room import AgentSetting
from app.models.serving import HoldoutPolicy
from app.stores.contact_policy import load_policy

PATH = "/api/admin/control-room"


def get(live: LiveApp, shop: str, path: str):
    return live.client().get(path, headers={"Authorization": f"Bearer {make_session_token(shop)}"})


def put(live: LiveApp, shop: str, path: str, body):
    return live.client().put(path, json=body, headers={"Authorization": f"Bearer {make_session_token(shop)}"})


@pytest.fixture
def seeded(installed_shop: InstalledShop, session):
    return seed_shop(session, installed_shop.id, utcnow())


def _row(body, metric):
    return next(r for r in body["table"]["rows"] if r["metric"] == metric)


def test_the_table_shows_the_seeded_figures(live_app: LiveApp, installed_shop: InstalledShop, seeded):
    assert live_app.client().get(PATH).status_code == 401
    body = get(live_app, installed_shop.domain, f"{PATH}?days={DAYS}").json
    assert (
        body["global_holdout"]["share"] == GLOBAL_SHARE and body["table"]["treated_share"] == 1 - GLOBAL_SHARE
    )
    conv = _row(body, "conversion_rate")
    assert conv["treated"] == {
        "customers": len(seeded.treated),
        "value": pytest.approx(seeded.conversion(seeded.treated)),
    }
    assert conv["holdout"] == {
        "customers": len(seeded.held),
        "value": pytest.approx(seeded.conversion(seeded.held)),
    }
    d = conv["difference"]
    assert d["low"] < d["estimate"] < d["high"] and d["low"] < 0.15 < d["high"]  # the seeded effect is 0.15
    for metric in METRICS:  # every row, both arms, counted by hand from the seeded rows
        row = _row(body, metric)
        for arm, group in (("treated", seeded.treated), ("holdout", seeded.held)):
            want = seeded.expected(metric, group)
            assert want is not None and row[arm]["value"] == pytest.approx(want), (metric, arm)
    aov = _row(body, "average_order_value")
    assert aov["treated"]["value"] == pytest.approx(seeded.aov(seeded.treated))
    assert aov["references"]["with_agents"] == "+15–25 %" and "issue 20" in aov["references"]["source"]
    assert _row(body, "conversion_rate")["references"]["traditional"] == "—"  # no issue quotes one
    cross = _row(body, "cross_sell_rate")  # product 77 is recommended to everyone and new to them
    assert 0.3 < cross["treated"]["value"] < 0.7
    assert _row(body, "support_deflection")["treated"]["customers"] > 0
    recovery = _row(body, "cart_recovery")
    assert recovery["treated"]["customers"] + recovery["holdout"]["customers"] == 400 // 9
    revenue = body["table"]["revenue"]
    assert revenue["net_of_discounts"] and revenue["discounts"] == pytest.approx(
        2.0 * len([c for c in seeded.treated if c in seeded.bought])
    )
    assert not body["table"]["sample_ratio"]["mismatch"] and body["table"]["warnings"] == []
    assert conv["text"]["label"] == "Conversion rate" and conv["text"]["treated"].endswith("%")
    assert body["simulated"] is False


def test_cards_and_setup_guide(live_app: LiveApp, installed_shop: InstalledShop, seeded):
    body = get(live_app, installed_shop.domain, PATH).json
    cards = {c["agent"]: c for c in body["agents"]}
    assert set(cards) >= {"recommendations", "browse_abandonment", "rescue", "replenishment", "support"}
    rescue = cards["rescue"]
    assert rescue["status"] == "on" and rescue["volume"] == 80
    assert rescue["today"] == {
        "send": sum(1 for c in seeded.treated if c % 10 == 5),
        "hold_out": sum(1 for c in seeded.held if c % 10 == 5),
    }
    assert rescue["settings"]["holdout_share"] == 0.1 and rescue["settings"]["weekly_budget"] is None
    steps = {s["step"]: s for s in body["setup"]}
    assert list(steps) == ["theme_embed", "pixel", "channels", "first_sync"]
    assert steps["pixel"]["done"] is False and steps["pixel"]["label"] == "Pixel connected"


def test_french_words_plurals_and_numbers(live_app: LiveApp, installed_shop: InstalledShop, seeded):
    body = get(live_app, installed_shop.domain, f"{PATH}?locale=fr-CA").json
    assert body["locale"] == "fr" and body["labels"]["title"] == "Salle de contrôle"
    conv = _row(body, "conversion_rate")["text"]
    assert conv["label"] == "Taux de conversion" and re.fullmatch(r"\d+,\d\s%", conv["treated"])
    assert conv["treated_customers"].endswith(" clients")
    fr = Words("fr")
    assert fr.plural("customers", 1) == "1 client" and fr.plural("customers", 0) == "0 client"
    assert fr.plural("actions_today", 2) == "2 actions aujourd'hui"
    assert fr.number(1234) == "1\u202f234" and Words("en").number(1234) == "1,234"


def test_every_control_room_word_is_translated_into_french():
    fr = Words("fr")
    missing = [w for w in WORDS if fr(w) == w and w not in ("Agents", "Volume")]
    assert missing == []
    for key in PLURALS:
        assert fr.plural(key, 2) != Words("en").plural(key, 2), key


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"holdout_share": 0.6}, "holdout_share"),
        ({"holdout_share": -0.1}, "holdout_share"),
        ({"holdout_share": "10%"}, "holdout_share"),
        ({"weekly_budget": -1}, "weekly_budget"),
        ({"weekly_budget": 2.5}, "weekly_budget"),
        ({"quiet_hours": "9-20"}, "quiet_hours"),
        ({"quiet_hours": "07:00-20:00"}, "quiet_hours"),
        ({"quiet_hours": "20:00-09:00"}, "quiet_hours"),
        ({"quiet_hours": "25:00-26:00"}, "quiet_hours"),
        ({"channels": ["fax"]}, "channels"),
        ({"enabled": "yes"}, "enabled"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_get_422_naming_the_field(
    live_app: LiveApp, installed_shop: InstalledShop, session, body, field
):
    r = put(live_app, installed_shop.domain, "/api/admin/agents/rescue/settings", body)
    assert r.status_code == 422 and r.json["field"] == field and r.json["message"]
    assert session.exec(select(AgentSetting)).all() == []


def test_settings_are_saved_and_the_orchestrator_reads_them(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    body = {
        "enabled": False,
        "channels": ["email"],
        "holdout_share": 0.3,
        "weekly_budget": 50,
        "quiet_hours": "09:00-20:00",
    }
    r = put(live_app, installed_shop.domain, "/api/admin/agents/rescue/settings", body)
    assert r.status_code == 200, r.json
    assert r.json == {**body, "quiet_hours": "09:00-20:00"}
    policy = load_policy(session, installed_shop.id)
    assert policy.switch_for("rescue").enabled is False and policy.holdout_for("rescue").share == 0.3
    assert policy.window_for("rescue") == (time(9), time(20)) and policy.window_for("replenishment")[
        0
    ] == time(8)
    assert policy.agents["rescue"].weekly_budget == 50 and policy.agents["rescue"].channels == ("email",)
    assert put(live_app, installed_shop.domain, "/api/admin/agents/nobody/settings", body).status_code == 404
    r = put(live_app, installed_shop.domain, "/api/admin/global-holdout", {"share": 0.7})
    assert r.status_code == 422 and r.json["field"] == "share"
    assert (
        put(live_app, installed_shop.domain, "/api/admin/global-holdout", {"share": 0.1}).status_code == 200
    )
    stored = session.exec(select(HoldoutPolicy).where(HoldoutPolicy.agent == "global")).one()
    assert stored.share == 0.1 and load_policy(session, installed_shop.id).global_holdout.share == 0.1


def test_the_demos_control_room_shows_every_agents_simulated_lift(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    from app.demo.control_room_seed import seed_control_room, truths

    measured = seed_control_room(session, installed_shop.id)
    session.commit()
    covered = sum(m["found"].interval.contains(m["true_uplift"]) for m in measured)
    assert covered >= len(measured) - 1  # always-valid 95 % intervals, one per agent
    body = get(live_app, installed_shop.domain, PATH).json
    assert body["simulated"] is True and "each agent's lift" in body["labels"]["simulated"]
    cards = {c["agent"]: c for c in body["agents"]}
    assert set(truths()) <= set(cards)
    for agent in truths():
        lift = cards[agent]["lift"]
        assert lift is not None and lift["simulated"] is True, agent
        assert lift["treated"] is None and lift["holdout"] is None  # the snapshot has no arms: none claimed
        assert lift["conversion"]["low"] < lift["conversion"]["estimate"] < lift["conversion"]["high"]


def test_the_demos_control_room_covers_every_agent_back_in_stock_included(
    live_app: LiveApp, installed_shop: InstalledShop, session
):
    """Every agent the control room lists has a simulated truth in the demo (none shows an empty card), the
    back-in-stock agent among them, its lift labelled simulated like the others, in English and French."""
    from app.demo.control_room_seed import seed_control_room, truths
    from app.web.admin_control_room import AGENTS

    assert set(truths()) == set(AGENTS) and "back_in_stock" in AGENTS
    measured = {m["agent"]: m for m in seed_control_room(session, installed_shop.id)}
    session.commit()
    assert measured["back_in_stock"]["true_uplift"] > 0 and measured["back_in_stock"]["holdout"] > 0
    for locale, label in (("en", "Back in stock"), ("fr", "Retour en stock")):
        body = get(live_app, installed_shop.domain, f"{PATH}?locale={locale}").json
        card = next(c for c in body["agents"] if c["agent"] == "back_in_stock")
        assert card["label"] == label and body["simulated"] is True
        assert card["lift"] is not None and card["lift"]["simulated"] is True
        assert card["lift"]["conversion"]["low"] < card["lift"]["conversion"]["estimate"]
        assert card["lift"]["conversion"]["estimate"] < card["lift"]["conversion"]["high"]
