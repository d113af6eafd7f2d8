"""Explanations shared by every derived score: which signals moved it, by how much, in plain words."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Signal:
    """One contributing signal: its raw ``value``, signed ``contribution`` to the score, and a readable ``text``."""

    name: str
    value: float | str | None
    contribution: float
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "value": self.value, "contribution": self.contribution, "text": self.text}


@dataclass(frozen=True)
class Explanation:
    """A derived score with its top signals ordered by absolute contribution (largest first)."""

    score: str
    value: float | str
    signals: tuple[Signal, ...] = field(default_factory=tuple)
    summary: str = ""

    @classmethod
    def build(
        cls, score: str, value: float | str, signals: Iterable[Signal], top: int = 5, summary: str = ""
    ) -> Explanation:
        """Keep the ``top`` signals by |contribution|, dropping zero contributions."""
        ranked = sorted((s for s in signals if s.contribution != 0), key=lambda s: -abs(s.contribution))
        return cls(score=score, value=value, signals=tuple(ranked[:top]), summary=summary)

    def as_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "value": self.value,
            "summary": self.summary,
            "signals": [s.as_dict() for s in self.signals],
        }
