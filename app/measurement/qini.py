"""Uplift ranking quality: the Qini curve, normalised Qini and uplift at the top k.

Definitions follow scikit-uplift (``sklift.metrics``) so figures compare with published ones:

- the **Qini curve** at the n best-ranked rows is ``Y_t(n) − Y_c(n) · N_t(n) / N_c(n)`` (treated outcomes minus
  control outcomes scaled to the treated count), evaluated where the score changes (ties move together);
- **normalised Qini** (``qini_auc_score``, negative effects allowed) is the area between that curve and the
  straight line to its end, over the same area for the perfect ranking (treated responders first, control
  responders last);
- **uplift at k** ("overall"): treated minus control outcome rate among the top ``k`` share of all rows.
"""

from __future__ import annotations

import numpy as np


def _as_binary(name: str, values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must be 0/1")
    return arr.astype(np.float64)


def qini_curve(outcome: np.ndarray, uplift: np.ndarray, treated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (rows targeted, incremental outcomes) of the Qini curve, starting at (0, 0)."""
    y = _as_binary("outcome", outcome)
    t = _as_binary("treated", treated)
    u = np.asarray(uplift, dtype=np.float64)
    if not len(y) == len(t) == len(u):
        raise ValueError("outcome, uplift and treated must have the same length")
    order = np.argsort(u, kind="mergesort")[::-1]
    y, t, u = y[order], t[order], u[order]
    ends = np.r_[np.flatnonzero(np.diff(u)), len(u) - 1]
    n_all = (ends + 1).astype(np.float64)
    n_t = np.cumsum(t)[ends]
    n_c = n_all - n_t
    y_t = np.cumsum(y * t)[ends]
    y_c = np.cumsum(y * (1 - t))[ends]
    scale = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    gain = y_t - y_c * scale
    return np.r_[0.0, n_all], np.r_[0.0, gain]


def qini_auc_score(outcome: np.ndarray, uplift: np.ndarray, treated: np.ndarray) -> float:
    """Normalised Qini: (model area − random area) / (perfect area − random area)."""
    y = _as_binary("outcome", outcome)
    t = _as_binary("treated", treated)
    x, gain = qini_curve(y, uplift, t)
    px, pgain = qini_curve(y, y * t - y * (1 - t), t)
    random_area = px[-1] * pgain[-1] / 2.0
    perfect = np.trapezoid(pgain, px) - random_area
    if perfect == 0:
        return 0.0
    return float((np.trapezoid(gain, x) - random_area) / perfect)


def uplift_at_k(outcome: np.ndarray, uplift: np.ndarray, treated: np.ndarray, k: float = 0.3) -> float:
    """Treated minus control outcome rate among the top ``k`` share of rows by predicted uplift."""
    if not 0 < k < 1:
        raise ValueError("k must be in (0, 1)")
    y = _as_binary("outcome", outcome)
    t = _as_binary("treated", treated)
    order = np.argsort(np.asarray(uplift, dtype=np.float64), kind="mergesort")[::-1][: int(len(y) * k)]
    top_y, top_t = y[order], t[order]
    if not top_t.any() or top_t.all():
        return float("nan")
    return float(top_y[top_t == 1].mean() - top_y[top_t == 0].mean())
