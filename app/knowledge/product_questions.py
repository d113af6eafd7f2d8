"""Questions shoppers ask about a product, offered before they ask (issue 18, "help before it is asked"). Pure:
the product's text and options in, candidate questions out; the store keeps only those the shop's knowledge
answers with confidence, so every question offered has an answer.

Candidates, in order: what shoppers asked on this product's page before (most asked first), then questions its
own description and options raise (sizes, waterproofing, materials, care, warranty, weight), then the shop-wide
ones every product page gets (delivery time, returns).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_OFFERED = 4
_FROM_TEXT: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bwater(proof|[- ]resistant|[- ]repellent)\b", re.I), "Is {it} waterproof?"),
    (
        re.compile(
            r"\b(cotton|wool|merino|leather|polyester|nylon|linen|silk|steel|aluminium|aluminum|down|fleece)\b",
            re.I,
        ),
        "What is {it} made of?",
    ),
    (
        re.compile(r"\b(machine[- ]wash\w*|hand[- ]wash\w*|wash\w*|care|clean\w*)\b", re.I),
        "How do I care for {it}?",
    ),
    (re.compile(r"\b(warrant\w*|guarantee\w*)\b", re.I), "Does {it} come with a warranty?"),
    (re.compile(r"\b\d+(?:[.,]\d+)?\s?(g|kg|oz|lbs?)\b", re.I), "How much does {it} weigh?"),
    (re.compile(r"\b(fits?|true to size|runs (small|large))\b", re.I), "How does {it} fit?"),
]
_SIZE = re.compile(r"^(XXS|XS|S|M|L|XL|XXL|XXXL|2XL|3XL|small|medium|large|extra large|one size)$", re.I)
SHOP_WIDE = ("How long does delivery take?", "Can I return it?")


def candidates(
    description: str | None,
    variant_titles: Sequence[str],
    asked_before: Sequence[str] = (),
    title: str | None = None,
) -> list[str]:
    """The candidate questions for one product (its description, its variants' titles such as "M / Blue", the
    questions shoppers asked on its page), most useful first, without repeats. A question names the product
    ("Is the Alpine jacket waterproof?"): the shopper sees what it is about, and the retrieval does too."""
    out: list[str] = [" ".join(q.split()) for q in asked_before if q and q.strip()]
    if any(_SIZE.match(part.strip()) for title in variant_titles for part in title.split("/")):
        out.append("What sizes does {it} come in?")
    text = description or ""
    out += [question for pattern, question in _FROM_TEXT if pattern.search(text)]
    it = f"the {' '.join(title.split())}" if title and len(title) <= 60 else "it"
    out = [q.replace("{it}", it) for q in out]
    out += SHOP_WIDE
    seen: set[str] = set()
    return [q for q in out if not (q.lower() in seen or seen.add(q.lower()))]
