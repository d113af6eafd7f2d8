"""Intent model: exported trees match scikit-learn, planted intent is ranked, the shop layer learns, explains."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from app.modelling.intent import GlobalIntentModel, IntentModel, SessionFeatures, ShopIntentModel
from app.modelling.trees import BoostedTrees, fit_boosted_trees


def _sessions(n: int, rng: np.random.Generator) -> tuple[list[SessionFeatures], np.ndarray]:
    """Buyers view more products, hit valuable pages and exit less; month 11 sells more."""
    out, ys = [], []
    for _ in range(n):
        intent = rng.random() < 0.25
        pv = (
            rng.gamma(2, 15)
            if intent and rng.random() < 0.8
            else (rng.gamma(1, 5) if rng.random() < 0.1 else 0)
        )
        month = int(rng.integers(1, 13))
        out.append(
            SessionFeatures(
                product_pages=float(rng.poisson(30 if intent else 8)),
                product_seconds=float(rng.gamma(2, 600 if intent else 200)),
                exit_rate=float(rng.uniform(0.0, 0.03) if intent else rng.uniform(0.02, 0.2)),
                page_value=float(pv),
                month=month,
                visitor_type="returning" if rng.random() < 0.8 else "new",
                traffic_source=int(rng.integers(1, 6)),
            )
        )
        ys.append(int(intent and rng.random() < 0.9 or (month == 11 and rng.random() < 0.1)))
    return out, np.array(ys)


@pytest.fixture(scope="module")
def trained() -> GlobalIntentModel:
    s, y = _sessions(1500, np.random.default_rng(0))
    return GlobalIntentModel.fit(s, y)


def test_exported_trees_match_sklearn_including_unknown_categories_and_missing():
    rng = np.random.default_rng(1)
    X = rng.random((800, 4))
    X[:, 3] = rng.integers(0, 10, 800) * 3
    X[rng.random(800) < 0.05, 0] = np.nan
    y = (np.nan_to_num(X[:, 0]) + X[:, 1] + (X[:, 3] % 2 == 0) + rng.normal(0, 0.4, 800) > 1.4).astype(int)
    ours = fit_boosted_trees(X, y, [3], max_iter=20, max_leaf_nodes=8)
    ref = HistGradientBoostingClassifier(
        categorical_features=[3], early_stopping=False, random_state=0, max_iter=20, max_leaf_nodes=8
    ).fit(X, y)
    X2 = X.copy()
    X2[:10, 3] = 1000  # unseen category
    X2[10:20, 3] = np.nan
    again = BoostedTrees.from_dict(json.loads(json.dumps(ours.to_dict())))
    assert np.allclose(again.raw(X2), ref.decision_function(X2), atol=1e-6)


def test_planted_high_intent_sessions_rank_above_low_intent(trained):
    model = IntentModel(trained)
    hot = SessionFeatures(product_pages=40, product_seconds=2400, exit_rate=0.01, page_value=40, month=11)
    cold = SessionFeatures(product_pages=2, product_seconds=30, exit_rate=0.2, page_value=0, month=2)
    p_hot, p_cold = model.predict_proba([hot, cold])
    assert p_hot > 0.6 > 0.1 > p_cold
    test, y = _sessions(600, np.random.default_rng(5))
    p = model.predict_proba(test)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, p) > 0.9
    # calibrated: mean prediction close to the observed rate
    assert abs(p.mean() - y.mean()) < 0.05


def test_explanations_present_ordered_and_readable(trained):
    [score] = IntentModel(trained).score([SessionFeatures(product_pages=40, page_value=40, exit_rate=0.01)])
    sig = score.explanation.signals
    assert sig and len(sig) <= 5
    mags = [abs(s.contribution) for s in sig]
    assert mags == sorted(mags, reverse=True)
    assert any(s.name == "page_value" and s.contribution > 0 for s in sig)
    assert all("intent" in s.text for s in sig)


def test_global_model_roundtrips_through_json(trained, tmp_path):
    path = tmp_path / "g.json.gz"
    trained.save(path)
    s, _ = _sessions(50, np.random.default_rng(9))
    assert np.allclose(
        IntentModel(GlobalIntentModel.load(path)).predict_proba(s), IntentModel(trained).predict_proba(s)
    )


def test_shop_layer_is_the_prior_with_few_sessions_and_learns_cart_signals_with_many(trained):
    rng = np.random.default_rng(3)
    base, _ = _sessions(4000, rng)
    # in this shop, adding to cart is what predicts a purchase (a signal the public data lacks)
    carts = rng.poisson(0.5, len(base))
    sessions = [
        SessionFeatures(**{**s.__dict__, "cart_adds": float(c)}) for s, c in zip(base, carts, strict=True)
    ]
    y = (rng.random(len(base)) < np.where(carts > 0, 0.6, 0.05)).astype(int)

    few = ShopIntentModel.fit(trained, sessions[:5], y[:5])
    assert np.allclose(few.weights, [0, 1, 0, 0, 0, 0], atol=0.15)
    many = ShopIntentModel.fit(trained, sessions, y)
    assert many.weights[3] > 1.0  # log1p(cart_adds) weight learned
    with_cart = SessionFeatures(product_pages=5, cart_adds=2)
    without = SessionFeatures(product_pages=5)
    p_with, p_without = IntentModel(trained, many).predict_proba([with_cart, without])
    assert p_with > 2 * p_without
    [exp] = IntentModel(trained, many).score([with_cart])
    assert exp.explanation.signals[0].name == "cart_adds"


def test_shipped_prior_gives_day_one_scores():
    model = IntentModel.default()
    hot = SessionFeatures(
        product_pages=40,
        product_seconds=2400,
        exit_rate=0.01,
        page_value=40,
        month=11,
        visitor_type="returning",
        traffic_source=2,
    )
    cold = SessionFeatures(product_pages=1, exit_rate=0.2, bounce_rate=0.2, month=2, traffic_source=2)
    p_hot, p_cold = model.predict_proba([hot, cold])
    assert p_hot > 0.5 and p_cold < 0.05
