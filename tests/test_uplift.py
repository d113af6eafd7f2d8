"""Uplift targeting (issue 15, part 2): the Qini metric, the learner, pooled priors, the readiness rule, and
``attune backtest uplift`` on synthetic randomised experiments with a known heterogeneous effect."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from app.backtest.uplift import uplift as uplift_command
from app.measurement.qini import qini_auc_score, qini_curve, uplift_at_k
from app.measurement.uplift import UpliftSettings, fit_uplift, readiness
from app.measurement.uplift_features import FeatureEncoder


def experiment(n: int, seed: int = 0, flip: bool = False) -> pd.DataFrame:
    """Shoppers whose response to contact depends on ``engaged``: +15 points when high, −10 when low."""
    rng = np.random.default_rng(seed)
    engaged = rng.normal(size=n)
    spend = rng.lognormal(4.0, 1.0, size=n)
    channel = rng.choice(["web", "phone", "multi"], size=n)
    treated = rng.random(n) < 0.5
    effect = np.where(engaged > 0, 0.15, -0.10) * (-1 if flip else 1)
    p = np.clip(0.2 + 0.05 * (channel == "web") + treated * effect, 0.01, 0.99)
    return pd.DataFrame(
        {
            "engaged": engaged,
            "spend": spend,
            "channel": channel,
            "arm": np.where(treated, "mail", "none"),
            "bought": (rng.random(n) < p).astype(int),
        }
    )


FEATURES = ["engaged", "spend", "channel"]


# --- the metric --------------------------------------------------------------------------------------------


def test_qini_on_a_hand_checked_example():
    # ranked: treated responder, treated non-responder, control responder, control non-responder.
    y, t, u = np.array([1, 0, 1, 0]), np.array([1, 1, 0, 0]), np.array([4.0, 3.0, 2.0, 1.0])
    x, gain = qini_curve(y, u, t)
    assert x.tolist() == [0, 1, 2, 3, 4]
    assert gain.tolist() == [0, 1, 1, -1, 0]
    # model area 1.0; perfect ranking [1, 0, 0, -1] has area 3.0; the random line ends at 0.
    assert qini_auc_score(y, u, t) == pytest.approx(1 / 3)
    assert qini_auc_score(y, -u, t) < 0
    assert uplift_at_k(y, u, t, k=0.75) == pytest.approx(0.5 - 1.0)


def test_qini_matches_scikit_uplift():
    metrics = pytest.importorskip("sklift.metrics")
    rng = np.random.default_rng(3)
    for n in (20, 500, 3000):
        y, t = rng.integers(0, 2, n), rng.integers(0, 2, n)
        u = np.round(rng.normal(size=n) + 0.5 * y * t, 1)  # rounded: ties must move together
        with warnings.catch_warnings():  # scikit-uplift calls a deprecated scikit-learn helper
            warnings.simplefilter("ignore")
            expected = metrics.qini_auc_score(y, u, t)
            expected_k = metrics.uplift_at_k(y, u, t, strategy="overall", k=0.3)
        assert qini_auc_score(y, u, t) == pytest.approx(expected, rel=1e-9)
        assert uplift_at_k(y, u, t, 0.3) == pytest.approx(expected_k, rel=1e-9)


def test_metric_rejects_non_binary_input():
    with pytest.raises(ValueError, match="outcome"):
        qini_auc_score(np.array([0, 2]), np.array([1.0, 0.0]), np.array([1, 0]))


# --- the learner -------------------------------------------------------------------------------------------


def test_learner_recovers_the_sign_and_beats_random():
    train, test = experiment(6000, seed=1), experiment(6000, seed=2)
    model = fit_uplift(train[FEATURES], (train.arm == "mail").to_numpy(), train.bought.to_numpy())
    pred = model.predict(test[FEATURES])
    high, low = test.engaged > 0.5, test.engaged < -0.5
    assert pred[high].mean() > 0.05 and pred[low].mean() < -0.02
    t, y = (test.arm == "mail").to_numpy().astype(int), test.bought.to_numpy()
    ours = qini_auc_score(y, pred, t)
    rng = np.random.default_rng(0)
    random = max(qini_auc_score(y, rng.random(len(y)), t) for _ in range(5))
    assert ours > 0.1 and ours > random + 0.08


def test_pooled_prior_shrinks_a_small_shop_and_lets_a_large_one_go():
    pooled = experiment(8000, seed=4)
    prior = fit_uplift(pooled[FEATURES], (pooled.arm == "mail").to_numpy(), pooled.bought.to_numpy())
    probe = experiment(2000, seed=5)[FEATURES]
    prior_pred = prior.predict(probe)

    # a small shop whose own noisy data say the opposite: the pooled model still dominates
    small = experiment(60, seed=6, flip=True)
    alone = fit_uplift(small[FEATURES], (small.arm == "mail").to_numpy(), small.bought.to_numpy())
    shrunk = fit_uplift(
        small[FEATURES], (small.arm == "mail").to_numpy(), small.bought.to_numpy(), prior=prior
    )
    assert shrunk.pooled and not alone.pooled
    assert np.corrcoef(shrunk.predict(probe), prior_pred)[0, 1] > 0.8
    assert (
        np.abs(shrunk.predict(probe) - prior_pred).mean() < np.abs(alone.predict(probe) - prior_pred).mean()
    )

    # a large shop with the opposite effect: its own evidence wins over the prior
    large = experiment(20000, seed=7, flip=True)
    own = fit_uplift(large[FEATURES], (large.arm == "mail").to_numpy(), large.bought.to_numpy(), prior=prior)
    assert np.corrcoef(own.predict(probe), prior_pred)[0, 1] < -0.5


def test_readiness_rule_needs_both_arms():
    settings = UpliftSettings(min_per_arm=100, min_outcomes_per_arm=10)
    few = readiness(np.r_[np.ones(500), np.zeros(50)], np.r_[np.ones(100), np.zeros(450)], settings)
    assert not few.ready and "50 exposures in the smaller arm" in few.reason
    rare = readiness(
        np.r_[np.ones(300), np.zeros(300)], np.r_[np.ones(20), np.zeros(575), np.ones(5)], settings
    )
    assert not rare.ready and "5 outcomes" in rare.reason
    data = experiment(1000)
    ok = readiness((data.arm == "mail").to_numpy(), data.bought.to_numpy(), settings)
    assert ok.ready and ok.treated + ok.control == 1000


def test_encoder_logs_skewed_money_one_hots_categories_and_names_missing_columns():
    frame = experiment(2000)[FEATURES]
    enc = FeatureEncoder().fit(frame)
    assert enc.logged == ["spend"] and set(enc.levels["channel"]) == {"web", "phone", "multi"}
    x = enc.transform(pd.DataFrame({"engaged": [0.0], "spend": [None], "channel": ["fax"]}))
    assert x.shape == (1, 5) and not np.isnan(x).any() and x[0, 2:].sum() == 0  # unseen level: no column
    with pytest.raises(KeyError, match="channel"):
        enc.transform(frame[["engaged", "spend"]])


def test_learner_rejects_bad_flags():
    data = experiment(100)
    with pytest.raises(ValueError, match="treated"):
        fit_uplift(data[FEATURES], np.full(100, 2), data.bought.to_numpy())


# --- the command -------------------------------------------------------------------------------------------


def _args(path, *extra: str) -> list[str]:
    return [
        "--data", str(path), "--treatment-col", "arm", "--treated", "mail", "--control", "none",
        "--outcome-col", "bought", "--features", ",".join(FEATURES), *extra,
    ]  # fmt: skip


def test_backtest_reports_every_model_with_qini_and_uplift_at_30(tmp_path):
    path = tmp_path / "exp.csv"
    experiment(3000, seed=8).to_csv(path, index=False)
    result = CliRunner().invoke(uplift_command, _args(path, "--splits", "2", "--json"))
    assert result.exit_code == 0, result.output
    res = json.loads(result.stdout)
    assert res["rows"] == 3000 and res["splits"] == 2
    assert len(res["models"]) == 7 and "random" in res["models"]
    ours = res["models"]["attune: regularised S-learner"]
    assert len(ours["qini"]["splits"]) == 2 and ours["qini"]["mean"] > res["models"]["random"]["qini"]["mean"]
    assert ours["uplift_at_30"]["mean"] > 0.05


def test_score_writes_row_and_uplift_for_every_row_in_file_order(tmp_path):
    data, score, out = tmp_path / "exp.csv", tmp_path / "score.csv", tmp_path / "pred.csv"
    experiment(3000, seed=9).to_csv(data, index=False)
    probe = pd.DataFrame({"engaged": [2.0, -2.0, 2.0], "spend": [50.0, 50.0, 50.0], "channel": ["web"] * 3})
    probe.to_csv(score, index=False)
    result = CliRunner().invoke(
        uplift_command, _args(data, "--score", str(score), "--predictions-out", str(out))
    )
    assert result.exit_code == 0, result.output
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["row", "uplift"] and [r[0] for r in rows[1:]] == ["0", "1", "2"]
    values = [float(r[1]) for r in rows[1:]]
    assert values[0] > 0 > values[1] and values[0] == pytest.approx(values[2])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--outcome-col", "nope"], "no column 'nope'"),
        (["--features", "engaged,ghost"], "no column 'ghost'"),
        (["--treated", "sms"], "--treated 'sms' is not a value of 'arm'"),
        (["--control", "mail"], "must differ"),
        (["--outcome-col", "engaged"], "must be binary"),
    ],
)
def test_bad_input_gives_a_clear_error(tmp_path, change, message):
    path = tmp_path / "exp.csv"
    experiment(200).to_csv(path, index=False)
    args = _args(path)
    for i in range(0, len(change), 2):
        args[args.index(change[i]) + 1] = change[i + 1]
    result = CliRunner().invoke(uplift_command, args)
    assert result.exit_code != 0 and message in result.output, result.output


def test_score_file_missing_a_feature_is_an_error(tmp_path):
    data, score = tmp_path / "exp.csv", tmp_path / "score.csv"
    experiment(500).to_csv(data, index=False)
    pd.DataFrame({"engaged": [1.0]}).to_csv(score, index=False)
    result = CliRunner().invoke(
        uplift_command, _args(data, "--score", str(score), "--predictions-out", str(tmp_path / "o.csv"))
    )
    assert result.exit_code != 0 and "no feature column 'spend'" in result.output
