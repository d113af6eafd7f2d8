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
- ``high_value_unsure``: a high-value customer (the caller decides: top tenth of the shop by predicted CLV) is
  unsure ("not sure which", "can't decide", "confused") or mildly negative: the bar for a person is lower for them
  (sentiment at or below FRUSTRATION_HIGH_VALUE instead of FRUSTRATION).

Each reason is shown to the merchant with the hand-off, so the rule that fired is always known, and
``handoff_detail`` words it concretely from the same question and conversation ("asked to cancel an order",
"frustration: repeated question") for the hand-off e-mail: recomputed, as the rules are pure, so nothing more is
stored than the rule's name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

FRUSTRATION = -0.5
FRUSTRATION_HIGH_VALUE = -0.25  # a high-value customer reaches a person at milder displeasure
REASONS = (
    "asked_for_person",
    "legal_or_chargeback",
    "needs_person",
    "repeated_question",
    "frustrated",
    "abstained_twice",
    "high_value_unsure",
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
_UNSURE = re.compile(
    r"\b(not (quite |really |too )?sure|unsure|uncertain|undecided|confus(ed|ing)|torn between|hesitat(e|ing)"
    r"|can'?t (decide|choose|make up my mind)|cannot (decide|choose)|don'?t (know|understand) (which|what|if|whether)"
    r"|doubts?|on the fence|second thoughts)\b"
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


def handoff_reason(question: str, history: Sequence[Turn] = (), high_value: bool = False) -> str | None:
    """Why this question goes to a person before the agent answers, or None (see the module docstring).
    ``high_value``: the shopper is one of the shop's most valuable customers."""
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
    if high_value and (_UNSURE.search(text) or mood <= FRUSTRATION_HIGH_VALUE):
        return "high_value_unsure"
    return None


_NEEDS_WHAT = (
    (re.compile(r"\bcancel"), "asked to cancel an order"),
    (
        re.compile(r"\b(change (my |the )?(delivery |shipping )?address|wrong address)\b"),
        "asked to change the delivery address",
    ),  # fmt: skip
    (re.compile(r"\b(damaged|broken|defective|faulty|cracked|smashed)\b"), "reported a damaged item"),
    (re.compile(r"\bwrong (item|size|colou?r|product)\b"), "reported a wrong item"),
)
TOPIC_DETAIL = {  # an escalation no rule fired for: the agent had no answer of its own for the topic
    "returns": "asked about a return, which needs a person",
    "order_change": "asked to change an order, which needs a person",
    "order_status": "asked about an order the assistant could not find",
    "shop_info": "asked about the shop, which its data does not answer",
    "product": "asked for a product the shop's search did not find in stock",
}
DETAIL = {
    "asked_for_person": "asked for a person",
    "needs_person": "asked for something only a person can do",
    "frustrated": "frustration: negative sentiment",
    "repeated_question": "frustration: repeated question",
    "abstained_twice": "abstained twice: the shop's knowledge had no confident answer",
    "late_order": "the order runs late against the shipping policy",
    "holdout": "the shopper is in the holdout: every question goes to a person",
    "high_value_unsure": "a high-value customer (top tenth by predicted lifetime value) is unsure",
}


def handoff_detail(
    rule: str | None, question: str, history: Sequence[Turn] = (), topic: str = "", abstained: bool = False
) -> str:
    """The concrete reason a conversation came to a person, from the rule that fired (``handoff``), the
    shopper's question and the conversation before it; for an escalation without a rule, from its topic."""
    text = question.lower().replace("’", "'")
    if rule == "needs_person":
        return next((what for pattern, what in _NEEDS_WHAT if pattern.search(text)), DETAIL[rule])
    if rule == "legal_or_chargeback":
        word = _LEGAL.search(text)
        return f"mentioned {word.group(0)!r}: legal or chargeback" if word else "legal or chargeback words"
    if rule == "frustrated":
        return f"{DETAIL[rule]} ({sentiment(question):+.2f} on VADER's -1 to 1 scale)"
    if rule in DETAIL:
        return DETAIL[rule]
    if rule:
        return rule.replace("_", " ")
    about = TOPIC_DETAIL.get(topic, "the assistant had no confident answer")
    return f"{about}; the shop's knowledge had no confident answer" if abstained else about


HANDOFF_TEXT = {
    "asked_for_person": "Of course: I've passed your question to a person from the shop, who will reply.",
    "legal_or_chargeback": "I've passed this to a person from the shop, who will reply to you directly.",
    "needs_person": "A person from the shop needs to handle this: I've passed it on, and they will reply.",
    "repeated_question": "Sorry I haven't been able to help. I've passed your question to a person from the shop.",
    "frustrated": "I'm sorry about this. I've passed your question to a person from the shop, who will reply.",
    "abstained_twice": "I don't have a good answer to that. I've passed your questions to a person from the shop.",
    "high_value_unsure": "Let me get a person from the shop to help you choose: I've passed your question on.",
    # the shopper is in the shop's global holdout or the assistant's own: support as it was before the agent
    "holdout": "Thank you for your question: I've passed it to a person from the shop, who will reply.",
}
