"""Metrics of ``attune backtest support`` and the fit of the support model.

Each question is a list of candidates in shuffled order, each with a label (2 fully answers, 1 helpful,
0 irrelevant) and a method's score. The method's top candidate is the highest score, ties going to the
earlier candidate in the shuffled order; its score is the question's confidence.

- P@1 (fully): share of questions whose top candidate has label 2; P@1 ≥ helpful: label ≥ 1.
- MRR: mean reciprocal rank of the first fully answering candidate (0 for a question with none), as the
  reference figures in ``../shared/data/epqa/README.md`` count it.
- precision at coverage c: the questions sorted by confidence, the top ``round(c · n)`` answered; the share
  of them whose top candidate fully answers. At the threshold: the questions whose confidence reaches it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.knowledge.ranker import FEATURES, Model

COVERAGES = (0.3, 0.5)
TARGET_PRECISION = 0.75  # the operating point: answers that fully answer 3 times in 4 …
TARGET_COVERAGE = 0.5  # … at half of the questions answered
MIN_ANSWERED = 20


@dataclass(frozen=True)
class Question:
    qid: str
    labels: np.ndarray  # in the shuffled order
    scores: np.ndarray

    @property
    def top(self) -> int:
        return int(np.argmax(self.scores))  # first maximum: ties go to the earlier (shuffled) candidate

    @property
    def confidence(self) -> float:
        return float(self.scores[self.top])


def _precision_at(tops: np.ndarray, confidence: np.ndarray, coverage: float) -> float:
    n = int(round(coverage * len(tops)))
    if n == 0:
        return float("nan")
    order = np.argsort(-confidence, kind="stable")
    return float(tops[order[:n]].mean())


def evaluate(questions: Sequence[Question], threshold: float | None = None) -> dict[str, float]:
    """The metrics of one method over ``questions`` (see the module docstring)."""
    if not questions:
        return {"questions": 0}
    top_labels = np.array([q.labels[q.top] for q in questions])
    confidence = np.array([q.confidence for q in questions])
    reciprocal = []
    for q in questions:
        order = np.argsort(-q.scores, kind="stable")
        hits = np.flatnonzero(q.labels[order] == 2)
        reciprocal.append(1.0 / (int(hits[0]) + 1) if len(hits) else 0.0)
    full = (top_labels == 2).astype(float)
    out: dict[str, float] = {
        "questions": len(questions),
        "p_at_1": float(full.mean()),
        "p_at_1_helpful": float((top_labels >= 1).mean()),
        "mrr": float(np.mean(reciprocal)) if reciprocal else float("nan"),
    }
    for c in COVERAGES:
        out[f"precision_at_{int(c * 100)}"] = _precision_at(full, confidence, c)
    if threshold is not None:
        answered = confidence >= threshold
        out["threshold"] = threshold
        out["coverage_at_threshold"] = float(answered.mean())
        out["precision_at_threshold"] = float(full[answered].mean()) if answered.any() else float("nan")
    return out


def pick_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target: float = TARGET_PRECISION,
    coverage: float = TARGET_COVERAGE,
) -> float:
    """The abstention threshold: the lowest confidence at which the questions answered (confidence ≥ it) are
    still right ``target`` of the time (at least MIN_ANSWERED answered), but never one that answers fewer than
    ``coverage`` of the questions: where the precision target needs a higher threshold, the ``coverage``
    point wins (an assistant that abstains on most questions helps nobody; the issue's target is stated at
    50 % coverage)."""
    order = np.argsort(-confidence, kind="stable")
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero((running >= target) & (np.arange(1, len(order) + 1) >= MIN_ANSWERED))
    at_coverage = float(confidence[order[max(0, int(round(coverage * len(order))) - 1)]])
    if len(ok):
        return min(float(confidence[order[ok[-1]]]), at_coverage)
    return at_coverage


def fit_model(
    features: np.ndarray,
    fully: np.ndarray,
    groups: np.ndarray,
    *,
    c: float = 0.1,
    folds: int = 5,
    about: dict | None = None,
) -> Model:
    """A logistic model of "fully answers" over FEATURES, and its threshold picked on out-of-fold
    confidences (each question's top passage scored by a model that did not see that question)."""
    from sklearn.linear_model import LogisticRegression

    def fit(x: np.ndarray, y: np.ndarray) -> Model:
        mean = x.mean(axis=0)
        scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
        clf = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y)
        return Model(mean, scale, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]), 0.5, {})

    if features.shape[1] != len(FEATURES):
        raise ValueError("features do not match FEATURES")
    unique = np.unique(groups)
    fold_of = {g: i % folds for i, g in enumerate(np.random.default_rng(0).permutation(unique))}
    fold = np.array([fold_of[g] for g in groups])
    confidence = np.zeros(len(unique))
    correct = np.zeros(len(unique))
    position = {g: i for i, g in enumerate(unique)}
    for k in range(folds):
        held = fold == k
        model = fit(features[~held], fully[~held])
        prob = model.probability(features[held])
        for g in np.unique(groups[held]):
            rows = np.flatnonzero(groups[held] == g)
            best = rows[int(np.argmax(prob[rows]))]
            confidence[position[g]] = prob[best]
            correct[position[g]] = fully[held][best]
    final = fit(features, fully)
    return Model(
        final.mean, final.scale, final.coef, final.intercept, pick_threshold(confidence, correct), about or {}
    )
