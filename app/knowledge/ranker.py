"""Grounded retrieval: which passage of the shop's knowledge answers a question, and how sure we are.

One index per shop (or per backtest file) holds the passages with a lexical index (BM25, ``bm25s``) and their
MiniLM vectors. A question is answered in two stages:

1. **Pool**: the passages that may answer (``among``: the product's and the shop-wide ones, or a backtest
   question's candidates), else the union of the top ``POOL`` by BM25 and by cosine.
2. **Rank**: a logistic model over features of each pooled passage (cosine to the question, cosine of an FAQ
   entry's own question, BM25 absolute and relative to the pool, the source's kind, length, yes/no agreement,
   the share of the question's words the passage contains)
   gives the probability that it fully answers. The best passage's
   probability is the **confidence**; below the threshold the agent abstains.

The weights and the default threshold are fitted on the calibration half of ePQA
(``attune backtest support --fit``) and shipped in ``support_model.json``. The backtest and the storefront
call the same :func:`rank`. Pure: passages, vectors and a question vector in, scores out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from app.knowledge.passages import Passage

MODEL_PATH = Path(__file__).with_name("support_model.json")
POOL = 12
RANK_KINDS = ("review", "attribute", "cqa", "description", "bullet")
FEATURES = (
    "cosine",
    "cosine_faq_question",
    "has_faq_question",
    "cosine_below_best",
    "bm25_share_of_best",
    "bm25_log",
    "length_log",
    "yes_no_answer_to_yes_no_question",
    "starts_yes_no",
    *(f"kind_{k}" for k in RANK_KINDS),
    "question_words_covered",
)

_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(STOPWORDS_EN)
_YES_NO_QUESTION = re.compile(
    r"^\s*(is|are|does|do|can|will|would|could|should|has|have|did|was|were|am)\b", re.I
)
_YES_NO_ANSWER = re.compile(r"^\s*(yes|no)\b", re.I)


def tokens(text: str) -> list[str]:
    """Lower-cased words and numbers, English stop words dropped (the lexical index's and the query's)."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


