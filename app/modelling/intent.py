"""In-session purchase intent: a calibrated probability with the signals that moved it.

Two layers:
- ``GlobalIntentModel``: gradient-boosted trees over session aggregates a pixel stream yields (page views per
  page type, dwell, bounce/exit proxies, page value, month, visitor type, traffic source, device…), trained on
  public data and shipped as a small JSON artifact, so a shop gets sensible scores on day one;
- ``ShopIntentModel``: a per-shop logistic layer over the global log-odds plus pixel-only signals (searches,
  cart adds/removes, funnel step). Its coefficients have a Gaussian prior centred on "trust the global model"
  (slope 1, everything else 0), so with few sessions it *is* the global model and it moves toward the shop's own
  evidence as sessions accumulate.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from app.modelling.explain import Explanation, Signal
from app.modelling.trees import BoostedTrees, average_ensembles, fit_boosted_trees

ARTIFACT = Path(__file__).with_name("intent_global.json.gz")
VISITOR_TYPES = ("returning", "new", "other")
FUNNEL_STEPS = ("browsing", "cart", "checkout", "contact info", "address", "shipping", "payment")
HGB_PARAMS = {
    "learning_rate": 0.05,
    "max_iter": 200,
    "max_leaf_nodes": 8,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "max_features": 0.5,
}
BAG_SEEDS = (0, 1, 2)  # feature-subsampled ensembles averaged in log-odds


@dataclass(frozen=True)
class SessionFeatures:
    """Aggregates of one storefront session (what the pixel's events add up to)."""

    account_pages: float = 0.0  # account / login / contact pages viewed
    account_seconds: float = 0.0
    info_pages: float = 0.0  # policy / about / blog pages
    info_seconds: float = 0.0
    product_pages: float = 0.0  # product and collection pages
    product_seconds: float = 0.0
    bounce_rate: float = 0.0  # mean bounce rate of the pages visited (shop page stats)
    exit_rate: float = 0.0  # mean exit rate of the pages visited
    page_value: float = 0.0  # mean value of the pages visited (revenue of sessions through a page / views)
    special_day: float = 0.0  # 0..1 closeness to a gifting day
    month: int = 1  # 1..12, shopper's local time
    visitor_type: str = "new"  # returning | new | other
    weekend: bool = False
    os: int = 0  # device operating system code
    browser: int = 0
    region: int = 0
    traffic_source: int = 0  # shop's traffic-source code (referrer / UTM bucket)
    # pixel-only signals the public data lacks; learned by the per-shop layer
    searches: float = 0.0
    cart_adds: float = 0.0
    cart_removes: float = 0.0
    funnel_step: int = 0  # index into FUNNEL_STEPS

    def raw(self) -> list[float]:
        vt = self.visitor_type if self.visitor_type in VISITOR_TYPES else "other"
        return [
            self.account_pages,
            self.account_seconds,
            self.info_pages,
            self.info_seconds,
            self.product_pages,
            self.product_seconds,
            self.bounce_rate,
            self.exit_rate,
            self.page_value,
            self.special_day,
            float(self.month),
            float(VISITOR_TYPES.index(vt)),
            float(self.weekend),
            float(self.os),
            float(self.browser),
            float(self.region),
            float(self.traffic_source),
            self.searches,
            self.cart_adds,
            self.cart_removes,
            float(self.funnel_step),
        ]


FIELDS = tuple(f.name for f in fields(SessionFeatures))
GLOBAL_FIELDS = FIELDS[:17]
EXTRA_FIELDS = FIELDS[17:]
_I = {name: i for i, name in enumerate(FIELDS)}
CATEGORICAL = [_I["month"], _I["traffic_source"]]


def raw_matrix(sessions: Sequence[SessionFeatures]) -> np.ndarray:
    return np.asarray([s.raw() for s in sessions], dtype=float).reshape(len(sessions), len(FIELDS))


def global_design(raw: np.ndarray) -> np.ndarray:
    """Columns the global trees see: the 17 public-data fields plus a few engineered interactions."""
    g = raw[:, : len(GLOBAL_FIELDS)]
    pv, exit_rate = g[:, _I["page_value"]], g[:, _I["exit_rate"]]
    pages = g[:, _I["account_pages"]] + g[:, _I["info_pages"]] + g[:, _I["product_pages"]]
    secs = g[:, _I["account_seconds"]] + g[:, _I["info_seconds"]] + g[:, _I["product_seconds"]]
    return np.column_stack(
        [
            g,
            np.log1p(pv) * (1 - 5 * exit_rate),
            g[:, _I["product_seconds"]] / (g[:, _I["product_pages"]] + 1),
            pages,
            secs,
            pv * g[:, _I["product_pages"]],
        ]
    )


def shop_design(raw: np.ndarray, global_logit: np.ndarray) -> np.ndarray:
    """Columns of the per-shop layer: intercept, global log-odds, pixel-only signals."""
    e = raw[:, len(GLOBAL_FIELDS) :]
    return np.column_stack(
        [
            np.ones(len(raw)),
            global_logit,
            np.log1p(e[:, 0]),
            np.log1p(e[:, 1]),
            np.log1p(e[:, 2]),
            e[:, 3] / (len(FUNNEL_STEPS) - 1),
        ]
    )


@dataclass
class GlobalIntentModel:
    """Boosted trees on session aggregates plus the 'typical session' used as the reference for explanations."""

    trees: BoostedTrees
    reference: dict[str, float]

    @classmethod
    def fit(cls, sessions: Sequence[SessionFeatures], purchased: Sequence[int]) -> GlobalIntentModel:
        raw = raw_matrix(sessions)
        y = np.asarray(purchased, dtype=int)
        design = global_design(raw)
        trees = average_ensembles(
            [fit_boosted_trees(design, y, CATEGORICAL, random_state=seed, **HGB_PARAMS) for seed in BAG_SEEDS]
        )
        reference = {}
        for name in FIELDS:
            col = raw[:, _I[name]]
            if name in ("month", "visitor_type", "weekend", "traffic_source", "os", "browser", "region"):
                vals, counts = np.unique(col, return_counts=True)
                reference[name] = float(vals[np.argmax(counts)])
            else:
                reference[name] = float(np.median(col))
        return cls(trees=trees, reference=reference)

    def logit(self, raw: np.ndarray) -> np.ndarray:
        return self.trees.raw(global_design(raw))

    def to_dict(self) -> dict:
        return {"trees": self.trees.to_dict(), "reference": self.reference}

    @classmethod
    def from_dict(cls, d: dict) -> GlobalIntentModel:
        return cls(trees=BoostedTrees.from_dict(d["trees"]), reference=dict(d["reference"]))

    def save(self, path: Path = ARTIFACT) -> None:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, separators=(",", ":"))

    @classmethod
    def load(cls, path: Path = ARTIFACT) -> GlobalIntentModel:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))


