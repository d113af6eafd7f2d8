"""Intent backtest on UCI Online Shoppers Intention: stratified 5-fold, ours vs LR and gradient boosting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.modelling.intent import VISITOR_TYPES, GlobalIntentModel, IntentModel, SessionFeatures

MONTHS = {"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "June": 6, "Jun": 6, "Jul": 7, "Aug": 8}
MONTHS |= {"Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}
VISITOR = {"Returning_Visitor": "returning", "New_Visitor": "new", "Other": "other"}
CSV = "online_shoppers_intention/online_shoppers_intention.csv"


def _true(col: pd.Series) -> np.ndarray:
    return col.astype(str).str.upper().eq("TRUE").to_numpy()


def load_sessions(data: Path) -> tuple[list[SessionFeatures], np.ndarray]:
    """UCI session aggregates mapped onto the features a pixel stream yields."""
    df = pd.read_csv(data / CSV)
    sessions = [
        SessionFeatures(
            account_pages=r.Administrative,
            account_seconds=r.Administrative_Duration,
            info_pages=r.Informational,
            info_seconds=r.Informational_Duration,
            product_pages=r.ProductRelated,
            product_seconds=r.ProductRelated_Duration,
            bounce_rate=r.BounceRates,
            exit_rate=r.ExitRates,
            page_value=r.PageValues,
            special_day=r.SpecialDay,
            month=MONTHS[r.Month],
            visitor_type=VISITOR.get(r.VisitorType, "other"),
            weekend=bool(w),
            os=int(r.OperatingSystems),
            browser=int(r.Browser),
            region=int(r.Region),
            traffic_source=int(r.TrafficType),
        )
        for r, w in zip(df.itertuples(index=False), _true(df.Weekend), strict=True)
    ]
    return sessions, _true(df.Revenue).astype(int)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Equal-width-bin ECE: sum over bins of (bin share) × |mean predicted − observed rate|."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(total)


def _table(sessions: list[SessionFeatures]) -> np.ndarray:
    return np.asarray(
        [
            [
                s.account_pages,
                s.account_seconds,
                s.info_pages,
                s.info_seconds,
                s.product_pages,
                s.product_seconds,
                s.bounce_rate,
                s.exit_rate,
                s.page_value,
                s.special_day,
                s.month,
                VISITOR_TYPES.index(s.visitor_type),
                s.weekend,
                s.os,
                s.browser,
                s.region,
                s.traffic_source,
            ]
            for s in sessions
        ],
        dtype=float,
    )


def _lr_design(t: np.ndarray) -> np.ndarray:
    months = (t[:, 10:11] == np.arange(1, 13)).astype(float)
    visitor = (t[:, 11:12] == np.arange(3)).astype(float)
    return np.column_stack([np.log1p(t[:, :10]), months, visitor, t[:, 12]])


Fitter = Callable[[list[SessionFeatures], np.ndarray, list[SessionFeatures]], np.ndarray]


def _logistic(train: list[SessionFeatures], y: np.ndarray, test: list[SessionFeatures]) -> np.ndarray:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(_lr_design(_table(train)), y)
    return model.predict_proba(_lr_design(_table(test)))[:, 1]


def _gradient_boosting(
    train: list[SessionFeatures], y: np.ndarray, test: list[SessionFeatures]
) -> np.ndarray:
    model = HistGradientBoostingClassifier(random_state=0).fit(_table(train), y)
    return model.predict_proba(_table(test))[:, 1]


def _ours(train: list[SessionFeatures], y: np.ndarray, test: list[SessionFeatures]) -> np.ndarray:
    return IntentModel(GlobalIntentModel.fit(train, y)).predict_proba(test)


MODELS: dict[str, Fitter] = {
    "logistic_regression": _logistic,
    "gradient_boosting": _gradient_boosting,
    "attune_intent": _ours,
}


def evaluate(data: Path, progress: Callable[[str], None] = lambda _: None, folds: int = 5) -> dict:
    sessions, y = load_sessions(data)
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(y)), y))
    results = {}
    for name, fit in MODELS.items():
        pred = np.zeros(len(y))
        for k, (tr, te) in enumerate(splits):
            progress(f"intent {name} fold {k + 1}/{folds}")
            pred[te] = fit([sessions[i] for i in tr], y[tr], [sessions[i] for i in te])
        results[name] = {
            "roc_auc": round(float(roc_auc_score(y, pred)), 4),
            "pr_auc": round(float(average_precision_score(y, pred)), 4),
            "ece": round(expected_calibration_error(y, pred), 4),
        }
    return {
        "dataset": CSV,
        "sessions": len(y),
        "positive_rate": round(float(y.mean()), 4),
        "protocol": f"stratified {folds}-fold (shuffle, seed 0), out-of-fold predictions pooled",
        "models": results,
    }


def build_global_artifact(data: Path, path: Path | None = None) -> Path:
    """Train the shipped day-one intent prior on all UCI sessions and write it next to ``app/modelling/intent.py``."""
    from app.modelling.intent import ARTIFACT

    sessions, y = load_sessions(data)
    target = path or ARTIFACT
    GlobalIntentModel.fit(sessions, y).save(target)
    return target
