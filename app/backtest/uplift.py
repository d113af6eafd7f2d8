"""``attune backtest uplift``: Attune's uplift learner against the usual baselines on a randomised experiment.

Any CSV with one row per randomised unit, a treatment column and a binary outcome. Rows whose treatment is
neither ``--treated`` nor ``--control`` are left out (a third arm, say).

- Without ``--score``: ``--splits`` random 50/50 train/test splits (seeds 0…N−1, stratified by arm × outcome);
  every model is fitted on the train half and ranks the test half. Reported per model, mean ± sd over the
  splits: normalised Qini (scikit-uplift's ``qini_auc_score``) and uplift at the top 30 %.
- With ``--score CSV --predictions-out FILE``: fit Attune's learner on all of ``--data`` and write
  ``row,uplift`` for each row of ``--score`` (0-based, file order).
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from app.backtest.uplift_baselines import BASELINES
from app.measurement.qini import qini_auc_score, uplift_at_k
from app.measurement.uplift import fit_uplift
from app.measurement.uplift_features import FeatureEncoder

OURS = "attune: regularised S-learner"
TOP_K = 0.3
TRUE = {"1", "true", "yes", "1.0"}
FALSE = {"0", "false", "no", "0.0"}


@dataclass(frozen=True)
class Experiment:
    """A randomised experiment's rows: features, the arm (1 treated, 0 control) and a 0/1 outcome."""

    features: pd.DataFrame
    treated: np.ndarray
    outcome: np.ndarray


def _binary(series: pd.Series, column: str) -> np.ndarray:
    text = series.astype(str).str.strip().str.lower()
    bad = sorted(set(text) - TRUE - FALSE)
    if bad:
        raise click.ClickException(f"outcome column {column!r} must be binary (0/1); found {bad[:5]}")
    return text.isin(TRUE).to_numpy().astype(int)