PRIOR_MEAN = np.array([0.0, 1.0, 0.0, 0.0, 0.0, 0.0])


def map_logistic(
    Z: np.ndarray, y: Sequence[int], prior_mean: np.ndarray, prior_strength: float
) -> np.ndarray:
    """MAP logistic regression of ``y`` on the design ``Z`` with a Gaussian prior around ``prior_mean``: each
    coefficient's prior precision is ``prior_strength × mean(column²)`` (it weighs about as much as
    ``prior_strength`` rows, whatever the column's scale). The per-shop layers use it."""
    target = np.asarray(y, dtype=float)
    lam = prior_strength * np.maximum((Z**2).mean(axis=0), 1.0)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = Z @ w
        nll = np.sum(np.logaddexp(0, z) - target * z)
        d = w - prior_mean
        grad = Z.T @ (expit(z) - target) + lam * d
        return nll + 0.5 * float(np.sum(lam * d * d)), grad

    res = minimize(objective, prior_mean.copy(), jac=True, method="L-BFGS-B")
    return np.asarray(res.x, dtype=float)


@dataclass
class ShopIntentModel:
    """Per-shop logistic layer on top of the global model; ``n_sessions=0`` means 'global model as is'."""

    weights: np.ndarray
    n_sessions: int = 0

    @classmethod
    def prior(cls) -> ShopIntentModel:
        return cls(weights=PRIOR_MEAN.copy(), n_sessions=0)

    @classmethod
    def fit(
        cls,
        global_model: GlobalIntentModel,
        sessions: Sequence[SessionFeatures],
        purchased: Sequence[int],
        prior_strength: float = 50.0,
    ) -> ShopIntentModel:
        """MAP logistic regression with a Gaussian prior around the global model.

        Each coefficient's prior precision is ``prior_strength × mean(column²)``: the prior weighs about as much
        as ``prior_strength`` sessions, whatever the scale of the column.
        """
        if not sessions:
            return cls.prior()
        raw = raw_matrix(sessions)
        Z = shop_design(raw, global_model.logit(raw))
        return cls(weights=map_logistic(Z, purchased, PRIOR_MEAN, prior_strength), n_sessions=len(sessions))

    def to_dict(self) -> dict:
        return {"weights": self.weights.tolist(), "n_sessions": self.n_sessions}

    @classmethod
    def from_dict(cls, d: dict) -> ShopIntentModel:
        return cls(weights=np.asarray(d["weights"], dtype=float), n_sessions=int(d["n_sessions"]))


