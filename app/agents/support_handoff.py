"""When the support agent hands a conversation to a person, before it tries to answer. Pure: the question and
the conversation so far in, a reason (or None) out.

In order:
- ``asked_for_person``: the shopper asks for a person ("can I talk to a human?").
- ``legal_or_chargeback``: chargeback, dispute, lawyer, fraud … words.
- ``needs_person``: the topic needs a person to act: cancelling, changing the address, a damaged, broken or
  wrong item.
- ``repeated_question``: the shopper asks again what they already asked in this conversation.
- ``frustrated``: VADER's compound sentiment (the lexicon of ``vaderSentiment``) at or below
  FRUSTRATION, or the same with the previous turn when the shopper writes in capitals or with "!!".
- ``abstained_twice``: the agent already abstained twice in this conversation.

Each reason is shown to the merchant with the hand-off, so the rule that fired is always known.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

FRUSTRATION = -0.5
REASONS = (
    "asked_for_person",
    "legal_or_chargeback",
    "needs_person",
    "repeated_question",
    "frustrated",
    "abstained_twice",
)
_PERSON = re.compile(
    r"\b((talk|speak|chat)( to| with)? (a |an |some|your )?(human|person|agent|someone|real|manager|staff|representative|rep)"
    r"|(real|live) (person|human|agent)|human being|customer service|call me|phone me|representative)\b"
)
_LEGAL = re.compile(
    r"\b(charge ?back|dispute|lawyer|attorney|solicitor|sue|suing|lawsuit|legal action|court|fraud|scam"
    r"|trading standards|consumer protection|bbb|report you)\b"
)
_NEEDS_PERSON = re.compile(
    r"\b(cancel(l?ed|l?ing|lation)?|change (my |the )?(delivery |shipping )?address|wrong address"
    r"|(arrived |came |is |was )?(damaged|broken|defective|faulty|cracked|smashed)|wrong (item|size|colou?r|product))\b"
)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Turn:
    """One earlier turn of the conversation."""

    role: str  # shopper | assistant
    text: str
    abstained: bool = False


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # heavy: loads its lexicon once

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score of ``text``, from -1 (most negative) to 1."""
    return float(_analyzer().polarity_scores(text)["compound"])


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def _same_question(a: str, b: str) -> bool:
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return False
    return len(wa & wb) / len(wa | wb) >= 0.8


def handoff_reason(question: str, history: Sequence[Turn] = ()) -> str | None:
    """Why this question goes to a person before the agent answers, or None (see the module docstring)."""
    text = question.lower().replace("’", "'")
    if _PERSON.search(text):
        return "asked_for_person"
    if _LEGAL.search(text):
        return "legal_or_chargeback"
    if _NEEDS_PERSON.search(text):
        return "needs_person"
    asked = [t.text for t in history if t.role == "shopper"]
    if any(_same_question(question, earlier) for earlier in asked):
        return "repeated_question"
    mood = sentiment(question)
    shouting = question.isupper() and len(question) > 8 or "!!" in question
    if mood <= FRUSTRATION or (shouting and asked and min(mood, sentiment(asked[-1])) <= FRUSTRATION / 2):
        return "frustrated"
    if sum(1 for t in history if t.role == "assistant" and t.abstained) >= 2:
        return "abstained_twice"
    return None


HANDOFF_TEXT = {
    "asked_for_person": "Of course: I've passed your question to a person from the shop, who will reply.",
    "legal_or_chargeback": "I've passed this to a person from the shop, who will reply to you directly.",
    "needs_person": "A person from the shop needs to handle this: I've passed it on, and they will reply.",
    "repeated_question": "Sorry I haven't been able to help. I've passed your question to a person from the shop.",
    "frustrated": "I'm sorry about this. I've passed your question to a person from the shop, who will reply.",
    "abstained_twice": "I don't have a good answer to that. I've passed your questions to a person from the shop.",
    # the shopper is in the shop's global holdout or the assistant's own: support as it was before the agent
    "holdout": "Thank you for your question: I've passed it to a person from the shop, who will reply.",
}
