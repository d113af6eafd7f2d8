"""``IntentModel.score`` for the live worker: the same probabilities and occlusion explanations, cheaper.

``IntentModel.contributions`` re-evaluates every tree once per field. Swapping one field only changes the
trees that split on a column derived from it, and the pixel-only fields never reach the trees at all (they
enter the per-shop layer linearly). So each field is re-scored on its own sub-ensemble, only for the rows where
it differs from the typical session, over ``CompiledTrees`` (all trees descend together). The result equals
``IntentModel.score`` (up to float summation order); the tests hold the two side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from app.modelling.compiled_trees import CompiledTrees
from app.modelling.explain import Explanation, Signal
from app.modelling.intent import (
    FIELDS,
    GLOBAL_FIELDS,
    GlobalIntentModel,
    IntentModel,
    IntentScore,
    SessionFeatures,
    ShopIntentModel,
    describe,
    global_design,
    raw_matrix,
    shop_design,
)


def _design_columns(field_index: int) -> set[int]:
    """Columns of ``global_design`` that move when one raw field moves (found by perturbing it)."""
    base = np.ones((1, len(FIELDS))) * 0.5
    moved = base.copy()
    moved[0, field_index] = 3.7
    diff = global_design(moved)[0] != global_design(base)[0]
    return set(np.flatnonzero(diff).tolist())


class FastIntentScorer:
    """Scores sessions like ``IntentModel(global_model, shop).score`` with a compiled global ensemble."""

    def __init__(
        self, global_model: GlobalIntentModel, compiled: CompiledTrees, shop: ShopIntentModel | None = None
    ) -> None:
        self.global_model = global_model
        self.compiled = compiled
        self.shop = shop or ShopIntentModel.prior()
        self.reference = np.array([global_model.reference.get(name, 0.0) for name in FIELDS])
        columns = {j: _design_columns(j) for j in range(len(GLOBAL_FIELDS))}
        self.subsets = {j: compiled.trees_using(cols) for j, cols in columns.items()}
        # fields feeding a categorical column need their own virtual columns when swapped
        self.categorical = {j for j, cols in columns.items() if cols & compiled.categorical_features}

    @classmethod
    def of(cls, model: IntentModel, compiled: CompiledTrees | None = None) -> FastIntentScorer:
        return cls(
            model.global_model, compiled or CompiledTrees.compile(model.global_model.trees), model.shop
        )

    def with_shop(self, shop: ShopIntentModel) -> FastIntentScorer:
        """The same global trees (compiled once) under another shop layer."""
        twin = object.__new__(FastIntentScorer)
        twin.__dict__.update(self.__dict__)
        twin.shop = shop
        return twin

    def _shop_logit(self, raw: np.ndarray, global_logit: np.ndarray) -> np.ndarray:
        return shop_design(raw, global_logit) @ self.shop.weights

    def predict_proba(self, sessions: Sequence[SessionFeatures]) -> np.ndarray:
        if not sessions:
            return np.zeros(0)
        raw = raw_matrix(sessions)
        return expit(self._shop_logit(raw, self.compiled.raw(global_design(raw))))

    def contributions(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log-odds per row, log-odds change from swapping each field to its typical value)."""
        design = global_design(raw)
        virtual = self.compiled.virtual_columns(design)
        per_tree = self.compiled.per_tree(design, virtual=virtual)
        g = self.compiled.baseline + per_tree.sum(axis=1)
        base = self._shop_logit(raw, g)
        out = np.zeros((len(raw), len(FIELDS)))
        for j in range(len(FIELDS)):
            rows = np.flatnonzero(raw[:, j] != self.reference[j])
            if len(rows) == 0:
                continue
            swapped = raw[rows].copy()
            swapped[:, j] = self.reference[j]
            g_swapped = g[rows]
            trees = self.subsets.get(j)
            if trees is not None and len(trees):
                g_swapped = (
                    g_swapped
                    - per_tree[rows][:, trees].sum(axis=1)
                    + self.compiled.per_tree(
                        global_design(swapped), trees, None if j in self.categorical else virtual[rows]
                    ).sum(axis=1)
                )
            out[rows, j] = base[rows] - self._shop_logit(swapped, g_swapped)
        return base, out

    def score(self, sessions: Sequence[SessionFeatures], top: int = 5) -> list[IntentScore]:
        if not sessions:
            return []
        raw = raw_matrix(sessions)
        logits, contrib = self.contributions(raw)
        probs = expit(logits)
        result = []
        for i, s in enumerate(sessions):
            values = {name: getattr(s, name) for name in FIELDS}
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
