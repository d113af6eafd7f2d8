"""``POST /apps/attune/nudge``: signed only, bad input a clear 4xx, the hesitating shopper's help card in their
language, one decision per session recorded with its reason (and in the activity feed), the held-out session
sees nothing, another shopper's session id opens nothing, compare when there is no help, the incentive seam,
and signal floods rate-limited per shopper."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from app.models.messaging import MessageDecision
from app.models.nudge import NudgeSession
from app.models.serving import HoldoutPolicy
from app.storefront.demo_data import DEMO_CUSTOMER, VARIANT, seed_demo_shop
from app.stores import nudge as nudge_store
from app.stores.activity import FeedFilter, feed
from tests import test_support_knowledge as support_knowledge
from tests.test_proxy_storefront import SHOP, signed

SHIPPING = {
    "shipping": {
        "currency": "USD",
        "free_over": 50,
        "rates": {"*": {"cost": 4.5, "min_days": 3, "max_days": 5}},
    }
}


@pytest.fixture
def demo(session):
    nudge_store.clear_caches()
    shop = seed_demo_shop(session, SHOP)
    nudge_store.save_settings(session, shop.shop_id, SHIPPING)
    session.add(HoldoutPolicy(shop_id=shop.shop_id, agent="nudge", share=0.0))
    session.commit()
    yield shop
    nudge_store.clear_caches()
    nudge_store.set_incentive_approver(None)


HESITATION = [
    {"id": "a1", "kind": "cart_add", "variant": VARIANT[1002], "qty": 1},
    {"id": "a2", "kind": "cart_remove", "variant": VARIANT[1002]},
    {"id": "a3", "kind": "cart_add", "variant": VARIANT[1002], "qty": 1},
    {"id": "a4", "kind": "info_view", "topic": "shipping"},
    {"id": "a5", "kind": "info_view", "topic": "shipping"},
    {"id": "a6", "kind": "checkout_back"},
]


def body(session_id="sess-0001", signals=HESITATION, **kw):
    return {
        "session": session_id,
        "signals": signals,
        "cart": {"token": "cart-abc?key=0f1e2d", "total": 38.0, "currency": "USD", "product_ids": [1002]},
        **kw,
    }


def post(client, payload, *, customer=None, client_id="cid-1", raw=None, **params):
    query = {"client_id": client_id, **params} if client_id else params
    return client.post(
        signed("/nudge", query, customer=customer),
        data=raw if raw is not None else json.dumps(payload),
        content_type="application/json",
    )


def test_unsigned_and_bad_input_are_refused(client, demo):
    assert client.post(f"/proxy/nudge?shop={SHOP}", json=body()).status_code == 401
    assert post(client, None, raw="{nope").status_code == 400
    assert post(client, body(session_id="x")).status_code == 422
    assert post(client, body(signals=[{"id": "1", "kind": "dance"}])).status_code == 422
    assert post(client, body(signals=[{"id": "1", "kind": "cart_add", "variant": "x"}])).status_code == 422
    assert (
        post(client, body(signals=[{"id": str(i), "kind": "checkout_back"} for i in range(30)])).status_code
        == 413
    )
    assert post(client, body(country="USA")).status_code == 422
    assert post(client, body(cart={"token": "<script>"})).status_code == 422
    assert post(client, body(), client_id=None).status_code == 400  # nobody to key the session on
    r = client.post(signed("/nudge", {"client_id": "c"}), data="x", content_type="text/plain")
    assert r.status_code == 415


def test_a_hesitating_shopper_gets_the_help_rung_once_recorded_with_its_reason(client, demo, session):
    quiet = post(client, body(signals=[{"id": "q1", "kind": "cart_add", "variant": VARIANT[1002], "qty": 1}]))
    assert quiet.status_code == 200 and quiet.json["nudge"] is None
    r = post(client, body())
    assert r.status_code == 200, r.json
    card = r.json["nudge"]
    assert card["rung"] == "help" and card["title"] == "Shipping to you"
    assert card["lines"] == [
        "Shipping costs $4.50.",
        "Delivery in 3–5 days.",
        "Add $12.00 more for free shipping.",
    ]
    assert "came back from checkout" in r.json["why"]
    again = post(client, body(signals=[{"id": "b1", "kind": "checkout_back"}]))
    assert again.json["nudge"] is None  # at most one intervention per session
    rows = session.exec(select(MessageDecision).where(MessageDecision.agent == "nudge")).all()
    assert len(rows) == 1 and rows[0].action == "send" and rows[0].arm == "treatment"
    assert "help by ladder order" in rows[0].reason and rows[0].features["risk"] > 0.5
    items, _ = feed(session, demo.shop_id, FeedFilter(agent="nudge"), offset=0, limit=10)
    assert len(items) == 1
    assert session.exec(select(NudgeSession)).one().cart_token == "cart-abc"  # as orders carry it


def test_the_card_is_in_the_shoppers_language(client, demo):
    card = post(client, body(locale="de-DE")).json["nudge"]
    assert card["title"] == "Versand zu dir" and card["lines"][0] == "Versand kostet 4,50\xa0$."


def test_a_held_out_session_sees_nothing_and_its_counterfactual_is_recorded(client, demo, session):
    policy = session.exec(select(HoldoutPolicy).where(HoldoutPolicy.agent == "nudge")).one()
    policy.share = 1.0
    session.commit()
    r = post(client, body())
    assert r.status_code == 200 and r.json["nudge"] is None
    row = session.exec(select(MessageDecision).where(MessageDecision.agent == "nudge")).one()
    assert (row.action, row.arm, row.template) == ("hold_out", "holdout", "nudge_help")


def test_another_shoppers_session_id_opens_nothing_of_theirs(client, demo, session, settings):
    post(client, body(signals=HESITATION[:3]), customer=DEMO_CUSTOMER)
    r = post(client, body(signals=HESITATION[3:4]), client_id="intruder")
    assert r.json["nudge"] is None and r.json["why"] == []  # a fresh session: none of the customer's signals
    assert session.exec(select(NudgeSession)).all() == []  # undecided: live in Redis only, until the flush
    assert persist_live(settings) == 2
    rows = session.exec(select(NudgeSession)).all()
    assert sorted((r.client_id, r.customer_shopify_id, r.events) for r in rows) == [
        ("cid-1", DEMO_CUSTOMER, 3),
        ("intruder", None, 1),
    ]


def persist_live(settings) -> int:
    """The minute's flush of live sessions into the database (``app.jobs.nudge.persist_live_sessions``)."""
    from redis import Redis

    from app.db import session_scope
    from app.stores.nudge_live import persist, take_dirty

    rows = take_dirty(Redis.from_url(settings.redis_url), 1000)
    with session_scope(settings.database_url) as s:
        return persist(s, rows)


