"""The global holdout: 5 % of a shop's shoppers (a stable hash, the name ``global``) whom no agent ever touches,
enforced by the orchestrator for every acting agent and by the storefront's lists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from app.measurement.holdout import GLOBAL, in_global_holdout, in_holdout
from app.models.messaging import MessageDecision
from app.models.serving import HoldoutPolicy
from app.models.shop import Shop
from app.orchestrator.policy import decide
from app.orchestrator.proposal import (
    SUBSCRIBED,
    Action,
    Arm,
    ContactPolicy,
    HoldoutShare,
    ProposalError,
    Shopper,
    ShopperFacts,
)
from app.stores.contact_policy import load_policy
from tests import test_proxy_storefront as storefront
from tests.messaging_support import add_subscribed_customer, decide_all, make_proposal

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
SHOP = 3
AGENTS = ("browse_abandonment", "rescue", "replenishment", "journey")
CUSTOMERS = range(1, 4001)
GLOBALLY_HELD = [c for c in CUSTOMERS if in_global_holdout(SHOP, "customer", str(c), 0.05)]
demo = storefront.demo  # fixture


def _shop(session) -> Shop:
    shop = Shop(domain="global-holdout.myshopify.com")
    session.add(shop)
    session.commit()
    return shop


def _facts() -> ShopperFacts:
    return ShopperFacts(consents={"email": SUBSCRIBED}, reachable=frozenset({"email"}), country="US")


def test_the_draw_is_five_percent_and_independent_of_each_agents_own():
    share = len(GLOBALLY_HELD) / len(CUSTOMERS)
    assert 0.04 < share < 0.06  # binomial sd is 0.0034
    own = {c for c in CUSTOMERS if in_holdout(SHOP, "rescue", "customer", str(c), 0.05)}
    both = len(own & set(GLOBALLY_HELD))
    assert both < 0.2 * len(GLOBALLY_HELD)  # independent draws overlap by ~5 %, not by all


@pytest.mark.parametrize("agent", AGENTS)
def test_every_agent_holds_out_the_same_shoppers_even_with_its_own_holdout_at_zero(agent):
    policy = ContactPolicy(default_holdout=HoldoutShare(0.0), global_holdout=HoldoutShare(0.05))
    proposals = [
        make_proposal(SHOP, NOW, agent=agent, shopper=Shopper(customer_id=c), dedupe_key=f"{agent}:{c}")
        for c in CUSTOMERS[:600]
    ]
    decisions = decide(proposals, {p.shopper.key: _facts() for p in proposals}, policy, NOW)
    held = [d.proposal.shopper.customer_id for d in decisions if d.action is Action.HOLD_OUT]
    assert held == [c for c in GLOBALLY_HELD if c <= 600] and held
    for d in decisions:
        if d.action is Action.HOLD_OUT:
            assert d.arm is Arm.HOLDOUT and "global holdout" in d.reason and d.channel is None
        else:
            assert d.action is Action.SEND and d.arm is Arm.TREATMENT


def test_without_a_global_holdout_the_same_shoppers_are_sent():
    policy = ContactPolicy(default_holdout=HoldoutShare(0.0), global_holdout=HoldoutShare(0.0))
    c = GLOBALLY_HELD[0]
    p = make_proposal(SHOP, NOW, shopper=Shopper(customer_id=c))
    assert decide([p], {p.shopper.key: _facts()}, policy, NOW)[0].action is Action.SEND


def test_a_global_share_above_half_is_refused():
    with pytest.raises(ProposalError, match="global holdout"):
        ContactPolicy(global_holdout=HoldoutShare(0.6))


def test_the_store_loads_five_percent_by_default_and_the_shops_own_share(session):
    shop = _shop(session)
    assert load_policy(session, shop.id).global_holdout.share == 0.05
    session.add(HoldoutPolicy(shop_id=shop.id, agent=GLOBAL, share=0.2, salt="s"))
    session.commit()
    policy = load_policy(session, shop.id)
    assert policy.global_holdout == HoldoutShare(0.2, "s") and GLOBAL not in policy.holdouts


@pytest.mark.parametrize("agent", AGENTS)
def test_each_agents_job_path_records_a_hold_out_and_no_message(settings, session, agent, monkeypatch):
    """Through ``app.jobs.orchestrate.submit`` (the path every agent job takes) with the shop's stored policy."""
    monkeypatch.setattr("app.stores.contact_policy.DEFAULT_MESSAGE_HOLDOUT", 0.0)
    shop = _shop(session)
    inside = next(c for c in range(1, 500) if in_global_holdout(shop.id, "customer", str(c), 0.05))
    outside = next(c for c in range(1, 500) if not in_global_holdout(shop.id, "customer", str(c), 0.05))
    for c in (inside, outside):
        add_subscribed_customer(session, shop.id, "email", NOW, customer_id=c, email=f"c{c}@example.com")
    session.commit()
    proposals = [
        make_proposal(shop.id, NOW, agent=agent, shopper=Shopper(customer_id=c), dedupe_key=f"{agent}:{c}")
        for c in (inside, outside)
    ]
    decisions, outbox = decide_all(settings, proposals, NOW)
    assert [d.action for d in decisions] == [Action.HOLD_OUT, Action.SEND]
    assert [r.customer_shopify_id for r in outbox] == [outside]
    session.expire_all()
    rows = session.exec(select(MessageDecision).where(MessageDecision.shop_id == shop.id)).all()
    assert {r.customer_shopify_id: r.arm for r in rows} == {inside: "holdout", outside: "treatment"}


def test_the_storefront_serves_the_control_list_to_the_global_holdout(client, demo, session):
    """The recommendations agent's own holdout is 0 in this shop: only the global draw holds anyone out."""
    session.add(HoldoutPolicy(shop_id=demo.shop_id, agent=GLOBAL, share=0.5))
    session.commit()
    clients = [f"client-{n}" for n in range(12)]
    held = {c for c in clients if in_global_holdout(demo.shop_id, "client", c, 0.5)}
    assert 0 < len(held) < len(clients)
    for c in clients:
        params = {"placement": "fbt", "product_id": "1010", "client_id": c}
        r = client.get(storefront.signed("/recommendations", params))
        assert r.json["holdout"] is (c in held)
