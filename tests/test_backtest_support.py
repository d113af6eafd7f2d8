"""``attune backtest support`` (issue 18's protocol): metrics by hand, the command on the shipped ePQA sample
(hashing embedder: fast), bad input, and on the full ePQA file (../shared; make test-backtests) the targets."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from app.backtest.support import SAMPLE, load, split_of
from app.backtest.support_metrics import Question, evaluate, pick_threshold
from app.cli import main
from tests.conftest import DATA

EPQA = DATA / "epqa" / "epqa_dev.csv"


def q(labels, scores, qid="q"):
    return Question(qid, np.array(labels), np.array(scores, dtype=float))


def test_metrics_by_hand():
    questions = [
        q([0, 2, 1], [0.9, 0.8, 0.1], "a"),  # top is wrong; first fully answering at rank 2
        q([2, 0, 0], [0.7, 0.7, 0.2], "b"),  # a tie goes to the earlier candidate: right
        q([1, 0, 0], [0.3, 0.2, 0.1], "c"),  # helpful only; no fully answering candidate (0 in MRR)
        q([0, 0, 2], [0.1, 0.2, 0.6], "d"),
    ]
    m = evaluate(questions, threshold=0.65)
    assert m["p_at_1"] == 0.5 and m["p_at_1_helpful"] == 0.75
    assert m["mrr"] == pytest.approx((0.5 + 1 + 0 + 1) / 4)
    # confidences 0.9 (wrong), 0.7 (right), 0.6 (right), 0.3 (wrong): top 30 % = 1 question, 50 % = 2
    assert m["precision_at_30"] == 0.0 and m["precision_at_50"] == 0.5
    assert m["coverage_at_threshold"] == 0.5 and m["precision_at_threshold"] == 0.5


def test_the_threshold_is_the_lowest_confidence_that_keeps_the_target_precision():
    confidence = np.linspace(1.0, 0.01, 100)
    correct = np.array([1] * 60 + [0, 1] * 20)  # 60 right, then every other one
    threshold = pick_threshold(confidence, correct, target=0.75, coverage=0.5)
    answered = correct[confidence >= threshold]
    assert answered.mean() >= 0.75 and len(answered) > 60
    assert correct[confidence >= threshold - 0.02].mean() < 0.75 or threshold <= 0.02


def test_the_threshold_never_answers_less_than_the_coverage_point():
    confidence = np.linspace(1.0, 0.01, 100)
    correct = np.array([1, 0] * 50)  # right half of the time: the precision target is out of reach
    threshold = pick_threshold(confidence, correct, target=0.75, coverage=0.5)
    assert (confidence >= threshold).sum() == 50


def test_loading_shuffles_each_questions_candidates_and_splits_by_qid(tmp_path):
    df = load(SAMPLE, seed=0)
    again = load(SAMPLE, seed=0)
    other = load(SAMPLE, seed=1)
    assert df["qa_pair_id"].tolist() == again["qa_pair_id"].tolist()
    assert df["qa_pair_id"].tolist() != other["qa_pair_id"].tolist()
    assert sorted(df["qa_pair_id"]) == sorted(other["qa_pair_id"])
    assert list(dict.fromkeys(df["qid"])) == list(dict.fromkeys(other["qid"]))  # questions stay in order
    assert set(df["split"]) == {"calibration", "report"}
    assert all(split_of(x) == s for x, s in zip(df["qid"], df["split"], strict=True))


def test_the_command_on_the_shipped_sample(tmp_path):
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "support",
            "--data",
            str(SAMPLE),
            "--embedder",
            "hashing",
            "--split",
            "all",
            "--json",
            "--predictions-out",
            str(out),
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["methods"]) == {"ours", "minilm", "bm25", "random"}
    assert report["questions"] == 35 and report["candidates"] == 350
    for m in report["methods"].values():
        assert 0.0 <= m["p_at_1"] <= m["p_at_1_helpful"] <= 1.0 and m["questions"] == 35
    assert set(report["targets"]) == {"p_at_1", "precision_at_50"}
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 350 and list(rows[0]) == ["qid", "qa_pair_id", "score", "answer"]
    by_q: dict[str, list[dict]] = {}
    for r in rows:
        by_q.setdefault(r["qid"], []).append(r)
    answered = 0
    for group in by_q.values():
        picks = [r for r in group if r["answer"] == "1"]
        assert len(picks) <= 1
        if picks:
            answered += 1
            assert float(picks[0]["score"]) == max(float(r["score"]) for r in group)
            assert float(picks[0]["score"]) >= report["threshold"]
        else:
            assert max(float(r["score"]) for r in group) < report["threshold"]
    assert answered / len(by_q) == pytest.approx(report["methods"]["ours"]["coverage_at_threshold"])


def test_bad_files_are_usage_errors(tmp_path):
    missing = tmp_path / "missing.csv"
    missing.write_text("qid,question,candidate\n1,q,c\n")
    result = CliRunner().invoke(
        main, ["backtest", "support", "--data", str(missing), "--embedder", "hashing"]
    )
    assert result.exit_code == 2 and "qa_pair_id" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("qid,question,candidate,qa_pair_id,source,label\n1,q,c,1,cqa,7\n")
    result = CliRunner().invoke(main, ["backtest", "support", "--data", str(bad), "--embedder", "hashing"])
    assert result.exit_code == 2 and "label" in result.output
    result = CliRunner().invoke(main, ["backtest", "support", "--data", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "not found" in result.output


@pytest.fixture(scope="module")
def epqa_report():
    if not EPQA.exists():
        pytest.skip(f"{EPQA} not present (../shared is optional)")
    from app.backtest.support import run
    from app.embedding import get_embedder

    report, _, _ = run(load(EPQA), get_embedder("minilm"), split="report")
    return report


@pytest.mark.slow
@pytest.mark.backtest
@pytest.mark.skipif(os.environ.get("ATTUNE_TEST_DATABASE") == "postgresql", reason="runs in the SQLite pass")
def test_ours_beats_minilm_and_bm25_on_epqa(epqa_report):
    m = epqa_report["methods"]
    assert epqa_report["questions"] > 450
    for metric in ("p_at_1", "mrr", "precision_at_50"):
        assert m["ours"][metric] > max(m["minilm"][metric], m["bm25"][metric]), (metric, m)
    assert m["random"]["p_at_1"] < 0.3


@pytest.mark.slow
@pytest.mark.backtest
@pytest.mark.skipif(os.environ.get("ATTUNE_TEST_DATABASE") == "postgresql", reason="runs in the SQLite pass")
@pytest.mark.xfail(
    strict=True,
    reason="targets not met: P@1 0.551 (target 0.60) and precision at 50 % coverage 0.693 (target 0.75) on the "
    "report half; benchmarks/support.md",
)
def test_issue_18_targets_on_epqa(epqa_report):
    targets = epqa_report["targets"]
    assert targets["p_at_1"]["met"] and targets["precision_at_50"]["met"], targets


def test_an_unlabelled_file_gets_predictions_for_every_candidate_and_no_metrics(tmp_path):
    unlabelled = tmp_path / "unlabelled.csv"
    rows = list(csv.DictReader(SAMPLE.open()))
    with unlabelled.open("w", newline="") as fh:
        writer = csv.DictWriter(
            fh, ["qid", "question", "candidate", "qa_pair_id", "source"], extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "support",
            "--data",
            str(unlabelled),
            "--embedder",
            "hashing",
            "--json",
            "--predictions-out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "methods" not in json.loads(result.output)
    assert len(list(csv.DictReader(out.open()))) == len(rows)
