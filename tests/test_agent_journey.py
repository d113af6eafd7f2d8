"""The journey agent (pure): each flow's rules, the pricing seam for win-back incentives, one holdout per flow,
and competing proposals settled by expected incremental value under the one contact budget."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.agents import journey
from app.agents.journey import Incentive, InterestOutlook, Item, JourneyFacts, propose
from app.orchestrator.policy import decide
from app.orchestrator.proposal import Action, ContactPolicy, HoldoutShare, Shopper, ShopperFacts

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TENT = Item(1, "Tent", "https://s.test/tent", "120.00 EUR", 120.0, "EUR")
STOVE = Item(2, "Stove", "https://s.test/stove", "40.00 EUR", 40.0, "EUR")
SOLD_OUT = Item(3, "Lamp", "https://s.test/lamp", "20.00 EUR", 20.0, "EUR", available=False)


def facts(**kw) -> JourneyFacts:
    base = dict(
        shopper=Shopper(customer_id=7),
        stage="repeat_buyer",
        orders=4,
        last_order_at=NOW - timedelta(days=20),
        average_order_value=60.0,
        shop_average_order_value=50.0,
        spent=240.0,
        spend_rank=0.5,
        churn_risk=0.2,
        interests=[
            InterestOutlook("camping", "camping", 0.45, [SOLD_OUT, TENT, STOVE]),
            InterestOutlook("coffee", "coffee", 0.1, [STOVE]),
        ],
    )
    base.update(kw)
    return JourneyFacts(**base)


def test_cross_sell_is_the_likely_interests_checklist_of_what_is_not_owned():
    [p] = propose(1, "Camp Co", facts(), NOW)
    assert p.agent == "cross_sell" and p.dedupe_key == "cross_sell:camping:2026-11"
    assert p.product_ids == (1, 2)  # the sold-out lamp is left out; coffee is not likely enough
    assert p.content.data["copy"] == "interest_checklist" and p.content.data["interest"] == "camping"
    assert "45% likely to buy camping" in p.reason
    assert p.expected_value == round(0.45 * journey.CROSS_SELL_UPLIFT * 120.0, 4)
    assert propose(1, "Camp Co", facts(last_order_at=NOW - timedelta(days=2)), NOW) == []  # just ordered
    assert propose(1, "Camp Co", facts(interests=[InterestOutlook("c", "c", 0.9, [SOLD_OUT])]), NOW) == []


def test_win_back_has_an_incentive_only_when_pricing_approves_one():
    lapsing = facts(stage="lapsing", churn_risk=0.7, interests=[], last_order_at=NOW - timedelta(days=120))
    [p] = propose(1, "Camp Co", lapsing, NOW)
    assert p.agent == "win_back" and "incentive_code" not in p.content.data
    assert "pricing approval not available" in p.reason and p.dedupe_key.startswith("win_back:")
    asked = []

    def approve(shopper, value):
        asked.append((shopper.key, value))
        return Incentive("BACK10", "10% off your next order")

    [p] = propose(1, "Camp Co", lapsing, NOW, approve_incentive=approve)
    assert p.content.data["incentive_code"] == "BACK10" and "approved by pricing" in p.reason
    assert asked == [("customer:7", p.expected_value)]
    [p] = propose(1, "Camp Co", lapsing, NOW, approve_incentive=lambda s, v: None)
    assert "incentive_code" not in p.content.data and p.reason.endswith("no incentive")
    assert propose(1, "Camp Co", facts(stage="lapsing", churn_risk=0.3, interests=[]), NOW) == []


def test_welcome_steps_and_vip_recognition():
    new = facts(stage="new_visitor", orders=0, last_order_at=None, interests=[], spend_rank=None)
    assert propose(1, "S", new, NOW) == []  # not subscribed
    steps = [propose(1, "S", facts(stage="new_visitor", orders=0, last_order_at=None, interests=[],
                                   spend_rank=None, subscribed_at=NOW - timedelta(days=d)), NOW)  # fmt: skip
             for d in (0, 4, 8, 20)]  # fmt: skip
    assert [[p.dedupe_key for p in s] for s in steps] == [["welcome:1"], ["welcome:2"], ["welcome:3"], []]
    [p] = propose(1, "S", facts(interests=[], spend_rank=0.01, orders=9), NOW)
    assert p.agent == "vip" and p.dedupe_key == "vip:2026" and "no discount" in p.reason
    assert propose(1, "S", facts(interests=[], spend_rank=0.01, orders=2), NOW) == []
    assert [p.agent for p in propose(1, "S", facts(stage="lapsing", churn_risk=0.9, interests=[],
                                                    spend_rank=0.01, orders=9), NOW)] == ["win_back"]  # fmt: skip


def test_competing_flows_are_settled_by_expected_value_under_one_budget_each_with_its_holdout():
    both = propose(1, "S", facts(spend_rank=0.01, orders=9), NOW)
    assert sorted(p.agent for p in both) == ["cross_sell", "vip"]
    shopper = ShopperFacts(consents={"email": "SUBSCRIBED"}, reachable=frozenset({"email"}))
    policy = ContactPolicy(per_day=1, per_week=3, default_holdout=HoldoutShare(0.0))
    decisions = {d.proposal.agent: d for d in decide(both, {"customer:7": shopper}, policy, NOW)}
    assert decisions["cross_sell"].creates_message  # the higher expected incremental value wins the budget
    assert decisions["vip"].action == Action.SUPPRESS and "expected value" in decisions["vip"].reason
    held = ContactPolicy(holdouts={"cross_sell": HoldoutShare(1.0)}, default_holdout=HoldoutShare(0.0))
    decisions = {d.proposal.agent: d for d in decide(both, {"customer:7": shopper}, held, NOW)}
    assert decisions["cross_sell"].action == Action.HOLD_OUT and decisions["vip"].creates_message


def test_the_agent_is_pure():
    tree = ast.parse(Path(journey.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not {m for m in imported if m and (m.startswith("app.stores") or m.startswith("app.jobs")
                                              or m.startswith("app.agents.") or "sqlmodel" in m)}  # fmt: skip
