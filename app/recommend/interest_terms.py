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

MIN_NAME_SHARE = 0.25
NAME_BETA = 0.5  # precision weighs four times recall
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
    collections: Sequence[str] = ()  # the collections the merchant put it in (titles)


def vocabulary(item: CatalogueItem) -> list[str]:
    """The merchant's own words for one product: its type, tags and collections, whole and lower-cased."""
    out = []
    for phrase in [item.product_type, *item.tags, *item.collections]:
        phrase = " ".join(phrase.lower().split())
        if phrase and len(phrase) <= 40:
            out.append(phrase)
    return list(dict.fromkeys(out))


def item_terms(item: CatalogueItem) -> list[str]:
    """The words of one product that may name an interest: type, tags (whole and split) and title words."""
    out: list[str] = []
    for phrase in [item.product_type, *item.tags, *item.collections]:
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


def vocabulary_names(
    members: Sequence[int], items: Sequence[CatalogueItem], vocab: Sequence[list[str]], vocab_df: Counter
) -> list[str]:
    """The merchant's phrases (type, tag, collection) that best describe ``members``, best first: in-cluster
    the F-measure (β = 0.5, precision first) of the phrase's products against the cluster, so a phrase that
    mostly belongs to this cluster beats a broad one spread over many (a grocer's "paper goods" over
    "household"); a phrase on fewer than a quarter of the cluster names it only when no phrase reaches that. A product type
    nearly all the cluster shares (and rare elsewhere) is its only name: clusters of one type are one interest."""
    n = len(items)
    types = Counter(" ".join(items[m].product_type.lower().split()) for m in members)
    types.pop("", None)
    if types:
        ptype, count = types.most_common(1)[0]
        share = count / len(members)
        if share >= DOMINANT_TYPE_SHARE and share / (vocab_df[ptype] / n) >= MIN_TYPE_LIFT:
            return [ptype]
    inside = Counter(t for m in members for t in vocab[m])
    scored = []
    for phrase, count in inside.items():
        recall, precision = count / len(members), count / vocab_df[phrase]
        if recall >= MIN_NAME_SHARE:
            f_half = (1 + NAME_BETA**2) * precision * recall / (NAME_BETA**2 * precision + recall)
            scored.append((f_half, phrase))
    scored.sort(key=lambda sp: (-sp[0], sp[1]))
    if not scored and inside:  # a mixed cluster: its most common phrase still beats title words
        return [min(inside, key=lambda t: (-inside[t], t))]
    return [phrase for _, phrase in scored[:3]]


def interest_name(members: Sequence[int], items: Sequence[CatalogueItem], top_terms: list[str]) -> str:
    """A name for a cluster whose products carry none of the merchant's vocabulary: its two most distinctive
    title words (``top_terms``), or its first product's title."""
    if not top_terms:
        return items[members[0]].title.lower() or "other"
    return " & ".join(top_terms[:2])
