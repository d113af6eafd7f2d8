"""Each shop's abstention threshold from its shoppers' 👍/👎 (issue 18): the shipped default until enough votes,
raised where low-confidence answers were rated unhelpful, never lowered below the default; and the store applies
it to that shop only."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from app.knowledge.shop_threshold import CEILING, MIN_VOTES, TARGET, shop_threshold
from app.models.feedback import SupportMessage
from app.storefront.demo_data import seed_demo_shop
from app.stores.support_threshold import answer_threshold

DEFAULT = 0.40


def test_the_default_holds_until_enough_votes():
    assert shop_threshold(DEFAULT, [(0.45, False)] * (MIN_VOTES - 1)) == DEFAULT
    assert (
        shop_threshold(DEFAULT, [(0.30, False)] * 100) == DEFAULT
    )  # below the default: never shown, not counted


def test_helpful_answers_keep_the_default_and_unhelpful_low_ones_raise_it():
    good = [(0.41 + i / 100, True) for i in range(30)]
    assert shop_threshold(DEFAULT, good) == DEFAULT
    bad_low = [(0.42, False)] * 15 + [(0.60 + i / 100, True) for i in range(20)]
    raised = shop_threshold(DEFAULT, bad_low)
    assert 0.42 < raised <= 0.60  # past the 👎 answers, at the first confidence that clears the target
    all_bad = [(0.5 + i / 100, False) for i in range(30)]
    assert shop_threshold(DEFAULT, all_bad) == min(
        CEILING, 0.79 + 1e-6
    )  # nothing clears it: abstain above all


def test_the_chosen_threshold_meets_the_target_on_simulated_votes():
    rng = random.Random(7)
    votes = []
    for _ in range(400):  # helpfulness rises with confidence: 40 % at 0.4, 95 % at 0.9
        c = rng.uniform(DEFAULT, 0.95)
        votes.append((c, rng.random() < 0.4 + (c - 0.4) * 1.1))
    t = shop_threshold(DEFAULT, votes)
    above = [h for c, h in votes if c >= t]
    assert t > DEFAULT and sum(above) / len(above) >= TARGET - 0.05


def test_the_store_uses_the_shops_own_votes(session, settings):
    a = seed_demo_shop(session, "thr-a.myshopify.com").shop_id
    b = seed_demo_shop(session, "thr-b.myshopify.com").shop_id
    now = datetime.now(UTC)
    for i in range(30):  # shop a's shoppers found its low-confidence answers unhelpful
        session.add(SupportMessage(shop_id=a, conversation=f"c{i}", client_id=f"x{i}", role="assistant", text="a",
                                   confidence=0.45 if i < 15 else 0.8, helpful=i >= 15,
                                   created_at=now - timedelta(days=1)))  # fmt: skip
    session.commit()
    assert answer_threshold(session, a, DEFAULT) > 0.45
    assert answer_threshold(session, b, DEFAULT) == DEFAULT  # another shop's votes are not this one's
    assert answer_threshold(session, a, DEFAULT, now=now + timedelta(days=200)) == DEFAULT  # old votes expire
