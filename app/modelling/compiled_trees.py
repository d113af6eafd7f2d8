"""A boosted-tree ensemble flattened into one set of node arrays, evaluated for all trees at once.

``BoostedTrees.raw`` walks one tree at a time (and categorical nodes one row at a time), which is fine for a
backtest but costs tens of milliseconds per call; the profile worker scores every touched profile (and its
occlusion explanations) on each batch. ``CompiledTrees`` gives the same log-odds (up to float summation order)
by walking every tree in lock-step with NumPy fancy indexing: a handful of array operations per tree level.
It has the same ``raw(X)`` method, so it can stand in for ``BoostedTrees`` inside ``GlobalIntentModel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from app.modelling.trees import BoostedTrees


@dataclass(frozen=True, eq=False)
class CompiledTrees:
    baseline: float
    roots: np.ndarray  # (n_trees,) global node id of each tree's root
    feature: np.ndarray  # per global node
    threshold: np.ndarray
    left: np.ndarray  # global ids
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray
    categorical: np.ndarray
    cat_left: np.ndarray  # (n_nodes, n_codes) bool: category code goes left
    known: np.ndarray  # (n_features, n_codes) bool: category code seen in training
    depth: int

    @classmethod
    def compile(cls, trees: BoostedTrees) -> CompiledTrees:
        offsets = np.cumsum([0] + [len(t.leaf) for t in trees.trees])
        n_nodes = int(offsets[-1])
        codes = [c for cats in trees.known_categories.values() for c in cats]
        codes += [c for t in trees.trees for node in t.cat_left for c in node]
        n_codes = max(codes, default=0) + 1
        n_features = 1 + max((int(t.feature.max()) for t in trees.trees if len(t.feature)), default=0)
        n_features = max(n_features, 1 + max(trees.known_categories, default=0))
        cat_left = np.zeros((n_nodes, n_codes), dtype=bool)
        for t, off in zip(trees.trees, offsets[:-1], strict=True):
            for i, cats in enumerate(t.cat_left):
                if cats:
                    cat_left[off + i, [c for c in cats if c >= 0]] = True
        known = np.zeros((n_features, n_codes), dtype=bool)
        for f, cats in trees.known_categories.items():
            known[f, [c for c in cats if c >= 0]] = True

        def cat(name: str, shift: bool = False) -> np.ndarray:
            parts = [
                getattr(t, name) + (off if shift else 0) for t, off in zip(trees.trees, offsets, strict=False)
            ]
            return np.concatenate(parts) if parts else np.zeros(0)

        leaf = cat("leaf").astype(bool)
        left, right = cat("left", True).astype(np.int64), cat("right", True).astype(np.int64)
        # leaves point at themselves, so a finished tree stays put while deeper trees keep walking
        ids = np.arange(n_nodes)
        left[leaf], right[leaf] = ids[leaf], ids[leaf]
        return cls(
            baseline=float(trees.baseline),
            roots=offsets[:-1].astype(np.int64),
            feature=cat("feature").astype(np.int64),
            threshold=cat("threshold").astype(float),
            left=left,
            right=right,
            leaf=leaf,
            value=cat("value").astype(float),
            missing_left=cat("missing_left").astype(bool),
            categorical=cat("categorical").astype(bool),
            cat_left=cat_left,
            known=known,
            depth=max((_depth(t.left, t.right, t.leaf) for t in trees.trees), default=0),
        )

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Log-odds for each row of ``X`` (same columns as the trees were trained on)."""
        return self.baseline + self.per_tree(X).sum(axis=1)

    def per_tree(
        self, X: np.ndarray, trees: np.ndarray | None = None, virtual: np.ndarray | None = None
    ) -> np.ndarray:
        """Each tree's output for each row (rows × trees, or × the given tree indices), without the baseline.

        Categorical splits become numeric ones on virtual columns (one per categorical node: 0 = left,
        1 = right; ``virtual_columns``, which a caller may pass in when the categorical inputs of ``X`` are
        known not to have changed), so the descent is a few gathers per level for all trees at once.
        """
        X = np.asarray(X, dtype=float)
        n = len(X)
        roots = self.roots if trees is None else self.roots[trees]
        if n == 0 or len(roots) == 0:
            return np.zeros((n, len(roots)))
        cat_nodes, feature, threshold = self._layout(X.shape[1])
        if len(cat_nodes):
            X = np.hstack([X, self.virtual_columns(X) if virtual is None else virtual])
        has_nan = bool(np.isnan(X).any())
        width = X.shape[1]
        flat = X.ravel()
        base = (np.arange(n) * width)[:, None]
        node = np.broadcast_to(roots, (n, len(roots)))
        for _ in range(self.depth):
            x = flat[base + feature[node]]
            go_right = ~(x <= threshold[node])
            if has_nan:
                go_right = np.where(np.isnan(x), ~self.missing_left[node], go_right)
            node = self._children[2 * node + go_right]
        return self.value[node]

    def virtual_columns(self, X: np.ndarray) -> np.ndarray:
        """Per row and categorical node: 0.0 when the row goes left there, 1.0 when it goes right."""
        cat_nodes = self._layout(X.shape[1])[0]
        code = np.trunc(np.nan_to_num(X[:, self.feature[cat_nodes]], nan=-1.0)).astype(np.int64)
        in_range = (code >= 0) & (code < self.cat_left.shape[1])
        safe = np.where(in_range, code, 0)
        seen = in_range & self.known[self.feature[cat_nodes], safe]
        left = np.where(seen, self.cat_left[cat_nodes, safe], self.missing_left[cat_nodes])
        return (~left).astype(float)

    @property
    def categorical_features(self) -> set[int]:
        return set(np.flatnonzero(self.known.any(axis=1)).tolist())

    def _layout(self, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(categorical node ids, per-node column in the widened matrix, per-node threshold)."""
        cached = self._layouts.get(width)
        if cached is None:
            cat_nodes = np.flatnonzero(self.categorical)
            feature, threshold = self.feature.copy(), self.threshold.copy()
            feature[cat_nodes] = width + np.arange(len(cat_nodes))
            threshold[cat_nodes] = 0.5
            cached = self._layouts[width] = (cat_nodes, feature, threshold)
        return cached

    @cached_property
    def _layouts(self) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return {}

    def trees_using(self, columns: set[int]) -> np.ndarray:
        """Indices of the trees with a split on any of ``columns``."""
        tree_of = np.repeat(np.arange(len(self.roots)), np.diff(np.append(self.roots, len(self.leaf))))
        uses = ~self.leaf & np.isin(self.feature, sorted(columns))
        return np.unique(tree_of[uses])

    @cached_property
    def _children(self) -> np.ndarray:
        return np.column_stack([self.left, self.right]).ravel()


def _depth(left: np.ndarray, right: np.ndarray, leaf: np.ndarray) -> int:
    """Edges on the longest root-to-leaf path of one tree."""
    best, stack = 0, [(0, 0)]
    while stack:
        i, d = stack.pop()
        if leaf[i]:
            best = max(best, d)
        else:
            stack += [(int(left[i]), d + 1), (int(right[i]), d + 1)]
    return best
