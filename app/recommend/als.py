"""Implicit-feedback matrix factorisation baseline (``implicit``'s alternating least squares)."""

from __future__ import annotations

import numpy as np

from app.recommend.transactions import Baskets


class ImplicitALS:
    """ALS on customer x item order counts (confidence = 1 + alpha x count); repeat items are not filtered."""

    name = "implicit_als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        seed: int = 7,
    ) -> None:
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.seed = iterations, seed

    def fit(self, baskets: Baskets) -> ImplicitALS:
        from implicit.cpu.als import AlternatingLeastSquares  # heavy: optional, slow to import
        from threadpoolctl import threadpool_limits  # heavy: only with the ALS baseline

        counts = baskets.counts().astype(np.float32)
        counts.data = np.log1p(counts.data)
        model = AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.seed,
            num_threads=2,
        )
        with threadpool_limits(1, "blas"):
            model.fit(counts, show_progress=False)
        self.users, self.items = np.asarray(model.user_factors), np.asarray(model.item_factors)
        return self

    def score(self, customers: np.ndarray, now: np.ndarray) -> np.ndarray:
        return self.users[customers] @ self.items.T
