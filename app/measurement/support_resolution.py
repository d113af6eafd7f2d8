"""The support agent's proof in the admin: the AI resolution rate (support deflection), the hand-off rate and
the questions it could not answer, grouped, and the shoppers' 👍/👎 on its answers. Pure: turns in, figures out.

- A conversation is *touched* when the agent replied in it at least once.
- It is *handed off* when any of the agent's replies handed it to a person.
- It is *resolved* when the agent's last reply was an answer, nothing was handed off, and the same shopper
  asked nothing more (in any conversation) within FOLLOW_UP after that reply.
- It is *pending* while that window is still open: neither resolved nor failed yet, so it is left out of the
  rate's denominator and counted on its own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

FOLLOW_UP = timedelta(hours=72)
REFERENCES = {
    "traditional": "20–30 % (help centre and rules, no agent)",
    "with_agents": "50–60 % (AI support agents)",
}
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "my",
        "me",
        "you",
        "your",
        "we",
        "our",
        "is",
        "are",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
        "to",
        "of",
        "for",
        "in",
        "on",
        "at",
        "it",
        "this",
        "that",
        "and",
        "or",
        "with",
        "be",
        "have",
        "has",
        "how",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "there",
        "any",
        "please",
        "hi",
        "hello",
    ]
)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class SupportTurn:
    conversation: str
    shopper: str  # customer or client key: one shopper across conversations
    role: str  # shopper | assistant
    text: str
    at: datetime
    escalated: bool = False
    abstained: bool = False
    helpful: bool | None = None  # the shopper's 👍 / 👎 on this answer


def question_key(text: str) -> str:
    """The words that make a question what it is (stop words dropped, sorted): similar questions group."""
    return (
        " ".join(sorted({w for w in _WORD.findall(text.lower()) if w not in _STOP})) or text.lower().strip()
    )


def resolution(turns: Iterable[SupportTurn], now: datetime, *, top_unanswered: int = 10) -> dict:
    """The figures of the module docstring over ``turns`` (one shop's, any order)."""
    by_conversation: dict[str, list[SupportTurn]] = {}
    asked_at: dict[str, list[datetime]] = {}
    for t in sorted(turns, key=lambda t: t.at):
        by_conversation.setdefault(t.conversation, []).append(t)
        if t.role == "shopper":
            asked_at.setdefault(t.shopper, []).append(t.at)
    touched = resolved = handed_off = pending = 0
    unanswered: Counter[str] = Counter()
    example: dict[str, str] = {}
    for conv in by_conversation.values():
        replies = [t for t in conv if t.role == "assistant"]
        if not replies:
            continue
        touched += 1
        last = replies[-1]
        if any(t.escalated for t in replies):
            handed_off += 1
        elif now - last.at < FOLLOW_UP:
            pending += 1
        elif not any(last.at < at <= last.at + FOLLOW_UP for at in asked_at.get(last.shopper, [])):
            resolved += 1
        _collect_unanswered(conv, unanswered, example)
    judged = touched - pending
    votes = [
        t.helpful
        for conv in by_conversation.values()
        for t in conv
        if t.role == "assistant" and t.helpful is not None
    ]
    return {
        "feedback": {
            "up": sum(votes),
            "down": len(votes) - sum(votes),
            "helpful_rate": round(sum(votes) / len(votes), 4) if votes else None,
        },
        "conversations": touched,
        "resolved": resolved,
        "handed_off": handed_off,
        "pending": pending,
        "followed_up": judged - resolved - handed_off,
        "resolution_rate": resolved / judged if judged else None,
        "handoff_rate": handed_off / touched if touched else None,
        "unanswered": [
            {"question": example[key], "times": n} for key, n in unanswered.most_common(top_unanswered)
        ],
        "references": REFERENCES,
    }


def _collect_unanswered(conv: Sequence[SupportTurn], counts: Counter[str], example: dict[str, str]) -> None:
    """The shopper questions the agent abstained on, by question key (the latest wording as the example)."""
    for question, reply in zip(conv, conv[1:], strict=False):
        if question.role == "shopper" and reply.role == "assistant" and reply.abstained:
            key = question_key(question.text)
            counts[key] += 1
            example[key] = question.text