def test_a_lost_live_entry_never_decides_a_session_twice(client, demo, session, settings):
    from redis import Redis

    assert post(client, body()).json["nudge"]["rung"] == "help"
    Redis.from_url(settings.redis_url).flushdb()  # the live fold is gone
    again = post(client, body(signals=[{"id": "z1", "kind": "checkout_back"}] + HESITATION[:3]))
    assert again.status_code == 200 and again.json["nudge"] is None
    assert len(session.exec(select(MessageDecision).where(MessageDecision.agent == "nudge")).all()) == 1
    assert persist_live(settings) == 1  # the fold after the loss is kept, the decision with it
    row = session.exec(select(NudgeSession)).one()
    assert row.action == "show" and row.rung == "help"


def test_compare_when_no_help_and_the_incentive_seam(client, demo, session):
    nudge_store.save_settings(session, demo.shop_id, {})
    session.commit()
    nudge_store.clear_caches()
    r = post(client, body(cart={"token": "t", "total": 249, "currency": "USD", "product_ids": [1001]}))
    card = r.json["nudge"]
    assert card["rung"] == "compare" and card["items"]
    assert card["items"][0]["title"] == "Packable Rain Shell"
    assert (
        card["items"][0]["why"] == "Cheaper than Alpine Down Jacket"
        and card["items"][0]["price"] == "$159.00"
    )
    # no help and no alternative: only an approved incentive, never on a first hesitation
    from app.agents.nudge import IncentiveOffer

    nudge_store.set_incentive_approver(
        lambda s, shop_id, ask: IncentiveOffer("RESCUE-1", "10% off", reason="ok")
    )
    solo = {"token": "t", "total": 20, "currency": "USD", "product_ids": [1016]}
    r = post(client, body(session_id="sess-0002", cart=solo))
    assert r.json["nudge"]["rung"] == "incentive" and r.json["nudge"]["code"] == "RESCUE-1"
    nudge_store.set_incentive_approver(lambda s, shop_id, ask: 1 / 0)  # a failing approval: no incentive
    assert post(client, body(session_id="sess-0003", cart=solo)).json["nudge"] is None


def test_signal_floods_are_rate_limited_per_shopper(client, demo, app):
    app.extensions["attune.settings"] = app.extensions["attune.settings"].model_copy(
        update={"nudge_rate_client_per_min": 8}
    )
    assert post(client, body(signals=HESITATION[:5])).status_code == 200
    flood = post(client, body(signals=HESITATION))
    assert flood.status_code == 429 and int(flood.headers["Retry-After"]) >= 1
    assert post(client, body(signals=HESITATION[:2]), client_id="someone-else").status_code == 200


