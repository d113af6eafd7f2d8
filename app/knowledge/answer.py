"""The extractive answer: the best passage, word for word, with the link to its source; or an abstention.
Pure: ranked hits in, a :class:`GroundedAnswer` or None out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.knowledge.guard import unsupported_claims
from app.knowledge.ranker import Hit, best_answer


@dataclass(frozen=True)
class GroundedAnswer:
    text: str
    passage_id: str
    source_title: str
    url: str | None
    kind: str
    confidence: float
    rephrased: bool = False  # worded by the optional language model (``app.knowledge.rephrase``)


def grounded_answer(hits: Sequence[Hit], threshold: float) -> GroundedAnswer | None:
    """The answer the agent gives from ``hits`` (best first), or None when it abstains: nothing pooled, the
    best passage below ``threshold``, or (defensively) a text that states what its passage does not."""
    hit = best_answer(hits, threshold)
    if hit is None:
        return None
    passage = hit.passage
    text = passage.text
    if unsupported_claims(text, passage.text):
        return None
    return GroundedAnswer(text, passage.passage_id, passage.title, passage.url, passage.kind, hit.confidence)
