"""Calibration of the in-session risk model (``app.modelling.hesitation.risk``) on UCI Online Shoppers Intention:
P(abandon | the session so far) = 1 − purchase, for the global layer and with the per-shop layer, against
baselines fitted in the same run.

The public data carries none of the embed's hesitation signals; its one close proxy, views of information pages
(``Informational``: shipping, returns, about), is mapped onto the repeated-information-views feature, the rest
are zero. The intent prior is the shipped intent model's (``GlobalIntentModel``), fitted out of fold so no session
scores itself. Protocol: stratified 5-fold (seed 0); in each test fold, half the sessions (a stable hash) are the
shop's own history, on which ``ShopRiskLayer.fit`` learns, and the other half are scored; every number is on
the scored halves, pooled. A second scenario is a shop whose traffic differs from the prior's: the intent prior
is fitted on every month but November, and the shop is November (its own conversion rate, 25 % against 15 %).

Issue 16 asks for a calibrated risk and names no number; the target used is the intent model's (issue 2):
expected calibration error ≤ 0.02 (10 equal-width bins), with the ranking (ROC AUC) within 0.01 of a
logistic regression fitted on the same sessions in the same run.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.backtest.profiles_intent import CSV, _lr_design, _table, expected_calibration_error, load_sessions
from app.modelling.hesitation import Hesitation, ShopRiskLayer, risk
from app.modelling.intent import GlobalIntentModel, IntentModel, SessionFeatures

TARGET_ECE = 0.02
TARGET_AUC_GAP = 0.01
NOVEMBER = 11


def hesitation_of(s: SessionFeatures) -> Hesitation:
    """The one hesitation signal the public data has a proxy for: information pages viewed."""
    return Hesitation(shipping_views=float(min(s.info_pages, 20)))


def _history(n: int) -> np.ndarray:
    """A stable half of the sessions: the shop's own history (True) or scored (False)."""
    return np.array([zlib.crc32(f"risk:{i}".encode()) % 2 == 0 for i in range(n)])


def _risks(intents: np.ndarray, hes: list[Hesitation], layer: ShopRiskLayer | None) -> np.ndarray:
    return np.array([risk(float(p), h, layer).probability for p, h in zip(intents, hes, strict=True)])


def _metrics(y_abandon: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "ece": round(expected_calibration_error(y_abandon, p), 4),
        "roc_auc": round(float(roc_auc_score(y_abandon, p)), 4),
        "mean_predicted": round(float(p.mean()), 4),
        "observed": round(float(y_abandon.mean()), 4),
    }


def _logistic(train: list[SessionFeatures], y: np.ndarray, test: list[SessionFeatures]) -> np.ndarray:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(_lr_design(_table(train)), y)
    return model.predict_proba(_lr_design(_table(test)))[:, 1]


def _score(
    sessions: list[SessionFeatures], abandon: np.ndarray, intents: np.ndarray, idx: np.ndarray
) -> dict[str, np.ndarray]:
    """For the sessions ``idx`` (one shop): fit the shop layer on its history half, score the other half."""
    hist = _history(len(sessions))[idx]
    hes = [hesitation_of(sessions[i]) for i in idx]
    fit_on, scored = idx[hist], idx[~hist]
    layer = ShopRiskLayer.fit(
        [float(intents[i]) for i in fit_on], [hes[k] for k in np.flatnonzero(hist)], abandon[fit_on].tolist()
    )
    scored_hes = [hes[k] for k in np.flatnonzero(~hist)]
    return {
        "index": scored,
        "global_layer": _risks(intents[scored], scored_hes, None),
        "with_shop_layer": _risks(intents[scored], scored_hes, layer),
        "intent_only": 1.0 - intents[scored],
        "shop_base_rate": np.full(len(scored), abandon[fit_on].mean()),
        "layer_sessions": np.array([len(fit_on)]),
    }


def evaluate(data: Path, progress: Callable[[str], None] = lambda _: None, folds: int = 5) -> dict:
    sessions, bought = load_sessions(data)
    abandon = 1 - bought
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(bought)), bought))
    intents = np.zeros(len(bought))
    lr = np.zeros(len(bought))
    for k, (tr, te) in enumerate(splits):
        progress(f"risk: intent prior and baseline, fold {k + 1}/{folds}")
        train, test = [sessions[i] for i in tr], [sessions[i] for i in te]
        intents[te] = IntentModel(GlobalIntentModel.fit(train, bought[tr])).predict_proba(test)
        lr[te] = _logistic(train, abandon[tr], test)
    parts = [_score(sessions, abandon, intents, te) for _, te in splits]
    idx = np.concatenate([p["index"] for p in parts])
    names = ("global_layer", "with_shop_layer", "intent_only", "shop_base_rate")
    pooled = {n: _metrics(abandon[idx], np.concatenate([p[n] for p in parts])) for n in names}
    pooled["logistic_regression"] = _metrics(abandon[idx], lr[idx])

    progress("risk: a shop unlike the prior (November)")
    months = np.array([s.month for s in sessions])
    rest, nov = np.flatnonzero(months != NOVEMBER), np.flatnonzero(months == NOVEMBER)
    shifted = np.zeros(len(bought))
    shifted[nov] = IntentModel(
        GlobalIntentModel.fit([sessions[i] for i in rest], bought[rest])
    ).predict_proba([sessions[i] for i in nov])
    shop = _score(sessions, abandon, shifted, nov)
    november = {n: _metrics(abandon[shop["index"]], shop[n]) for n in names}
    nov_lr = _logistic([sessions[i] for i in rest], abandon[rest], [sessions[i] for i in shop["index"]])
    november["logistic_regression"] = _metrics(abandon[shop["index"]], nov_lr)

    ours = pooled["with_shop_layer"]
    return {
        "dataset": CSV,
        "sessions": len(bought),
        "scored_sessions": int(len(idx)),
        "abandon_rate": round(float(abandon.mean()), 4),
        "protocol": (
            f"stratified {folds}-fold (seed 0), intent prior out of fold; per fold the shop layer is fitted on "
            "a stable half (crc32) and the other half is scored; pooled"
        ),
        "targets": {"ece_max": TARGET_ECE, "auc_gap_to_logistic_max": TARGET_AUC_GAP},
        "models": pooled,
        "november_shop": {
            "sessions": int(len(nov)),
            "protocol": "intent prior fitted on the other months; shop layer on half of November, scored on the rest",
            "models": november,
        },
        "meets_targets": bool(
            ours["ece"] <= TARGET_ECE
            and ours["roc_auc"] >= pooled["logistic_regression"]["roc_auc"] - TARGET_AUC_GAP
        ),
    }


@click.command("risk")
@click.option("--data", "folder", type=click.Path(file_okay=False, path_type=Path), default=Path("../shared/data"),
              show_default=True, help="The shared data folder (online_shoppers_intention/ inside).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def risk_command(folder: Path, as_json: bool) -> None:
    """Calibration of the in-session abandonment risk (ECE, ROC AUC) against same-run baselines."""
    if not (folder / CSV).is_file():
        raise click.ClickException(f"{folder / CSV} is missing: see ../shared/data/README.md")
    result = evaluate(folder, progress=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for scenario, models in (("pooled", result["models"]), ("november", result["november_shop"]["models"])):
        for name, m in models.items():
            click.echo(f"{scenario:9} {name:20} ECE {m['ece']:.4f}  AUC {m['roc_auc']:.4f}")
    click.echo(f"meets targets: {result['meets_targets']}")
