"""The variants' bandit, simulated: shoppers arrive in daily waves, the orchestrator's hash holds out 10 %, the
bandit gives each treated shopper a variant by Thompson sampling on what the treated bought so far. It converges
on the variant that truly converts better, the holdout keeps its designed share in every wave however sure the
bandit gets (the bandit never sees it), and the readout names the better variant with an interval against the
holdout. Placeholders fill only their three names."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from app.orchestrator.policy import shopper_arm
from app.orchestrator.proposal import Arm, ContactPolicy, HoldoutShare, Shopper
from app.orchestrator.variants import Counts, Variant, apply, fill, pick_for, probability_best, readout

TRUTH = {"a": 0.04, "b": 0.09, "c": 0.05}  # conversion within the window when treated with each variant
HOLDOUT_RATE = 0.03
SHARE = 0.10
WAVES, WAVE = 24, 200
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _simulate(seed: int):
    rng = random.Random(seed)
    policy = ContactPolicy(holdouts={"newsletter-1": HoldoutShare(SHARE)}, global_holdout=HoldoutShare(0.05))
    counts = {k: Counts() for k in TRUTH}
    held = Counts()
    waves = []
    n = 0
    for _ in range(WAVES):
        got = dict.fromkeys(TRUTH, 0)
        held_now = 0
        for _ in range(WAVE):
            n += 1
            shopper = Shopper(customer_id=seed * 100_000 + n)
            variant = pick_for(1, "newsletter-1", shopper.key, "newsletter:1", sorted(TRUTH), counts)
            arm = shopper_arm(
                1, "newsletter-1", shopper, policy
            )  # drawn after the variant, by the hash alone
            if arm is Arm.HOLDOUT:
                held_now += 1
                held = Counts(held.shoppers + 1, held.converters + (rng.random() < HOLDOUT_RATE))
                continue
            got[variant] += 1
            c = counts[variant]
            counts[variant] = Counts(c.shoppers + 1, c.converters + (rng.random() < TRUTH[variant]))
        waves.append((got, held_now))
    return counts, held, waves


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_bandit_converges_on_the_better_variant_and_never_starves_the_holdout(seed):
    counts, held, waves = _simulate(seed)
    late = [w for w, _ in waves[-6:]]
    share_b = sum(w["b"] for w in late) / sum(sum(w.values()) for w in late)
    assert share_b > 0.75, share_b  # most treated shoppers now get the better variant
    first = [w for w, _ in waves[:2]]
    assert all(sum(w[k] for w in first) > 20 for k in TRUTH)  # every variant was tried at the start
    # the designed share (global 5 % + 10 % of the rest = 14.5 %) in every wave, early and late alike
    designed = 0.05 + 0.95 * SHARE
    for _, held_now in waves:
        assert abs(held_now / WAVE - designed) < 0.08
    total = WAVES * WAVE
    assert abs(held.shoppers / total - designed) < 0.02
    assert abs(sum(h for _, h in waves[-6:]) / (6 * WAVE) - designed) < 0.04  # late waves not starved either
    out = readout({"repeat_buyer": counts}, {"repeat_buyer": held})
    overall = out[0]
    assert overall["segment"] == "all" and overall["best"] == "b"
    assert overall["best_lift"]["low"] < TRUTH["b"] - HOLDOUT_RATE < overall["best_lift"]["high"]
    assert overall["holdout"]["shoppers"] == held.shoppers


def test_the_same_proposal_gets_the_same_variant():
    counts = {"a": Counts(100, 5), "b": Counts(100, 6)}
    picks = {
        pick_for(1, "win_back", "customer:7", "win_back:2026-01-01", ["a", "b"], counts) for _ in range(20)
    }
    assert len(picks) == 1


def test_probability_best_and_segments():
    counts = {"a": Counts(2000, 40), "b": Counts(2000, 120)}
    p = probability_best(counts)
    assert p["b"] > 0.99 and abs(sum(p.values()) - 1) < 1e-9
    out = readout(
        {"new": {"a": Counts(50, 1)}, "vip": {"a": Counts(30, 3), "b": Counts(30, 9)}},
        {"new": Counts(40, 1), "vip": Counts(25, 1)},
    )
    assert [s["segment"] for s in out] == ["all", "new", "vip"]
    assert out[2]["best"] == "b" and out[2]["best_lift"] is not None
    assert out[1]["variants"][0]["lift"] is not None  # 50 vs 40 shoppers: an interval


def test_placeholders_fill_only_their_names():
    facts = {"first_name": "Ann", "shop": "Mugs & Co", "interest": None}
    assert fill("Hi {first_name}, new at {shop}", facts) == "Hi Ann, new at Mugs & Co"
    assert fill("{first_name.__class__} {interest} {0}", facts) == "{first_name.__class__} {0}"
    data = {"subject": "Old", "heading": "Old", "paragraphs": ["one", "two"], "shop_name": "Mugs"}
    out = apply(data, Variant("b", subject="{shop} news", body="Fresh picks"))
    assert (
        out["subject"] == "Mugs news"
        and out["heading"] == "Old"
        and out["paragraphs"] == ["Fresh picks", "two"]
    )
    assert out["variant"] == "b"