def load_experiment(
    path: Path, treatment_col: str, treated: str, control: str, outcome_col: str, features: list[str] | None
) -> Experiment:
    """Read and check the CSV; a clear ``ClickException`` for every unusable input."""
    try:
        frame = pd.read_csv(path, dtype={treatment_col: str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    missing = [c for c in [treatment_col, outcome_col, *(features or [])] if c not in frame.columns]
    if missing:
        raise click.ClickException(
            f"{path}: no column {', '.join(map(repr, missing))} (has {list(frame.columns)})"
        )
    arms = frame[treatment_col].astype(str).str.strip()
    present = sorted(arms.unique())
    for flag, value in (("--treated", treated), ("--control", control)):
        if value not in present:
            raise click.ClickException(
                f"{flag} {value!r} is not a value of {treatment_col!r} (values: {present})"
            )
    if treated == control:
        raise click.ClickException("--treated and --control must differ")
    keep = arms.isin([treated, control]).to_numpy()
    frame, arms = frame[keep].reset_index(drop=True), arms[keep].reset_index(drop=True)
    names = features or [c for c in frame.columns if c not in (treatment_col, outcome_col)]
    if not names:
        raise click.ClickException("no feature columns: pass --features a,b,c")
    return Experiment(
        features=frame[names],
        treated=(arms == treated).to_numpy().astype(int),
        outcome=_binary(frame[outcome_col], outcome_col),
    )


def evaluate(exp: Experiment, splits: int, show_progress: bool = True) -> dict:
    """Every model on ``splits`` random 50/50 splits: normalised Qini and uplift at the top 30 %."""
    names = [OURS, *BASELINES]
    scores: dict[str, dict[str, list[float]]] = {n: {"qini": [], "uplift_at_30": []} for n in names}
    strata = exp.treated * 2 + exp.outcome
    rows = np.arange(len(exp.outcome))
    bar = tqdm(total=splits * len(names), file=sys.stderr, disable=not show_progress, desc="uplift splits")
    for seed in range(splits):
        train, test = train_test_split(rows, test_size=0.5, random_state=seed, stratify=strata)
        f_train, f_test = exp.features.iloc[train], exp.features.iloc[test]
        t, y = exp.treated[train], exp.outcome[train]
        encoder = FeatureEncoder().fit(f_train)
        x_train, x_test = encoder.transform(f_train), encoder.transform(f_test)
        for name in names:
            bar.set_postfix_str(f"split {seed + 1}/{splits}: {name[:30]}")
            if name == OURS:
                pred = fit_uplift(f_train, t, y).predict(f_test)
            else:
                pred = BASELINES[name](x_train, t, y, x_test, seed)
            y_test, t_test = exp.outcome[test], exp.treated[test]
            scores[name]["qini"].append(qini_auc_score(y_test, pred, t_test))
            scores[name]["uplift_at_30"].append(uplift_at_k(y_test, pred, t_test, TOP_K))
            bar.update()
    bar.close()
    models = {
        name: {
            metric: {"mean": float(np.mean(v)), "sd": float(np.std(v)), "splits": [round(x, 5) for x in v]}
            for metric, v in per.items()
        }
        for name, per in scores.items()
    }
    best = max(BASELINES, key=lambda n: models[n]["qini"]["mean"])
    best_qini = models[best]["qini"]["mean"]
    ratio = models[OURS]["qini"]["mean"] / best_qini if best_qini > 0 else float("nan")
    return {
        "rows": len(rows),
        "treated": int(exp.treated.sum()),
        "control": int(len(rows) - exp.treated.sum()),
        "outcome_rate": {
            "treated": float(exp.outcome[exp.treated == 1].mean()),
            "control": float(exp.outcome[exp.treated == 0].mean()),
        },
        "features": list(exp.features.columns),
        "splits": splits,
        "models": models,
        "best_baseline": best,
        "ratio_to_best_baseline": ratio,
    }


def score_file(exp: Experiment, score_path: Path, out_path: Path) -> int:
    """Fit on all of ``exp`` and write ``row,uplift`` for each row of ``score_path``; returns the row count."""
    try:
        frame = pd.read_csv(score_path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise click.ClickException(f"cannot read {score_path}: {exc}") from exc
    missing = [c for c in exp.features.columns if c not in frame.columns]
    if missing:
        raise click.ClickException(f"{score_path}: no feature column {', '.join(map(repr, missing))}")
    uplift = fit_uplift(exp.features, exp.treated, exp.outcome).predict(frame[list(exp.features.columns)])
    with out_path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "uplift"])
        writer.writerows((i, f"{u:.8g}") for i, u in enumerate(uplift))
    return len(uplift)


def _print_table(res: dict) -> None:
    click.echo(
        f"{res['rows']} rows ({res['treated']} treated, {res['control']} control), {res['splits']} splits; "
        f"features: {', '.join(res['features'])}"
    )
    click.echo(f"{'model':<50} {'normalised Qini':>18} {'uplift@30%':>18}")
    for name, m in res["models"].items():
        q, u = m["qini"], m["uplift_at_30"]
        click.echo(f"{name:<50} {q['mean']:>9.4f} ± {q['sd']:.4f} {u['mean']:>9.4f} ± {u['sd']:.4f}")
    click.echo(f"ours / best baseline ({res['best_baseline']}): {res['ratio_to_best_baseline']:.3f}×")


@click.command("uplift")
@click.option(
    "--data", "data", type=click.Path(path_type=Path), required=True, help="Randomised-experiment CSV."
)
@click.option("--treatment-col", required=True, help="Column holding the arm.")
@click.option("--treated", required=True, help="Value of the treatment column for the treated arm.")
@click.option("--control", required=True, help="Value of the treatment column for the control arm.")
@click.option("--outcome-col", required=True, help="Binary (0/1) outcome column.")
@click.option(
    "--features", default=None, help="Comma-separated feature columns (default: every other column)."
)
@click.option("--score", "score", type=click.Path(path_type=Path), default=None, help="CSV of rows to score.")
@click.option(
    "--predictions-out", type=click.Path(path_type=Path), default=None, help="Where --score writes."
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--splits", type=click.IntRange(min=1), default=10, show_default=True, help="Random 50/50 splits."
)
def uplift(
    data: Path,
    treatment_col: str,
    treated: str,
    control: str,
    outcome_col: str,
    features: str | None,
    score: Path | None,
    predictions_out: Path | None,
    as_json: bool,
    splits: int,
) -> None:
    """Uplift targeting: Attune's learner vs baselines (normalised Qini, uplift@30%), or score a file."""
    if not data.exists():
        raise click.ClickException(f"{data} not found")
    if (score is None) != (predictions_out is None):
        raise click.ClickException("--score and --predictions-out go together")
    if score is not None and not score.exists():
        raise click.ClickException(f"{score} not found")
    names = [f.strip() for f in features.split(",") if f.strip()] if features else None
    exp = load_experiment(data, treatment_col, treated.strip(), control.strip(), outcome_col, names)
    if score is not None and predictions_out is not None:
        n = score_file(exp, score, predictions_out)
        summary = {
            "scored_rows": n,
            "predictions_out": str(predictions_out),
            "trained_rows": len(exp.outcome),
        }
        click.echo(json.dumps(summary) if as_json else f"wrote {n} rows to {predictions_out}")
        return
    results = evaluate(exp, splits)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        _print_table(results)
