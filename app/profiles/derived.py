"""The derived section: scores from ``app.modelling`` (helper modules), each with its top signals.

Each scoring module that is present and exposes ``from_profile(profile: dict, now: datetime)`` returning an
``app.modelling.explain.Explanation`` (or None when it has too little data) contributes one entry:
``{"value", "summary", "signals": [...]}``. Modules not written yet are skipped, so profiles work from
day one and gain scores as the models land. RFM's value is its segment name.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

# derived key -> module providing from_profile()
SCORERS: tuple[tuple[str, str], ...] = (
    ("intent", "app.modelling.intent"),
    ("clv", "app.modelling.clv"),
    ("churn_risk", "app.modelling.churn"),
    ("price_sensitivity", "app.modelling.price_sensitivity"),
    ("affinity", "app.modelling.affinity"),
    ("rfm", "app.modelling.rfm"),
)


def _scorer(module_name: str) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    return getattr(module, "from_profile", None)


def derive(profile: dict[str, Any], now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, module_name in SCORERS:
        scorer = _scorer(module_name)
        if scorer is None:
            continue
        explanation = scorer(profile, now)
        if explanation is None:
            continue
        entry = explanation.as_dict()
        entry.pop("score", None)
        if key == "rfm":
            entry["segment"] = entry["value"]
        out[key] = entry
    out["computed_at"] = now.isoformat()
    return out
