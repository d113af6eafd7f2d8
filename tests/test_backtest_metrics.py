"""Next-basket metrics on hand-computed cases."""

import math

import pytest

from app.backtest.metrics import evaluate, ndcg_at_k, phr_at_k, recall_at_k


def test_recall_counts_hits_over_target_size():
    assert recall_at_k([1, 2, 3, 4], {2, 4, 9, 10}, k=10) == 0.5
    assert recall_at_k([1, 2, 3], {3}, k=2) == 0.0  # beyond the cut-off
    assert recall_at_k([1], set(), k=10) == 0.0


def test_ndcg_uses_ideal_dcg_over_min_k_and_target_size():
    # hit at rank 2 only, target of 1 item: DCG = 1/log2(3), IDCG = 1
    assert ndcg_at_k([5, 7, 8], {7}, k=10) == pytest.approx(1 / math.log2(3))
    # hits at ranks 1 and 3, target of 3 items: IDCG = 1 + 1/log2(3) + 1/2
    expected = (1 + 1 / 2) / (1 + 1 / math.log2(3) + 1 / 2)
    assert ndcg_at_k([1, 0, 2], {1, 2, 3}, k=10) == pytest.approx(expected)
    # 12-item target, cut-off 2: IDCG over 2 positions, so a perfect top 2 scores 1
    assert ndcg_at_k([1, 2], set(range(1, 13)), k=2) == pytest.approx(1.0)


def test_phr_is_any_hit():
    assert phr_at_k([1, 2], {2, 3}, k=10) == 1.0
    assert phr_at_k([1, 2], {3}, k=10) == 0.0


def test_evaluate_splits_repeat_and_explore():
    res = evaluate([[1, 2, 3], [7, 8, 9]], [{1, 4}, {9, 10}], [{1, 4}, {5}], k=10)
    assert res["recall@10"] == pytest.approx((0.5 + 0.5) / 2)
    # customer 1: repeat items {1,4} -> 0.5; customer 2 has no repeat item in its target
    assert res["repeat_recall@10"] == pytest.approx(0.5)
    # only customer 2 has explore items {9, 10} -> 0.5
    assert res["explore_recall@10"] == pytest.approx(0.5)
    assert res["phr@10"] == 1.0
    assert res["customers"] == 2
