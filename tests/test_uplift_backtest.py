"""Issue 15's uplift target on the full Hillstrom e-mail test (needs ../shared; make test-backtests): Attune's
learner's normalised Qini, averaged over 10 random 50/50 splits, at least 1.1x the best same-run baseline."""

import os

import pytest

from app.backtest.uplift import OURS, evaluate, load_experiment
from tests.conftest import DATA

CSV = DATA / "hillstrom_email" / "hillstrom_womens_vs_control.csv"
FEATURES = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"]


@pytest.mark.slow
@pytest.mark.backtest
@pytest.mark.skipif(
    os.environ.get("ATTUNE_TEST_DATABASE") == "postgresql",
    reason="no database involved: runs once, in the SQLite pass",
)
@pytest.mark.parametrize(
    "outcome",
    [
        pytest.param(
            "visit",
            marks=pytest.mark.xfail(
                strict=True,
                reason="target not met: measured 1.007x the best baseline (0.0718 vs 0.0713; benchmarks/uplift.md)",
            ),
        ),
        "conversion",
    ],
)
def test_uplift_beats_the_best_baseline_by_ten_percent(outcome):
    if not CSV.exists():
        pytest.skip(f"{CSV} not present (../shared is optional)")
    exp = load_experiment(CSV, "segment", "Womens E-Mail", "No E-Mail", outcome, FEATURES)
    res = evaluate(exp, splits=10, show_progress=False)
    assert res["rows"] == 32040
    qini = {name: m["qini"]["mean"] for name, m in res["models"].items()}
    assert qini[OURS] > qini[res["best_baseline"]], qini
    assert res["ratio_to_best_baseline"] >= 1.1, qini
