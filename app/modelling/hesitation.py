"""Hesitation in a live storefront session: the embed's signals folded into features, and P(abandon | the
session so far) with its explanation.

Signals (from the theme app embed, after consent) are deduplicated by id and folded into per-item cart state,
so repeated remove events count once and a re-add counts only after a real removal:

- ``cart_add`` / ``cart_remove`` / ``cart_qty`` (``variant``, ``qty``): re-adds of a removed item, quantity
  toggles (a change of direction: up then down, or down then up);
- ``cart_idle`` (``seconds``): time on the cart with items and no progress; ``tab_hidden`` (``seconds``): the
  tab hidden while the cart holds items (both keep their maximum: the embed reports running totals);
- ``info_view`` (``topic``: shipping | returns | size): views of that information (repeated = 2 or more);
- ``checkout_back``: the shopper came back from checkout to the store.

The web pixel's checkout steps (``checkout_started`` … ``payment_info_submitted``) add the furthest step and the
stall since it (``with_checkout``).

Risk is two layers, like ``app.modelling.intent``: a global layer, ``-logit(intent prior) + w·x``, where the
intent prior is the shipped intent model's purchase probability for the shopper (its base rate when unknown) and
``w`` are documented prior weights of the hesitation features; and a per-shop logistic layer over
``[1, global log-odds, x]`` whose Gaussian prior is centred on "trust the global layer" (slope 1, the rest 0),
fitted on the shop's own untreated sessions (``ShopRiskLayer.fit``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy.special import expit

from app.modelling.explain import Explanation, Signal
from app.modelling.intent import map_logistic

SIGNAL_KINDS = (
    "cart_add",
    "cart_remove",
    "cart_qty",
    "cart_idle",
    "tab_hidden",
    "info_view",
    "checkout_back",
)
INFO_TOPICS = ("shipping", "returns", "size")
CHECKOUT_STEPS = (
    "checkout_started",
    "checkout_contact_info_submitted",
    "checkout_address_info_submitted",
    "checkout_shipping_info_submitted",
    "payment_info_submitted",
)
MAX_SEEN = 256  # signal ids kept for dedupe per session
MAX_ITEMS = 50  # cart lines tracked per session
MAX_SECONDS = 3600.0
# Purchase rate of sessions in the public data the shipped intent model learned from (UCI Online Shoppers
# Purchasing Intention: 1,908 of 12,330): the intent prior of a shopper the profile does not know yet.
BASE_INTENT = 0.155


@dataclass(frozen=True)
class Hesitation:
    """The features of one live session."""

    readds: float = 0.0
    qty_toggles: float = 0.0
    cart_idle_s: float = 0.0
    hidden_s: float = 0.0
    shipping_views: float = 0.0
    returns_views: float = 0.0
    size_views: float = 0.0
    checkout_back: float = 0.0
    checkout_step: float = 0.0  # 0: none, 1..5: furthest checkout step the pixel saw
    checkout_stall_s: float = 0.0  # seconds since that step without progress

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Hesitation:
        known = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in d.items() if k in known and isinstance(v, (int, float))})

    def signals(self) -> int:
        """How many distinct hesitation signs the session shows (0: none, nothing to act on)."""
        return sum(
            (
                self.readds > 0,
                self.qty_toggles > 0,
                self.cart_idle_s >= 60,
                self.hidden_s >= 30,
                self.shipping_views >= 2,
                self.returns_views >= 2,
                self.size_views >= 2,
                self.checkout_back > 0,
                self.checkout_stall_s >= 120,
            )
        )

    def likely_question(self) -> str | None:
        """The topic the shopper most likely wants answered: the information viewed most (2+ views), or
        shipping when they came back from checkout (its cost is the commonest reason)."""
        views = {"shipping": self.shipping_views, "returns": self.returns_views, "size": self.size_views}
        topic, n = max(views.items(), key=lambda kv: kv[1])
        if n >= 2:
            return topic
        if self.checkout_back or self.checkout_stall_s >= 120:
            return "shipping"
        return None


# --- folding signals ----------------------------------------------------------------------------------------


def fold(state: dict[str, Any], signals: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], int]:
    """Fold validated signals into ``state`` (a JSON-able dict, updated copy returned) and count the new ones.
    A signal id already seen is skipped."""
    st = {
        "seen": list(state.get("seen", [])),
        "items": {k: dict(v) for k, v in state.get("items", {}).items()},
        "readds": int(state.get("readds", 0)),
        "toggles": int(state.get("toggles", 0)),
        "idle": float(state.get("idle", 0.0)),
        "hidden": float(state.get("hidden", 0.0)),
        "views": dict(state.get("views", {})),
        "back": int(state.get("back", 0)),
    }
    seen = set(st["seen"])
    new = 0
    for s in signals:
        sid = str(s["id"])
        if sid in seen:
            continue
        seen.add(sid)
        st["seen"].append(sid)
        new += 1
        _apply(st, s)
    st["seen"] = st["seen"][-MAX_SEEN:]
    return st, new


def _apply(st: dict[str, Any], s: Mapping[str, Any]) -> None:
    kind = s["kind"]
    if kind in ("cart_add", "cart_remove", "cart_qty"):
        key = str(s.get("variant"))
        item = st["items"].get(key)
        if item is None:
            if len(st["items"]) >= MAX_ITEMS:
                return
            item = st["items"][key] = {"qty": 0, "removed": False, "dir": 0}
        if kind == "cart_remove":
            qty = 0
        elif kind == "cart_add":
            qty = item["qty"] + max(int(s.get("qty") or 1), 1)
        else:
            qty = max(int(s.get("qty") or 0), 0)
        if qty == 0:
            if item["qty"] > 0:  # a removal (repeated removes of a removed item count once)
                item["removed"] = True
        elif item["removed"] and item["qty"] == 0:
            st["readds"] += 1  # added again after removing it
            item["removed"] = False
        step = (qty > item["qty"]) - (qty < item["qty"])
        if kind == "cart_qty" and step and item["dir"] and step != item["dir"] and qty > 0:
            st["toggles"] += 1
        if step:
            item["dir"] = step
        item["qty"] = qty
    elif kind == "cart_idle":
        st["idle"] = max(st["idle"], min(float(s.get("seconds") or 0), MAX_SECONDS))
    elif kind == "tab_hidden":
        st["hidden"] = max(st["hidden"], min(float(s.get("seconds") or 0), MAX_SECONDS))
    elif kind == "info_view":
        topic = s.get("topic")
        if topic in INFO_TOPICS:
            st["views"][topic] = int(st["views"].get(topic, 0)) + 1
    elif kind == "checkout_back":
        st["back"] = 1


def features_of(state: Mapping[str, Any]) -> Hesitation:
    views = state.get("views", {})
    return Hesitation(
        readds=float(state.get("readds", 0)),
        qty_toggles=float(state.get("toggles", 0)),
        cart_idle_s=float(state.get("idle", 0.0)),
        hidden_s=float(state.get("hidden", 0.0)),
        shipping_views=float(views.get("shipping", 0)),
        returns_views=float(views.get("returns", 0)),
        size_views=float(views.get("size", 0)),
        checkout_back=float(state.get("back", 0)),
    )


def with_checkout(h: Hesitation, steps: Sequence[tuple[str, float]], now: float) -> Hesitation:
    """Add the pixel's checkout steps (name, epoch seconds): the furthest step, and the stall since the last
    step when the checkout did not complete."""
    furthest, last = 0, None
    for name, at in steps:
        if name == "checkout_completed":
            return Hesitation(
                **{**h.as_dict(), "checkout_step": float(len(CHECKOUT_STEPS)), "checkout_stall_s": 0.0}
            )
        if name in CHECKOUT_STEPS:
            furthest = max(furthest, CHECKOUT_STEPS.index(name) + 1)
            last = at if last is None else max(last, at)
    stall = min(max(now - last, 0.0), MAX_SECONDS) if last is not None else 0.0
    return Hesitation(**{**h.as_dict(), "checkout_step": float(furthest), "checkout_stall_s": stall})


# --- risk -------------------------------------------------------------------------------------------------------

TERMS = (
    # name, prior weight, readable text — the weights are priors (no public data carries these signals): each
    # is the log-odds a strong sign of it adds; the per-shop layer corrects them with the shop's own sessions
    ("readds", 0.6, "removed an item and added it again"),
    ("qty_toggles", 0.3, "changed a quantity back and forth"),
    ("cart_idle", 0.5, "stayed on the cart without moving on"),
    ("hidden", 0.4, "left the tab with items in the cart"),
    ("info_views", 0.5, "looked at shipping, returns or size information again"),
    ("checkout_back", 0.8, "came back from checkout"),
    ("checkout_stall", 0.6, "stalled in checkout"),
    ("checkout_progress", -1.2, "got far in checkout"),
)
TERM_NAMES = tuple(t[0] for t in TERMS)
PRIOR_WEIGHTS = np.array([t[1] for t in TERMS])


def design(h: Hesitation) -> np.ndarray:
    """The hesitation features as the risk layers see them (bounded, roughly 0..2 each)."""
    repeated = max(h.shipping_views - 1, 0) + max(h.returns_views - 1, 0) + max(h.size_views - 1, 0)
    return np.array(
        [
            math.log1p(h.readds),
            math.log1p(h.qty_toggles),
            min(h.cart_idle_s, 600.0) / 300.0,
            min(h.hidden_s, 600.0) / 300.0,
            math.log1p(repeated),
            h.checkout_back,
            min(h.checkout_stall_s, 600.0) / 300.0,
            h.checkout_step / len(CHECKOUT_STEPS),
        ]
    )


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def global_logit(intent: float | None, x: np.ndarray) -> float:
    """The global layer's log-odds of abandoning: the intent prior's log-odds of *not* buying, plus the
    hesitation terms."""
    return -logit(BASE_INTENT if intent is None else intent) + float(PRIOR_WEIGHTS @ x)


SHOP_PRIOR = np.concatenate([[0.0, 1.0], np.zeros(len(TERMS))])


@dataclass
class ShopRiskLayer:
    """``z = w · [1, global log-odds, x]``; ``n_sessions=0`` is the global layer as is."""

    weights: np.ndarray
    n_sessions: int = 0

    @classmethod
    def prior(cls) -> ShopRiskLayer:
        return cls(SHOP_PRIOR.copy(), 0)

    @classmethod
    def fit(
        cls,
        intents: Sequence[float | None],
        hesitations: Sequence[Hesitation],
        abandoned: Sequence[int],
        prior_strength: float = 50.0,
    ) -> ShopRiskLayer:
        """MAP logistic regression with a Gaussian prior around the global layer (each coefficient's prior
        weighs about as much as ``prior_strength`` sessions). Fit on sessions nobody intervened in (held out,
        or below the risk threshold), so the treatment's effect does not leak into the risk."""
        if not hesitations:
            return cls.prior()
        Z = np.array([_row(i, h) for i, h in zip(intents, hesitations, strict=True)])
        return cls(map_logistic(Z, abandoned, SHOP_PRIOR, prior_strength), len(hesitations))

    def to_dict(self) -> dict[str, Any]:
        return {"weights": [round(float(w), 6) for w in self.weights], "n_sessions": self.n_sessions}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ShopRiskLayer:
        weights = (d or {}).get("weights")
        if not isinstance(weights, list) or len(weights) != len(SHOP_PRIOR):
            return cls.prior()
        return cls(np.asarray(weights, dtype=float), int((d or {}).get("n_sessions", 0)))


