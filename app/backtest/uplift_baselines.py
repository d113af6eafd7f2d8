"""The usual uplift baselines, on the same encoded features as Attune's learner (scikit-learn defaults).

Each is ``(x_train, treated, outcome, x_test, seed) -> predicted uplift of x_test``: higher means contact first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

Baseline = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def _logistic() -> LogisticRegression:
    return LogisticRegression(max_iter=2000)


def random_scores(x: np.ndarray, t: np.ndarray, y: np.ndarray, x_test: np.ndarray, seed: int) -> np.ndarray:
    """Random order: the Qini curve's diagonal, up to noise."""
    return np.random.default_rng(seed).random(len(x_test))


def response_model(x: np.ndarray, t: np.ndarray, y: np.ndarray, x_test: np.ndarray, seed: int) -> np.ndarray:
    """Propensity to respond when contacted (logistic on the treated only): what targeting usually does."""
    return _logistic().fit(x[t == 1], y[t == 1]).predict_proba(x_test)[:, 1]


def _two_models(make: Callable[[], object], x, t, y, x_test) -> np.ndarray:
    treated = make().fit(x[t == 1], y[t == 1])
    control = make().fit(x[t == 0], y[t == 0])
    return treated.predict_proba(x_test)[:, 1] - control.predict_proba(x_test)[:, 1]


def t_learner_logistic(x, t, y, x_test, seed: int) -> np.ndarray:
    """One logistic model per arm; uplift is the difference of their probabilities."""
    return _two_models(_logistic, x, t, y, x_test)


def t_learner_boosting(x, t, y, x_test, seed: int) -> np.ndarray:
    """One gradient-boosting classifier per arm (scikit-learn's histogram GBM, defaults)."""
    return _two_models(lambda: HistGradientBoostingClassifier(random_state=seed), x, t, y, x_test)


def _with_treatment(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.column_stack([x, t, x * t[:, None]])


def s_learner_interactions(x, t, y, x_test, seed: int) -> np.ndarray:
    """One logistic model over features, the treatment flag and their products (equal penalties)."""
    model = _logistic().fit(_with_treatment(x, t.astype(float)), y)
    ones, zeros = np.ones(len(x_test)), np.zeros(len(x_test))
    return (
        model.predict_proba(_with_treatment(x_test, ones))[:, 1]
        - model.predict_proba(_with_treatment(x_test, zeros))[:, 1]
    )


def class_transformation(x, t, y, x_test, seed: int) -> np.ndarray:
    """Jaskowski & Jaroszewicz: predict z = 1 when (treated and responded) or (control and did not)."""
    z = (y == t).astype(int)
    return 2 * _logistic().fit(x, z).predict_proba(x_test)[:, 1] - 1


BASELINES: dict[str, Baseline] = {
    "random": random_scores,
    "response model on the treated (logistic)": response_model,
    "T-learner, logistic": t_learner_logistic,
    "T-learner, gradient boosting": t_learner_boosting,
    "S-learner, logistic with treatment interactions": s_learner_interactions,
    "class transformation (logistic)": class_transformation,
}
