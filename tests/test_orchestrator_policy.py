"""The orchestrator's pure policy: examples for each rule, then properties over random proposals and shoppers
(never marketing to a non-subscribed shopper, never a send in quiet hours, never over budget, a stable arm)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.orchestrator.budget import fits, most_in_window
from app.orchestrator.clock import is_allowed, next_allowed
from app.orchestrator.policy import decide, draw_arm
from app.orchestrator.proposal import (
    CHANNELS,
    DAY,
    SUBSCRIBED,
    WEEK,
    Action,
    Arm,
    ContactPolicy,
    Content,
    HoldoutShare,
    Proposal,
    ProposalError,
    Purpose,
    Shopper,
    ShopperFacts,
)
from app.orchestrator.timezones import address_timezone, recipient_timezone
from tests.messaging_support import make_proposal

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York, 16:00 in Berlin
NO_HOLDOUT = ContactPolicy(default_holdout=HoldoutShare(0.0))
SUBSCRIBED_EMAIL = ShopperFacts(
    consents={"email": SUBSCRIBED}, reachable=frozenset({"email"}), country="US", province="NY"
)


def proposal(**kw) -> Proposal:
    defaults = {
        "content": Content("browse_reminder", {"product": "Mug"}),
        "latest": NOW + timedelta(hours=48),
        "reason": "viewed Mug twice this week",
        "product_ids": (42,),
    }
    return make_proposal(kw.pop("shop_id", 1), NOW, **{**defaults, **kw})


def one(p: Proposal, facts: ShopperFacts = SUBSCRIBED_EMAIL, policy: ContactPolicy = NO_HOLDOUT, now=NOW):
    return decide([p], {p.shopper.key: facts}, policy, now)[0]


# --- examples, one per rule ------------------------------------------------------------------------


def test_a_subscribed_shopper_in_allowed_hours_is_sent_now():
    d = one(proposal())
    assert (d.action, d.channel, d.send_at, d.arm) == (Action.SEND, "email", NOW, Arm.TREATMENT)
    assert d.timezone == "America/New_York" and d.reason == "viewed Mug twice this week"


@pytest.mark.parametrize("state", ["NOT_SUBSCRIBED", "UNSUBSCRIBED", "PENDING", None])
def test_marketing_needs_subscribed_consent(state):
    facts = ShopperFacts(consents={"email": state} if state else {}, reachable=frozenset({"email"}))
    d = one(proposal(), facts)
    assert d.action is Action.SUPPRESS and "email marketing consent" in d.reason


def test_transactional_needs_no_marketing_consent_nor_quiet_hours():
    facts = ShopperFacts(reachable=frozenset({"email"}), country="DE")
    night = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
    d = one(proposal(purpose=Purpose.TRANSACTIONAL, earliest=night, latest=night + DAY), facts, now=night)
    assert (d.action, d.send_at) == (Action.SEND, night)


def test_the_first_consented_channel_is_used():
    facts = ShopperFacts(
        consents={"sms": SUBSCRIBED, "email": "UNSUBSCRIBED"},
        reachable=frozenset({"email", "sms"}),
        country="US",
        province="NY",
    )
    d = one(proposal(channels=("email", "sms")), facts)
    assert (d.action, d.channel) == (Action.SEND, "sms")


def test_quiet_hours_defer_to_the_next_local_morning():
    night = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # 22:00 in New York
    d = one(proposal(earliest=night, latest=night + DAY), now=night)
    assert d.action is Action.DEFER
    assert d.send_at == datetime(2026, 12, 8, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    assert "deferred" in d.reason


def test_a_stricter_merchant_window_is_kept_and_a_looser_one_refused():
    policy = ContactPolicy(quiet_start=time(10), quiet_end=time(18), default_holdout=HoldoutShare(0))
    d = one(proposal(), policy=policy)  # 10:00 New York: allowed
    assert d.action is Action.SEND
    early = NOW - timedelta(minutes=30)
    assert one(proposal(earliest=early), policy=policy, now=early).action is Action.DEFER
    with pytest.raises(ProposalError, match="stricter"):
        ContactPolicy(quiet_start=time(7))


def test_no_allowed_time_inside_the_window_suppresses():
    night = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    d = one(proposal(earliest=night, latest=night + timedelta(hours=2)), now=night)
    assert d.action is Action.SUPPRESS and "quiet hours" in d.reason


def test_the_budget_keeps_one_per_day_and_the_highest_value_wins():
    low = proposal(agent="replenishment", dedupe_key="rep:1", expected_value=0.5)
    high = proposal(agent="cart_rescue", dedupe_key="rescue:1", expected_value=2.0)
    d_low, d_high = decide([low, high], {low.shopper.key: SUBSCRIBED_EMAIL}, NO_HOLDOUT, NOW)
    assert d_high.action is Action.SEND
    assert d_low.action is Action.SUPPRESS and "cart_rescue" in d_low.reason and "budget" in d_low.reason


def test_the_budget_counts_messages_already_sent():
    facts = ShopperFacts(
        consents={"email": SUBSCRIBED},
        reachable=frozenset({"email"}),
        marketing_times=(NOW - timedelta(hours=30), NOW - timedelta(days=3), NOW - timedelta(days=5)),
    )
    assert one(proposal(), facts).action is Action.SUPPRESS  # 3 in 7 days already
    facts = ShopperFacts(
        consents={"email": SUBSCRIBED},
        reachable=frozenset({"email"}),
        marketing_times=(NOW - timedelta(hours=30),),
    )
    assert one(proposal(), facts).action is Action.SEND


def test_onsite_marketing_needs_no_consent_and_no_budget():
    facts = ShopperFacts(reachable=frozenset({"onsite"}), marketing_times=(NOW - timedelta(hours=1),))
    assert one(proposal(channels=("onsite",)), facts).action is Action.SEND


def test_a_purchase_cancels_browse_messages_proposed_before_it():
    facts = ShopperFacts(
        consents={"email": SUBSCRIBED},
        reachable=frozenset({"email"}),
        last_purchase_at=NOW - timedelta(minutes=5),
    )
    p = proposal(cancel_on_purchase=True, proposed_at=NOW - timedelta(hours=1))
    assert one(p, facts).action is Action.SUPPRESS
    assert one(proposal(proposed_at=NOW - timedelta(hours=1)), facts).action is Action.SEND


def test_a_dedupe_key_is_decided_once():
    facts = ShopperFacts(
        consents={"email": SUBSCRIBED}, reachable=frozenset({"email"}), taken_keys=frozenset({"browse:7:42"})
    )
    assert one(proposal(), facts).action is Action.SUPPRESS
    a, b = decide(
        [proposal(), proposal(channels=("email", "sms"))],
        {"customer:7": SUBSCRIBED_EMAIL},
        ContactPolicy(per_day=5, per_week=5, default_holdout=HoldoutShare(0)),
        NOW,
    )
    assert sorted([a.action, b.action]) == [Action.SEND, Action.SUPPRESS]


def test_nothing_for_an_out_of_stock_product():
    facts = ShopperFacts(
        consents={"email": SUBSCRIBED}, reachable=frozenset({"email"}), out_of_stock=frozenset({42})
    )
    d = one(proposal(), facts)
    assert d.action is Action.SUPPRESS and "out of stock" in d.reason


def test_held_out_proposals_are_recorded_never_sent():
    everyone = ContactPolicy(holdouts={"browse_abandonment": HoldoutShare(1.0)})
    d = one(proposal(), policy=everyone)
    assert (d.action, d.arm, d.channel, d.send_at) == (Action.HOLD_OUT, Arm.HOLDOUT, None, None)


def test_bad_proposals_are_refused_with_the_field_named():
    with pytest.raises(ProposalError, match="channels"):
        proposal(channels=("fax",))
    with pytest.raises(ProposalError, match="timezone-aware"):
        proposal(earliest=datetime(2026, 1, 1))
    with pytest.raises(ProposalError, match="purpose"):
        proposal(purpose="spam")
    with pytest.raises(ProposalError, match="latest"):
        proposal(latest=NOW - DAY)
    with pytest.raises(ProposalError, match="shopper"):
        Shopper()
    with pytest.raises(ProposalError, match="template"):
        Content("../etc/passwd")


def test_time_zones_come_from_the_address_then_the_browser_then_the_shop():
    assert address_timezone("US", "CA") == "America/Los_Angeles"
    assert address_timezone("DE", None) == "Europe/Berlin"
    assert address_timezone("RU", None) is None  # many zones, no province table
    assert recipient_timezone("FR", None, "Asia/Tokyo", "UTC") == ("Europe/Paris", "address")
    assert recipient_timezone(None, None, "Asia/Tokyo", "UTC") == ("Asia/Tokyo", "browser")
    assert recipient_timezone(None, None, "Mars/Olympus", "Europe/London") == ("Europe/London", "shop")


def test_next_allowed_across_a_dst_change():
    # the night Europe/Berlin leaves summer time: 23:00 local on 24 Oct 2026 → 08:00 CET on the 25th
    at = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)
    got = next_allowed(at, "Europe/Berlin", time(8), time(21))
    assert got == datetime(2026, 10, 25, 8, 0, tzinfo=ZoneInfo("Europe/Berlin"))


# --- properties --------------------------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Australia/Adelaide",
    "Pacific/Chatham",
    "UTC",
]
STATES = [SUBSCRIBED, "NOT_SUBSCRIBED", "UNSUBSCRIBED", "PENDING", None]
instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@st.composite
def scenarios(draw):
    now = draw(instants)
    shoppers = [Shopper(customer_id=i) for i in range(1, draw(st.integers(1, 3)) + 1)]
    facts = {}
    for s in shoppers:
        channels = draw(st.frozensets(st.sampled_from(sorted(CHANNELS))))
        consents = {c: draw(st.sampled_from(STATES)) for c in ("email", "sms", "push")}
        past = draw(st.lists(st.integers(-14 * 24 * 60, 0), max_size=4))
        facts[s.key] = ShopperFacts(
            consents={c: v for c, v in consents.items() if v},
            reachable=channels,
            browser_timezone=draw(st.sampled_from(ZONES)),
            marketing_times=tuple(now + timedelta(minutes=m) for m in past),
        )
    proposals = []
    for _ in range(draw(st.integers(1, 8))):
        start = now + timedelta(minutes=draw(st.integers(-60, 3 * 24 * 60)))
        proposals.append(
            proposal(
                agent=draw(st.sampled_from(["browse", "rescue", "replenish"])),
                shopper=draw(st.sampled_from(shoppers)),
                purpose=draw(st.sampled_from(list(Purpose))),
                channels=tuple(draw(st.lists(st.sampled_from(sorted(CHANNELS)), min_size=1, max_size=3))),
                earliest=start,
                latest=start + timedelta(minutes=draw(st.integers(0, 3 * 24 * 60))),
                dedupe_key=f"k{draw(st.integers(0, 6))}",
                expected_value=draw(st.floats(0, 10)),
                product_ids=(),
            )
        )
    per_day = draw(st.integers(0, 3))
    policy = ContactPolicy(
        per_day=per_day,
        per_week=draw(st.integers(per_day, 6)),
        quiet_start=time(draw(st.integers(8, 12))),
        quiet_end=time(draw(st.integers(13, 20)), 59),
        shop_timezone=draw(st.sampled_from(ZONES)),
        default_holdout=HoldoutShare(draw(st.sampled_from([0, 0.3]))),
    )
    return now, proposals, facts, policy


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_properties_of_every_decision(scenario):
    now, proposals, facts, policy = scenario
    decisions = decide(proposals, facts, policy, now)
    assert len(decisions) == len(proposals)
    sends = [d for d in decisions if d.action in (Action.SEND, Action.DEFER)]
    for d in decisions:
        p = d.proposal
        assert d.arm is draw_arm(p, policy)  # the arm is the shopper's, whatever else happens
        if d.arm is Arm.HOLDOUT:
            assert d.action in (Action.HOLD_OUT, Action.SUPPRESS)
        if d.action not in (Action.SEND, Action.DEFER):
            assert d.send_at is None or d.action is Action.SUPPRESS
            continue
        f = facts[p.shopper.key]
        assert d.channel in p.channels and d.channel in f.reachable
        assert p.earliest <= d.send_at <= p.latest and d.send_at >= min(now, d.send_at)
        spec = CHANNELS[d.channel]
        if p.purpose is Purpose.MARKETING:
            if spec.needs_consent:  # never marketing to a non-subscribed shopper
                assert f.consents.get(d.channel) == SUBSCRIBED
            if spec.quiet_hours:  # never a send in quiet hours
                assert is_allowed(d.send_at, d.timezone, policy.quiet_start, policy.quiet_end)
    # never over budget, counting what was already sent
    for key, f in facts.items():
        times = list(f.marketing_times) + [
            d.send_at
            for d in sends
            if d.proposal.shopper.key == key
            and d.proposal.purpose is Purpose.MARKETING
            and CHANNELS[d.channel].counts_toward_budget
        ]
        new = len(times) - len(f.marketing_times)
        if new:
            assert most_in_window(times, DAY) <= max(policy.per_day, most_in_window(f.marketing_times, DAY))
            assert most_in_window(times, WEEK) <= max(
                policy.per_week, most_in_window(f.marketing_times, WEEK)
            )
    # a dedupe key is sent at most once per shopper
    keys = [(d.proposal.shopper.key, d.proposal.dedupe_key) for d in sends]
    assert len(keys) == len(set(keys))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 10**6),
    st.text(min_size=1, max_size=20),
    st.integers(1, 10**12),
    st.floats(0, 1),
    st.text(max_size=5),
)
def test_the_holdout_arm_is_stable_per_shopper(shop_id, agent, customer, share, salt):
    policy = ContactPolicy(holdouts={agent[:32]: HoldoutShare(share, salt)})
    a = proposal(shop_id=shop_id, agent=agent[:32], shopper=Shopper(customer_id=customer), dedupe_key="a")
    b = proposal(
        shop_id=shop_id,
        agent=agent[:32],
        shopper=Shopper(customer_id=customer),
        dedupe_key="b",
        purpose=Purpose.TRANSACTIONAL,
        earliest=NOW + WEEK,
        latest=NOW + 2 * WEEK,
    )
    assert draw_arm(a, policy) is draw_arm(b, policy)  # the message does not move the shopper


@settings(max_examples=300, deadline=None)
@given(st.lists(instants, max_size=6), instants, st.integers(1, 3))
def test_fits_is_exact(times, t, limit):
    if fits(times, t, limit, DAY):
        assert most_in_window([*times, t], DAY) <= max(limit, most_in_window(times, DAY))
    elif most_in_window(times, DAY) < limit:
        # refused only when some 24 h window holding t is full
        assert any(sum(1 for x in [*times, t] if s <= x < s + DAY) > limit for s in [*times, t] if s <= t)


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(ZONES), st.integers(8, 12), st.integers(13, 21))
def test_next_allowed_is_the_first_allowed_instant(at, zone, start_h, end_h):
    start, end = time(start_h), time(end_h) if end_h < 21 else time(21)
    got = next_allowed(at, zone, start, end)
    assert got >= at and is_allowed(got, zone, start, end)
    assert got - at < timedelta(hours=25)
    if got > at:  # a minute earlier is quiet (or before ``at``)
        earlier = got - timedelta(minutes=1)
        assert earlier < at or not is_allowed(earlier, zone, start, end)