@dataclass(frozen=True)
class IntentScore:
    probability: float
    explanation: Explanation


class IntentModel:
    """Global prior + per-shop layer: probabilities, and explanations by occlusion against a typical session."""

    def __init__(self, global_model: GlobalIntentModel, shop: ShopIntentModel | None = None) -> None:
        self.global_model = global_model
        self.shop = shop or ShopIntentModel.prior()

    @classmethod
    def default(cls, shop: ShopIntentModel | None = None) -> IntentModel:
        return cls(GlobalIntentModel.load(), shop)

    def _logit(self, raw: np.ndarray) -> np.ndarray:
        return shop_design(raw, self.global_model.logit(raw)) @ self.shop.weights

    def predict_proba(self, sessions: Sequence[SessionFeatures]) -> np.ndarray:
        if not sessions:
            return np.zeros(0)
        return expit(self._logit(raw_matrix(sessions)))

    def contributions(self, raw: np.ndarray) -> np.ndarray:
        """Log-odds change from swapping each field to its typical value (n × fields); positive = raises intent."""
        base = self._logit(raw)
        out = np.zeros((len(raw), len(FIELDS)))
        for j, name in enumerate(FIELDS):
            ref = self.global_model.reference.get(name, 0.0)
            if np.all(raw[:, j] == ref):
                continue
            swapped = raw.copy()
            swapped[:, j] = ref
            out[:, j] = base - self._logit(swapped)
        return out

    def score(self, sessions: Sequence[SessionFeatures], top: int = 5) -> list[IntentScore]:
        if not sessions:
            return []
        raw = raw_matrix(sessions)
        probs = expit(self._logit(raw))
        contrib = self.contributions(raw)
        result = []
        for i, s in enumerate(sessions):
            values = asdict(s)
            signals = [
                Signal(name, values[name], round(float(c), 4), describe(name, values[name], c))
                for name, c in zip(FIELDS, contrib[i], strict=True)
                if abs(c) > 1e-6
            ]
            p = float(probs[i])
            result.append(
                IntentScore(
                    probability=p,
                    explanation=Explanation.build(
                        "purchase_intent", round(p, 4), signals, top, f"{p:.0%} chance this session buys"
                    ),
                )
            )
        return result


def describe(name: str, value: object, contribution: float) -> str:
    """Human text for one signal, e.g. 'viewed 14 product pages (raises intent)'."""
    v = value
    phrases = {
        "account_pages": lambda: f"viewed {v:g} account pages",
        "account_seconds": lambda: f"spent {v:.0f}s on account pages",
        "info_pages": lambda: f"viewed {v:g} info pages",
        "info_seconds": lambda: f"spent {v:.0f}s on info pages",
        "product_pages": lambda: f"viewed {v:g} product pages",
        "product_seconds": lambda: f"spent {v:.0f}s on product pages",
        "bounce_rate": lambda: f"pages with a {v:.0%} bounce rate",
        "exit_rate": lambda: f"pages with a {v:.0%} exit rate",
        "page_value": lambda: f"visited pages that typically precede {v:.1f} in sales",
        "special_day": lambda: "close to a gifting day" if v else "not near a gifting day",
        "month": lambda: f"shopping in month {v}",
        "visitor_type": lambda: f"{v} visitor",
        "weekend": lambda: "weekend visit" if v else "weekday visit",
        "os": lambda: f"device OS #{v}",
        "browser": lambda: f"browser #{v}",
        "region": lambda: f"region #{v}",
        "traffic_source": lambda: f"traffic source #{v}",
        "searches": lambda: f"searched {v:g} times",
        "cart_adds": lambda: f"added {v:g} items to the cart",
        "cart_removes": lambda: f"removed {v:g} items from the cart",
        "funnel_step": lambda: f"reached {FUNNEL_STEPS[int(v)] if 0 <= int(v) < len(FUNNEL_STEPS) else v}",
    }
    text = phrases[name]() if name in phrases else f"{name}={v}"
    return f"{text} ({'raises' if contribution > 0 else 'lowers'} intent)"
