"""Hybrid lifetime value: BG/NBD + Gamma-Gamma blended with a Poisson GLM over RFM and BG/NBD features.

The GLM is trained on the shop's own *earlier* calibration/holdout split (nothing from the period being
predicted is seen) and corrects what the parametric model misses (recent bursts, wholesale buyers, seasonality);
the final prediction is the even blend of the GLM and the parametric model. A shop without enough history for a
training split uses ``ClvModel`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import PoissonRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from app.modelling.clv import ClvModel, CustomerHistory

FEATURES = (
    "log_bgnbd_purchases",
    "log1p_purchases_13w",
    "log1p_purchases_26w",
    "log_p_alive",
    "log1p_frequency",
    "log1p_weeks_since_last",
    "log_bgnbd_value",
    "log1p_spend_26w",
    "log1p_monetary",
    "log_spend_per_purchase",
    "log1p_age_capped_52w",
)
BLEND = 0.5  # weight of the GLM; the rest is BG/NBD + Gamma-Gamma

# One training example set: histories at a cut-off, and purchase days / spend in the following horizon.
TrainingSplit = tuple[list[CustomerHistory], dict[str, float], dict[str, float]]


def features(histories: list[CustomerHistory], arr: dict[str, np.ndarray]) -> np.ndarray:
    h = histories
    col = lambda f: np.array([f(x) for x in h], dtype=float)  # noqa: E731
    return np.column_stack(
        [
            np.log(arr["purchases"] + 1e-3),
            np.log1p(col(lambda x: x.purchases_13w)),
            np.log1p(col(lambda x: x.purchases_26w)),
            np.log(arr["p_alive"] + 1e-3),
            np.log1p(col(lambda x: x.frequency)),
            np.log1p(col(lambda x: x.T - x.recency)),
            np.log(arr["value"] + 1e-2),
            np.log1p(col(lambda x: x.spend_26w)),
            np.log1p(col(lambda x: x.monetary)),
            np.log(arr["spend_per_purchase"] + 1e-2),
            np.log1p(np.minimum(col(lambda x: x.T), 52.0)),
        ]
    ).reshape(len(h), len(FEATURES))


def _glm() -> Pipeline:
    return make_pipeline(StandardScaler(), PoissonRegressor(alpha=1e-3, max_iter=3000))


@dataclass
class HybridClv:
    horizon_weeks: float
    purchases_model: Pipeline
    spend_model: Pipeline
    spend_scale: float

    @classmethod
    def fit(cls, splits: list[TrainingSplit], horizon_weeks: float) -> HybridClv:
        X, yn, ys = [], [], []
        for histories, days, spend in splits:
            arr = ClvModel.fit(histories).arrays(histories, horizon_weeks)
            X.append(features(histories, arr))
            yn.append([days.get(h.customer_id, 0.0) for h in histories])
            ys.append([spend.get(h.customer_id, 0.0) for h in histories])
        Xa, yn_a, ys_a = np.vstack(X), np.concatenate(yn), np.concatenate(ys)
        scale = float(max(ys_a.mean(), 1e-9))
        return cls(horizon_weeks, _glm().fit(Xa, yn_a), _glm().fit(Xa, ys_a / scale), scale)

    def predict_arrays(self, histories: list[CustomerHistory]) -> dict[str, np.ndarray]:
        arr = ClvModel.fit(histories).arrays(histories, self.horizon_weeks)
        X = features(histories, arr)
        n = self.purchases_model.predict(X)
        s = self.spend_model.predict(X) * self.spend_scale
        return {
            "purchases": BLEND * n + (1 - BLEND) * arr["purchases"],
            "value": BLEND * s + (1 - BLEND) * arr["value"],
            "p_alive": arr["p_alive"],
        }
