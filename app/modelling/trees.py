"""Gradient-boosted trees as plain arrays: trained with scikit-learn, stored as JSON, evaluated with NumPy.

Storing the trees (not a pickle) keeps a shipped model independent of the installed scikit-learn version.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Tree:
    """One regression tree: node arrays indexed by node id (0 = root)."""

    feature: np.ndarray  # int
    threshold: np.ndarray  # float; numeric split: x <= threshold goes left
    left: np.ndarray  # int
    right: np.ndarray  # int
    leaf: np.ndarray  # bool
    value: np.ndarray  # float, leaf values (already scaled by the learning rate)
    missing_left: np.ndarray  # bool
    categorical: np.ndarray  # bool
    cat_left: list[list[int]]  # per node: categories that go left (empty for numeric nodes)

    def predict(self, X: np.ndarray, known: dict[int, set[int]]) -> np.ndarray:
        node = np.zeros(len(X), dtype=np.int64)
        rows = np.arange(len(X))
        for _ in range(64):
            active = ~self.leaf[node]
            if not active.any():
                break
            idx = rows[active]
            nd = node[idx]
            x = X[idx, self.feature[nd]]
            missing = np.isnan(x)
            go_left = np.where(missing, self.missing_left[nd], x <= self.threshold[nd])
            cat_nodes = self.categorical[nd]
            if cat_nodes.any():
                for j in np.flatnonzero(cat_nodes):
                    n, v = nd[j], x[j]
                    f = int(self.feature[n])
                    if np.isnan(v) or int(v) not in known.get(f, set()):
                        go_left[j] = self.missing_left[n]
                    else:
                        go_left[j] = int(v) in self.cat_left[n]
            node[idx] = np.where(go_left, self.left[nd], self.right[nd])
        return self.value[node]

    def to_dict(self) -> dict:
        return {
            "feature": self.feature.tolist(),
            "threshold": [None if not np.isfinite(t) else float(t) for t in self.threshold],
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "leaf": self.leaf.astype(int).tolist(),
            "value": [round(float(v), 8) for v in self.value],
            "missing_left": self.missing_left.astype(int).tolist(),
            "categorical": self.categorical.astype(int).tolist(),
            "cat_left": self.cat_left,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Tree:
        thr = np.array([np.inf if t is None else t for t in d["threshold"]], dtype=float)
        return cls(
            feature=np.asarray(d["feature"], dtype=np.int64),
            threshold=thr,
            left=np.asarray(d["left"], dtype=np.int64),
            right=np.asarray(d["right"], dtype=np.int64),
            leaf=np.asarray(d["leaf"], dtype=bool),
            value=np.asarray(d["value"], dtype=float),
            missing_left=np.asarray(d["missing_left"], dtype=bool),
            categorical=np.asarray(d["categorical"], dtype=bool),
            cat_left=[list(c) for c in d["cat_left"]],
        )


@dataclass
class BoostedTrees:
    """A binary-logistic boosted ensemble: ``raw(X) = baseline + sum(tree(X))`` in log-odds."""

    baseline: float
    trees: list[Tree]
    known_categories: dict[int, set[int]]

    def raw(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        out = np.full(len(X), self.baseline)
        for t in self.trees:
            out += t.predict(X, self.known_categories)
        return out

    def to_dict(self) -> dict:
        return {
            "baseline": self.baseline,
            "trees": [t.to_dict() for t in self.trees],
            "known_categories": {str(k): sorted(v) for k, v in self.known_categories.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> BoostedTrees:
        return cls(
            baseline=float(d["baseline"]),
            trees=[Tree.from_dict(t) for t in d["trees"]],
            known_categories={int(k): set(v) for k, v in d["known_categories"].items()},
        )


def _bits(words: np.ndarray) -> list[int]:
    return [w * 32 + b for w, word in enumerate(words) for b in range(32) if int(word) >> b & 1]


def fit_boosted_trees(
    X: np.ndarray, y: np.ndarray, categorical: list[int] | None = None, **params: object
) -> BoostedTrees:
    """Train scikit-learn's HistGradientBoostingClassifier and export its trees to plain arrays."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # heavy: optional, slow to import

    cats = categorical or []
    params.setdefault("random_state", 0)
    model = HistGradientBoostingClassifier(categorical_features=cats or None, early_stopping=False, **params)
    model.fit(X, y)
    order, categories = _column_layout(model, np.asarray(X, dtype=float), cats)
    trees = []
    for (pred,) in model._predictors:
        nodes = pred.nodes
        feature = np.asarray([order[i] for i in nodes["feature_idx"]], dtype=np.int64)
        cat_left = [
            [int(categories[int(f)][c]) for c in _bits(pred.raw_left_cat_bitsets[n["bitset_idx"]])]
            if n["is_categorical"]
            else []
            for n, f in zip(nodes, feature, strict=True)
        ]
        trees.append(
            Tree(
                feature=feature,
                threshold=nodes["num_threshold"].astype(float),
                left=nodes["left"].astype(np.int64),
                right=nodes["right"].astype(np.int64),
                leaf=nodes["is_leaf"].astype(bool),
                value=nodes["value"].astype(float),
                missing_left=nodes["missing_go_to_left"].astype(bool),
                categorical=nodes["is_categorical"].astype(bool),
                cat_left=cat_left,
            )
        )
    known = {f: {int(v) for v in categories[f]} for f in cats}
    return BoostedTrees(
        baseline=float(np.ravel(model._baseline_prediction)[0]), trees=trees, known_categories=known
    )


def _column_layout(model: object, X: np.ndarray, cats: list[int]) -> tuple[list[int], dict[int, np.ndarray]]:
    """Map the fitted model's internal column order and category codes back to the caller's columns.

    scikit-learn ordinal-encodes categorical columns and moves them first; trees index that layout.
    """
    pre = getattr(model, "_preprocessor", None)
    if pre is None:
        return list(range(X.shape[1])), {f: np.arange(256) for f in cats}
    masks = {name: np.asarray(cols) for name, _, cols in pre.transformers_ if name != "remainder"}
    order = np.flatnonzero(masks["encoder"]).tolist() + np.flatnonzero(masks["numerical"]).tolist()
    encoder = pre.named_transformers_["encoder"]
    categories = dict(zip(np.flatnonzero(masks["encoder"]).tolist(), encoder.categories_, strict=True))
    return order, categories


def average_ensembles(ensembles: list[BoostedTrees]) -> BoostedTrees:
    """One ensemble whose log-odds are the mean of the given ensembles' log-odds."""
    k = len(ensembles)
    trees = []
    for ens in ensembles:
        for t in ens.trees:
            trees.append(Tree(**{**t.__dict__, "value": t.value / k}))
    known: dict[int, set[int]] = {}
    for ens in ensembles:
        for f, cats in ens.known_categories.items():
            known.setdefault(f, set()).update(cats)
    return BoostedTrees(float(np.mean([e.baseline for e in ensembles])), trees, known)