@dataclass(frozen=True)
class Model:
    """A logistic model over FEATURES (standardised), and the default abstention threshold."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    about: dict

    def probability(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return {
            "features": list(FEATURES),
            "mean": self.mean.round(8).tolist(),
            "scale": self.scale.round(8).tolist(),
            "coef": self.coef.round(8).tolist(),
            "intercept": round(self.intercept, 8),
            "threshold": round(self.threshold, 6),
            "about": self.about,
        }

    @classmethod
    def from_json(cls, data: dict) -> Model:
        if tuple(data["features"]) != FEATURES:
            raise ValueError(
                "the support model was fitted on other features: refit it (attune backtest support --fit)"
            )
        return cls(
            np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
            np.asarray(data["coef"], dtype=np.float64),
            float(data["intercept"]),
            float(data["threshold"]),
            dict(data.get("about") or {}),
        )


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_PATH) -> Model:
    """The shipped model (read once per process)."""
    return Model.from_json(json.loads(Path(path).read_text()))


@dataclass(frozen=True)
class Hit:
    position: int  # the passage's position in the index
    passage: Passage
    confidence: float  # probability that the passage fully answers


class KnowledgeIndex:
    """Passages with their BM25 index and unit vectors (``vectors[i]`` is passage i's text;
    ``question_vectors[i]`` its FAQ question's, zeros when it has none)."""

    def __init__(
        self, passages: Sequence[Passage], vectors: np.ndarray, question_vectors: np.ndarray | None = None
    ) -> None:
        if len(vectors) != len(passages):
            raise ValueError("one vector per passage is required")
        self.passages = list(passages)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.question_vectors = (
            np.zeros_like(self.vectors)
            if question_vectors is None
            else np.asarray(question_vectors, dtype=np.float32)
        )
        self.has_question = np.array([bool(p.question) for p in self.passages], dtype=bool)
        docs = [tokens(f"{p.text} {p.question or ''}") or ["\x00"] for p in self.passages]
        self._bm25 = bm25s.BM25()
        if docs:
            self._bm25.index(docs, show_progress=False)
        self._lengths = np.log1p(np.array([len(p.text) for p in self.passages], dtype=np.float64))
        self._words = [frozenset(d) for d in docs]
        self._starts_yes_no = np.array([bool(_YES_NO_ANSWER.match(p.text)) for p in self.passages], float)
        kinds = [p.rank_kind for p in self.passages]
        self._kinds = np.array([[k == name for name in RANK_KINDS] for k in kinds], dtype=np.float64).reshape(
            len(self.passages), len(RANK_KINDS)
        )

    def __len__(self) -> int:
        return len(self.passages)

    def bm25(self, question: str) -> np.ndarray:
        """BM25 of every passage for ``question`` (zeros when no query word is in the index)."""
        words = [w for w in tokens(question) if w in self._bm25.vocab_dict] if self.passages else []
        if not words:
            return np.zeros(len(self.passages), dtype=np.float64)
        return np.asarray(self._bm25.get_scores(words), dtype=np.float64)

    def pool(
        self, question: str, question_vector: np.ndarray, among: Sequence[int] | None, size: int
    ) -> np.ndarray:
        """The positions ranked for ``question``: ``among`` when given, else the top ``size`` by BM25 and by
        cosine together."""
        if among is not None:
            return np.asarray(list(among), dtype=np.int64)
        n = len(self.passages)
        if n <= size:
            return np.arange(n)
        lexical = self.bm25(question)
        dense = self.vectors @ question_vector
        best = set(np.argpartition(-dense, size - 1)[:size].tolist())
        best |= {int(i) for i in np.argpartition(-lexical, size - 1)[:size] if lexical[i] > 0}
        return np.array(sorted(best), dtype=np.int64)

    def features(self, question: str, question_vector: np.ndarray, pool: np.ndarray) -> np.ndarray:
        """FEATURES of each pooled passage (rows in ``pool``'s order)."""
        q = np.asarray(question_vector, dtype=np.float32)
        cos = (self.vectors[pool] @ q).astype(np.float64)
        cos_q = np.where(self.has_question[pool], self.question_vectors[pool] @ q, 0.0)
        lexical = self.bm25(question)[pool]
        best_lex = lexical.max() if len(pool) else 0.0
        yes_no = 1.0 if _YES_NO_QUESTION.match(question) else 0.0
        asked = frozenset(tokens(question))
        covered = np.array([len(asked & self._words[i]) / len(asked) if asked else 0.0 for i in pool], float)
        return np.column_stack(
            [
                cos,
                cos_q,
                self.has_question[pool].astype(np.float64),
                cos - (cos.max() if len(pool) else 0.0),
                lexical / best_lex if best_lex > 0 else np.zeros(len(pool)),
                np.log1p(lexical),
                self._lengths[pool],
                yes_no * self._starts_yes_no[pool],
                self._starts_yes_no[pool],
                self._kinds[pool],
                covered,
            ]
        )


def rank(
    index: KnowledgeIndex,
    question: str,
    question_vector: np.ndarray,
    *,
    model: Model | None = None,
    among: Sequence[int] | None = None,
    pool_size: int = POOL,
) -> list[Hit]:
    """The pooled passages for ``question``, best first, each with its confidence. The one retrieval function
    of the support agent: the storefront's answers and ``attune backtest support`` both call it."""
    model = model or load_model()
    pool = index.pool(question, question_vector, among, pool_size)
    if len(pool) == 0:
        return []
    confidence = model.probability(index.features(question, question_vector, pool))
    order = np.argsort(-confidence, kind="stable")
    return [Hit(int(pool[i]), index.passages[int(pool[i])], float(confidence[i])) for i in order]


def best_answer(hits: Sequence[Hit], threshold: float) -> Hit | None:
    """The passage the agent answers with, or None: it abstains (no passage, or the best one is below the
    threshold)."""
    if not hits or hits[0].confidence < threshold:
        return None
    return hits[0]