def _row(intent: float | None, h: Hesitation) -> np.ndarray:
    x = design(h)
    return np.concatenate([[1.0, global_logit(intent, x)], x])


@dataclass(frozen=True)
class Risk:
    probability: float
    explanation: Explanation


def risk(intent: float | None, h: Hesitation, layer: ShopRiskLayer | None = None) -> Risk:
    """P(abandon | the session so far) with the signals that moved it (log-odds contributions)."""
    w = (layer or ShopRiskLayer.prior()).weights
    x = design(h)
    z = float(w @ _row(intent, h))
    slope = w[1]
    prior_part = slope * -logit(BASE_INTENT if intent is None else intent)
    signals = [
        Signal(
            "intent_prior",
            None if intent is None else round(intent, 4),
            round(prior_part - slope * -logit(BASE_INTENT), 4),
            "the shopper's purchase intent so far" if intent is not None else "a shopper we do not know yet",
        )
    ]
    for k, (name, _, text) in enumerate(TERMS):
        contribution = (slope * PRIOR_WEIGHTS[k] + w[2 + k]) * x[k]
        signals.append(Signal(name, round(float(x[k]), 4), round(float(contribution), 4), text))
    p = float(expit(z))
    summary = f"{p:.0%} likely to leave without buying"
    return Risk(p, Explanation.build("abandon_risk", round(p, 4), signals, top=4, summary=summary))


def calibration(p: Sequence[float], y: Sequence[int], bins: int = 10) -> float:
    """Expected calibration error: the size-weighted mean |predicted − observed| over equal-width bins."""
    p_arr, y_arr = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    idx = np.minimum((p_arr * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.sum() * abs(p_arr[m].mean() - y_arr[m].mean())
    return err / max(len(p_arr), 1)
