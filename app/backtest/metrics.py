"""Next-basket metrics at a cut-off k: Recall, NDCG (ideal DCG over min(k, |target|)), PHR, repeat/explore recall."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def recall_at_k(ranked: Sequence[int], target: set[int], k: int = 10) -> float:
    return len(set(list(ranked)[:k]) & target) / len(target) if target else 0.0


def ndcg_at_k(ranked: Sequence[int], target: set[int], k: int = 10) -> float:
    if not target:
        return 0.0
    dcg = sum(1.0 / np.log2(r + 2) for r, item in enumerate(list(ranked)[:k]) if item in target)
    idcg = sum(1.0 / np.log2(r + 2) for r in range(min(k, len(target))))
    return dcg / idcg


def phr_at_k(ranked: Sequence[int], target: set[int], k: int = 10) -> float:
    """Personal hit ratio: 1 when at least one of the top k is in the target basket."""
    return 1.0 if set(list(ranked)[:k]) & target else 0.0


def evaluate(
    ranked: Sequence[Sequence[int]],
    targets: Sequence[set[int]],
    histories: Sequence[set[int]],
    k: int = 10,
) -> dict[str, float]:
    """Mean metrics over customers; repeat (explore) recall is averaged over customers whose target has repeat
    (new) items, counting only those items."""
    rec, ndcg, phr, rep, exp = [], [], [], [], []
    for r, t, h in zip(ranked, targets, histories, strict=True):
        rec.append(recall_at_k(r, t, k))
        ndcg.append(ndcg_at_k(r, t, k))
        phr.append(phr_at_k(r, t, k))
        repeat, explore = t & h, t - h
        if repeat:
            rep.append(recall_at_k(r, repeat, k))
        if explore:
            exp.append(recall_at_k(r, explore, k))
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
    return {
        f"recall@{k}": mean(rec),
        f"ndcg@{k}": mean(ndcg),
        f"phr@{k}": mean(phr),
        f"repeat_recall@{k}": mean(rep),
        f"explore_recall@{k}": mean(exp),
        "customers": len(rec),
    }
