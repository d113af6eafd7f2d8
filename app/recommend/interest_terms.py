"""The words that can name an interest: a product's terms (its type, its tags whole and split, its title words
less stopwords), the terms most particular to a cluster (a class-based TF-IDF), and the cluster's name.

Plain Python over plain data, used by ``app.recommend.interests``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

DOMINANT_TYPE_SHARE = 0.8
MIN_TYPE_LIFT = 1.5  # a type shared by the whole catalogue names nothing
_WORD = re.compile(r"[a-z][a-z'-]{2,}")
STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "your",
        "you",
        "our",
        "this",
        "that",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "not",
        "but",
        "all",
        "any",
        "can",
        "will",
        "one",
        "two",
        "new",
        "set",
        "pack",
        "size",
        "small",
        "medium",
        "large",
        "extra",
        "per",
        "each",
        "pcs",
        "pieces",
        "piece",
        "of",
        "in",
        "on",
        "to",
        "by",
        "an",
        "a",
        "or",
        "at",
        "as",
        "is",
        "it",
        "be",
        "its",
        "into",
        "over",
        "under",
        "up",
        "out",
        "off",
        "more",
        "most",
        "very",
        "just",
        "only",
        "also",
        "than",
        "then",
        "them",
        "they",
        "their",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "why",
        "when",
        "where",
        "x",
        "xl",
        "xxl",
        "xs",
        "mini",
        "maxi",
        "plus",
        "pro",
        "ltd",
        "inc",
        "co",
    ]
)


@dataclass(frozen=True)
class CatalogueItem:
    """What use-case inference reads about one product."""

    product_id: str
    title: str
    product_type: str = ""
    tags: Sequence[str] = ()


def item_terms(item: CatalogueItem) -> list[str]:
    """The words of one product that may name an interest: type, tags (whole and split) and title words."""
    out: list[str] = []
    for phrase in [item.product_type, *item.tags]:
        phrase = " ".join(phrase.lower().split())
        if phrase and len(phrase) <= 40:
            out.append(phrase)
            words = _WORD.findall(phrase)
            if len(words) > 1:
                out.extend(w for w in words if w not in STOPWORDS)
    out.extend(w for w in _WORD.findall(item.title.lower()) if w not in STOPWORDS)
    return list(dict.fromkeys(out))  # each term once per product


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "interest"


def distinctive_terms(
    members: Sequence[int], terms: Sequence[list[str]], df: Counter, n: int, top: int = 5
) -> list[str]:
    """Terms most particular to ``members``: in-cluster share × log(lift over the catalogue)."""
    inside = Counter(t for m in members for t in terms[m])
    scored = []
    for term, count in inside.items():
        share = count / len(members)
        lift = share / (df[term] / n)
        if count < 2 and len(members) > 2:
            continue
        scored.append((share * math.log(1.0 + lift) * (1.15 if " " in term else 1.0), term))
    scored.sort(key=lambda st: (-st[0], st[1]))
    chosen: list[str] = []
    for _, term in scored:
        # skip a word already inside a chosen phrase (and a phrase containing a chosen word)
        if any(term in c.split() or c in term.split() for c in chosen):
            continue
        chosen.append(term)
        if len(chosen) == top:
            break
    return chosen


def interest_name(
    members: Sequence[int], items: Sequence[CatalogueItem], top_terms: list[str], type_share: Counter
) -> str:
    """The cluster's product type when nearly all of it shares one that is rare elsewhere (``type_share``: the
    catalogue's count per type), else its two most distinctive terms."""
    types = Counter(items[m].product_type.strip().lower() for m in members if items[m].product_type.strip())
    if types:
        ptype, count = types.most_common(1)[0]
        share = count / len(members)
        if share >= DOMINANT_TYPE_SHARE and share / (type_share[ptype] / len(items)) >= MIN_TYPE_LIFT:
            return ptype
    if not top_terms:
        return items[members[0]].product_type.lower() or items[members[0]].title.lower()
    return " & ".join(top_terms[:2])
