"""Profile-like columns → a numeric design matrix for the uplift learners.

Plain data in, plain data out: a ``pandas.DataFrame`` whose columns are numbers, flags or categories. The
encoding is learned on the training rows and applied unchanged to the rows being scored:

- numeric columns: non-negative, right-skewed ones (money, counts) are ``log1p``-scaled, then every numeric
  column is standardised; missing values become the training median;
- other columns are categories, one-hot over their ``max_levels`` most frequent training values (rarer and
  unseen values share no column).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SKEW_FOR_LOG = 2.0


@dataclass
class FeatureEncoder:
    """A learned mapping from a frame of profile columns to a standardised float matrix."""

    max_levels: int = 20
    numeric: list[str] = field(default_factory=list)
    logged: list[str] = field(default_factory=list)
    medians: dict[str, float] = field(default_factory=dict)
    means: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scales: np.ndarray = field(default_factory=lambda: np.ones(0))
    levels: dict[str, list[str]] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        """Learn the encoding from the training rows; returns ``self``."""
        self.numeric, self.logged, self.levels, self.medians = [], [], {}, {}
        for col in frame.columns:
            values = frame[col]
            if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
                num = values.astype(float)
                self.numeric.append(col)
                self.medians[col] = float(num.median()) if num.notna().any() else 0.0
                if num.min() >= 0 and num.nunique() > 2 and float(num.skew()) > SKEW_FOR_LOG:
                    self.logged.append(col)
            else:
                counts = values.astype(str).value_counts()
                self.levels[col] = [str(v) for v in counts.index[: self.max_levels]]
        raw = self._numeric(frame)
        self.means = raw.mean(axis=0) if len(raw) else np.zeros(raw.shape[1])
        sd = raw.std(axis=0) if len(raw) else np.ones(raw.shape[1])
        self.scales = np.where(sd > 0, sd, 1.0)
        self.names = [*self.numeric] + [f"{c}={v}" for c, vs in self.levels.items() for v in vs]
        return self

    def _numeric(self, frame: pd.DataFrame) -> np.ndarray:
        cols = []
        for col in self.numeric:
            num = frame[col].astype(float).fillna(self.medians[col]).to_numpy()
            cols.append(np.log1p(np.maximum(num, 0.0)) if col in self.logged else num)
        return np.column_stack(cols) if cols else np.zeros((len(frame), 0))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The design matrix of ``frame`` (same columns as at fit time)."""
        missing = [c for c in [*self.numeric, *self.levels] if c not in frame.columns]
        if missing:
            raise KeyError(f"missing feature columns: {', '.join(missing)}")
        parts = [(self._numeric(frame) - self.means) / self.scales]
        for col, values in self.levels.items():
            text = frame[col].astype(str).to_numpy()
            parts.append((text[:, None] == np.asarray(values, dtype=object)[None, :]).astype(float))
        return np.column_stack(parts) if parts else np.zeros((len(frame), 0))

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        """``fit`` then ``transform`` on the same rows."""
        return self.fit(frame).transform(frame)
