"""The back-in-stock rules (issue 19), pure: how many are told per batch, in what order, and what is proposed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.agents.back_in_stock import (
    MAX_BATCH,
    SEND_WINDOW,
    Restocked,
    Waiting,
    batch_size,
    dedupe_key,
    in_line,
    propose,
)
from app.channels.copy import localize
from app.orchestrator.policy import decide
from app.orchestrator.proposal import (
    Action,
    ContactPolicy,
    HoldoutShare,
    ProposalError,
    Purpose,
    Shopper,
    ShopperFacts,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("available", "outstanding", "expected"),
    [
        (None, 0, 0),  # untracked: never sold out, nobody waits
        (0, 0, 0),  # sold out (again): nobody more
        (-3, 0, 0),  # oversold
        (1, 0, 1),  # one unit, one shopper
        (5, 0, 5),
        (5, 2, 3),  # two told in the last day still hold their units
        (2, 5, 0),  # more told than units left: nobody more until they buy or their hold passes
        (10_000, 0, MAX_BATCH),  # at most a batch a run
    ],
)
def test_batch_is_capped_by_the_units_available(available, outstanding, expected):
    assert batch_size(available, outstanding) == expected


def test_per_unit_and_cap_are_parameters():
    assert batch_size(3, 1, per_unit=2, cap=100) == 5
    assert batch_size(3, 0, per_unit=2, cap=4) == 4


def _w(i, minutes, channel="email", address=None):
    return Waiting(
        i,
        Shopper(client_id=f"c{i}"),
        channel,
        address or f"s{i}@example.com",
        NOW - timedelta(minutes=minutes),
    )


def test_first_asked_is_first_told():
    waiting = [_w(3, 5), _w(1, 10), _w(2, 10)]
    assert [w.request_id for w in in_line(waiting)] == [1, 2, 3]  # earliest first; ties by request id


def test_each_request_becomes_one_marketing_proposal_consented_by_the_request():
    variant = Restocked(
        1, "Sock Shop", 70, 701, "Wool Socks – Large", "https://s.test/products/wool-socks?variant=701", 12.0
    )
    (p,) = propose(variant, [_w(1, 60)], NOW)
    assert p.purpose is Purpose.MARKETING and p.channels == ("email",)
    assert p.requested == {"email": "s1@example.com"} and p.product_ids == (70,)
    assert p.latest == NOW + SEND_WINDOW and p.expected_value == 12.0
    assert p.dedupe_key == dedupe_key(_w(1, 60)) and p.dedupe_key.startswith("back-in-stock:1:")
    text = localize(p.content.data, "de")
    assert text["subject"] == "Wool Socks – Large ist wieder da"
    # the orchestrator: the request is the consent (no customer record, no SUBSCRIBED state) ...
    policy = ContactPolicy(default_holdout=HoldoutShare(0.0))
    (d,) = decide([p], {}, policy, NOW)
    assert d.action is Action.SEND and d.channel == "email"
    # ... but quiet hours and the contact budget still apply
    (late,) = decide([p], {}, policy, NOW.replace(hour=23))
    assert late.action is Action.DEFER
    spent = ShopperFacts(marketing_times=(NOW - timedelta(hours=2),))
    (budget,) = decide([p], {p.shopper.key: spent}, policy, NOW)
    assert budget.action is Action.SUPPRESS and "contact budget" in budget.reason
    # and the holdout: a held-out shopper is recorded, never sent
    (held,) = decide([p], {}, ContactPolicy(default_holdout=HoldoutShare(1.0)), NOW)
    assert held.action is Action.HOLD_OUT


def test_a_push_request_has_no_address_and_a_bad_requested_map_is_refused():
    variant = Restocked(1, "Sock Shop", 70, 701, "Wool Socks", "https://s.test/p", 0.0)
    (p,) = propose(variant, [Waiting(9, Shopper(client_id="c9"), "push", None, NOW)], NOW)
    assert p.requested == {} and p.channels == ("push",)
    with pytest.raises(ProposalError):
        propose(variant, [Waiting(9, Shopper(client_id="c9"), "onsite", "x", NOW)], NOW)
