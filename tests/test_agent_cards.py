"""The agents' cards in the orchestrator's pure policy: a switched-off agent is suppressed (after its arm is
drawn), its channels narrowed, its allowed hours narrowed, and its weekly budget kept across shoppers."""

from __future__ import annotations

from datetime import UTC, datetime, time

from app.orchestrator.policy import decide
from app.orchestrator.proposal import (
    SUBSCRIBED,
    Action,
    AgentSwitch,
    ContactPolicy,
    HoldoutShare,
    Shopper,
    ShopperFacts,
)
from tests.messaging_support import make_proposal

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York
FACTS = ShopperFacts(
    consents={"email": SUBSCRIBED, "sms": SUBSCRIBED},
    reachable=frozenset({"email", "sms"}),
    country="US",
    province="NY",
)


def _policy(**switch) -> ContactPolicy:
    return ContactPolicy(default_holdout=HoldoutShare(0.0), agents={"rescue": AgentSwitch(**switch)})


def _decide(policy, shoppers=(7,), channels=("sms", "email"), counts=None):
    if counts:
        policy = ContactPolicy(
            default_holdout=policy.default_holdout, agents=policy.agents, agent_week_counts=counts
        )
    ps = [
        make_proposal(
            1, NOW, agent="rescue", shopper=Shopper(customer_id=c), channels=channels, dedupe_key=f"r:{c}"
        )
        for c in shoppers
    ]
    return decide(ps, {p.shopper.key: FACTS for p in ps}, policy, NOW)


def test_a_switched_off_agent_is_suppressed_and_another_is_not():
    (d,) = _decide(_policy(enabled=False))
    assert d.action is Action.SUPPRESS and "switched off" in d.reason
    other = make_proposal(1, NOW, agent="browse_abandonment")
    assert decide([other], {other.shopper.key: FACTS}, _policy(enabled=False), NOW)[0].action is Action.SEND


def test_channels_are_narrowed_to_the_cards():
    (d,) = _decide(_policy(channels=("email",)))
    assert d.action is Action.SEND and d.channel == "email" and d.intended_channel == "email"
    (d,) = _decide(_policy(channels=("push",)))
    assert d.action is Action.SUPPRESS and "channels" in d.reason
    (d,) = _decide(_policy())
    assert d.channel == "sms"


def test_allowed_hours_are_narrowed_to_the_cards():
    (d,) = _decide(_policy(quiet_start=time(11), quiet_end=time(20)))
    assert d.action is Action.DEFER and d.send_at == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 11:00 NY


def test_the_weekly_budget_counts_across_shoppers_and_earlier_sends():
    decisions = _decide(_policy(weekly_budget=3), shoppers=(1, 2, 3, 4, 5), counts={"rescue": 1})
    actions = [d.action for d in decisions]
    assert actions.count(Action.SEND) == 2 and actions.count(Action.SUPPRESS) == 3
    assert all("weekly budget of 3" in d.reason for d in decisions if d.action is Action.SUPPRESS)