knowledge_shop, minilm_numpy = support_knowledge.knowledge_shop, support_knowledge.minilm_numpy  # fixtures


def test_help_answers_from_the_shops_policies_through_the_support_knowledge(knowledge_shop, live_app):
    from app.jobs.knowledge import sync_shop_knowledge

    nudge_store.clear_caches()
    sync_shop_knowledge(knowledge_shop.id, live_app.settings)
    views = [{"id": f"r{i}", "kind": "info_view", "topic": "returns"} for i in range(2)]
    path = signed("/nudge", {"client_id": "c-returns"}, shop=knowledge_shop.domain)
    answer = live_app.client().post(path, json=body(signals=views, cart={"total": 20})).get_json()
    card = answer["nudge"]
    assert card is not None, answer
    assert card["rung"] == "help" and card["title"] == "Returns", answer
    assert card["lines"] == ["You can return unworn items within 30 days of delivery for a full refund."]
    assert card["source"] == "Refund policy" and card["url"].endswith("/policies/refund-policy")
    nudge_store.clear_caches()


def test_the_pixels_checkout_steps_and_stall_feed_the_risk(client, demo, session):
    from datetime import UTC, datetime, timedelta

    from app.models.events import PixelEvent

    now = datetime.now(UTC)
    for name, ago in (("checkout_started", 400), ("checkout_contact_info_submitted", 300)):
        session.add(PixelEvent(shop_id=demo.shop_id, event_id=name, client_id="cid-px", name=name,
                               occurred_at=now + timedelta(seconds=5) - timedelta(seconds=ago)))  # fmt: skip
    session.add(PixelEvent(shop_id=demo.shop_id, event_id="other", client_id="someone", name="checkout_started",
                           occurred_at=now))  # fmt: skip
    session.commit()
    answer = post(client, body(signals=HESITATION[5:]), client_id="cid-px").json
    assert set(answer) == {"nudge", "risk", "why"}
    assert "stalled in checkout" in answer["why"] and "came back from checkout" in answer["why"]
    row = session.exec(select(NudgeSession).where(NudgeSession.client_id == "cid-px")).one()
    assert row.features["checkout_step"] == 2 and row.features["checkout_stall_s"] >= 290
    card = answer["nudge"]  # anonymous: the shop's facts only
    assert set(card) <= {"rung", "title", "lines", "items", "reason", "source", "url", "close", "code"}


def test_compare_offers_a_better_rated_alternative_with_its_reason(client, demo, session):
    from app.models.feedback import ProductReview

    nudge_store.save_settings(session, demo.shop_id, {})
    for i, (product, rating) in enumerate([(1001, 5), (1001, 5), (1001, 4), (1014, 3), (1014, 3)]):
        session.add(ProductReview(shop_id=demo.shop_id, review_key=f"r{i}", customer_shopify_id=700 + i,
                                  product_shopify_id=product, rating=rating))  # fmt: skip
    session.commit()
    nudge_store.clear_caches()
    shell = {"token": "t", "total": 159, "currency": "USD", "product_ids": [1014]}
    card = post(client, body(cart=shell, locale="de")).json["nudge"]
    assert card["rung"] == "compare" and card["title"] == "Das könnte dir auch gefallen"
    assert [(i["title"], i["why"]) for i in card["items"]] == [
        ("Alpine Down Jacket", "Besser bewertet als Packable Rain Shell (4.7 von 5)")
    ]


def test_the_control_rooms_switch_and_global_holdout_reach_the_nudge(client, demo, session):
    """The nudge decides in the request, not through the orchestrator: the agent's card switched off means it
    only listens, and a shopper in the shop's global holdout is held out of every session."""
    from app.models.control_room import AgentSetting

    session.add(AgentSetting(shop_id=demo.shop_id, agent="nudge", enabled=False))
    session.commit()
    nudge_store.clear_caches()
    r = post(client, body(session_id="sess-0101"))
    assert r.status_code == 200 and r.json["nudge"] is None
    assert not session.exec(select(MessageDecision).where(MessageDecision.agent == "nudge")).all()
    assert all(row.action is None for row in session.exec(select(NudgeSession)).all())  # nothing decided

    card = session.exec(select(AgentSetting).where(AgentSetting.agent == "nudge")).one()
    card.enabled = True
    session.add(HoldoutPolicy(shop_id=demo.shop_id, agent="global", share=1.0))  # everyone: no agent acts
    session.commit()
    nudge_store.clear_caches()
    r = post(client, body(session_id="sess-0102"), customer=DEMO_CUSTOMER)
    assert r.status_code == 200 and r.json["nudge"] is None
    row = session.exec(select(MessageDecision).where(MessageDecision.agent == "nudge")).one()
    assert (row.action, row.arm) == ("hold_out", "holdout")  # the nudge's own share is 0: the global holdout
