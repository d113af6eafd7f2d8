"""Hesitation signals fold into deduplicated features; the risk is calibrated once the shop layer learns, and
explained; the ladder's rules (one decision, holdout first, ladder order, then uplift; no incentive on a first
hesitation)."""

from __future__ import annotations

import numpy as np

from app.agents.nudge import (
    MIN_RANDOMISED,
    Alternative,
    HelpAnswer,
    IncentiveOffer,
    NudgeFacts,
    RungEvidence,
    decide,
)
from app.modelling.hesitation import (
    Hesitation,
    ShopRiskLayer,
    calibration,
    design,
    features_of,
    fold,
    global_logit,
    risk,
    with_checkout,
)


def sig(i, kind, **kw):
    return {"id": f"s{i}", "kind": kind, **kw}


def test_signals_are_deduplicated_and_folded_per_item():
    signals = [
        sig(1, "cart_add", variant=11, qty=1),
        sig(2, "cart_remove", variant=11),
        sig(3, "cart_remove", variant=11),  # a repeated remove counts once
        sig(4, "cart_add", variant=11, qty=1),  # re-added
        sig(5, "cart_qty", variant=11, qty=3),
        sig(6, "cart_qty", variant=11, qty=1),  # toggle: up then down
        sig(7, "info_view", topic="shipping"),
        sig(8, "info_view", topic="shipping"),
        sig(9, "cart_idle", seconds=90),
        sig(10, "cart_idle", seconds=40),  # running totals: the maximum is kept
        sig(11, "checkout_back"),
    ]
    state, new = fold({}, signals)
    assert new == 11
    again, new_again = fold(state, signals[:4] + [sig(12, "cart_add", variant=11, qty=1)])
    assert new_again == 1  # ids already seen are skipped
    h = features_of(state)
    assert (h.readds, h.qty_toggles, h.shipping_views, h.cart_idle_s, h.checkout_back) == (1, 1, 2, 90, 1)
    assert features_of(again).readds == 1  # adding more of an item in the cart is no re-add
    assert h.signals() == 5 and h.likely_question() == "shipping"
    assert Hesitation().signals() == 0 and Hesitation().likely_question() is None


def test_checkout_steps_from_the_pixel_give_progress_and_stall():
    h = with_checkout(
        Hesitation(), [("checkout_started", 100.0), ("checkout_contact_info_submitted", 160.0)], 460.0
    )
    assert (h.checkout_step, h.checkout_stall_s) == (2, 300)
    done = with_checkout(Hesitation(), [("checkout_started", 1.0), ("checkout_completed", 9.0)], 500.0)
    assert done.checkout_stall_s == 0 and done.checkout_step == 5


def _simulate(n, rng):
    """Shoppers whose true abandonment depends on hesitation more strongly than the prior weights say."""
    intents, hs, ys = [], [], []
    true_w = np.array([1.2, 0.1, 1.0, 0.1, 0.9, 1.5, 0.2, -2.0])
    for _ in range(n):
        intent = float(rng.beta(2, 8))
        h = Hesitation(
            readds=float(rng.poisson(0.4)),
            qty_toggles=float(rng.poisson(0.3)),
            cart_idle_s=float(rng.exponential(80)),
            hidden_s=float(rng.exponential(30)),
            shipping_views=float(rng.poisson(0.6)),
            returns_views=float(rng.poisson(0.3)),
            checkout_back=float(rng.random() < 0.15),
            checkout_step=float(rng.integers(0, 6)),
        )
        z = 0.8 - 1.0 * np.log(intent / (1 - intent)) * 0.7 + true_w @ design(h) - 1.0
        intents.append(intent)
        hs.append(h)
        ys.append(int(rng.random() < 1 / (1 + np.exp(-z))))
    return intents, hs, np.array(ys)


def test_risk_is_calibrated_once_the_shop_layer_learns_and_explained():
    rng = np.random.default_rng(3)
    train, test = _simulate(4000, rng), _simulate(4000, rng)
    layer = ShopRiskLayer.fit(*train)
    prior = [risk(i, h).probability for i, h in zip(test[0], test[1], strict=True)]
    fitted = [risk(i, h, layer).probability for i, h in zip(test[0], test[1], strict=True)]
    assert calibration(fitted, test[2]) < 0.03
    assert calibration(fitted, test[2]) < calibration(prior, test[2])
    assert abs(np.mean(fitted) - test[2].mean()) < 0.02  # calibrated in the large
    # with no sessions the layer is the global one; it round-trips through JSON
    assert np.allclose(ShopRiskLayer.fit([], [], []).weights, ShopRiskLayer.prior().weights)
    assert np.allclose(ShopRiskLayer.from_dict(layer.to_dict()).weights, layer.weights, atol=1e-5)
    hesitant = Hesitation(readds=1, checkout_back=1, shipping_views=3)
    r = risk(0.3, hesitant)
    assert r.probability > risk(0.3, Hesitation()).probability
    names = [s.name for s in r.explanation.signals]
    assert "checkout_back" in names and "readds" in names and r.explanation.summary.endswith("without buying")
    assert abs(global_logit(None, design(Hesitation())) - 1.695) < 0.01  # the base intent's odds of leaving


HELP = HelpAnswer("shipping", {"cost": 5}, "rates")
ALT = Alternative(1, "Cheaper", "/products/c", 9.0, "USD", None, "cheaper", "Dear")
OFFER = IncentiveOffer("SAVE-1", "10% off")


def facts(**kw):
    base = dict(risk=0.8, signals=2, holdout=False, decided=False, help=HELP, alternatives=[ALT])
    return NudgeFacts(**{**base, **kw})


def test_ladder_rules():
    assert decide(facts()).rung == "help" and decide(facts()).action == "show"
    assert decide(facts(help=None)).rung == "compare"
    assert decide(facts(help=None, alternatives=[], incentive=OFFER)).rung == "incentive"
    first = decide(facts(help=None, alternatives=[], incentive=OFFER, signals=1))
    assert first.action == "wait"  # never an incentive on a first hesitation
    held = decide(facts(holdout=True))
    assert (held.action, held.rung, held.help) == ("hold_out", "help", None) and "held out" in held.reason
    assert decide(facts(decided=True)).action == "wait"  # one intervention per session
    assert decide(facts(risk=0.2)).action == "wait" and decide(facts(signals=0)).action == "wait"
    n = MIN_RANDOMISED
    evidence = {"help": RungEvidence(n, 10, n, 10), "compare": RungEvidence(n, 30, n, 10)}
    chosen = decide(facts(evidence=evidence))
    assert chosen.rung == "compare" and "uplift" in chosen.reason
    few = decide(facts(evidence={"help": RungEvidence(5, 1, 5, 1), "compare": RungEvidence(n, 30, n, 10)}))
    assert few.rung == "help" and "ladder order" in few.reason
    nothing = decide(
        facts(evidence={"help": RungEvidence(n, 5, n, 10), "compare": RungEvidence(n, 5, n, 10)})
    )
    assert nothing.action == "none" and nothing.final
