"""A shop's knowledge as passages: sources (policies, pages, product texts, reviews, the merchant's FAQ) split
into sentence windows, each kept with the link to its source. Pure: text in, passages out.

A *source* is one document (a refund policy, a page, a product description, one review, one FAQ entry); a
*passage* is a window of at most ``WINDOW`` consecutive sentences of it (stride 1, so every sentence pair
that reads together is one passage), never longer than ``MAX_CHARS``. The answer the assistant gives is one
passage, word for word, so it can only say what the source says.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

# The kinds of source, and the ePQA source each one ranks like (see ``app.knowledge.ranker``): a merchant's
# FAQ entry is a question with its answer, like a community answer; policies and pages are the seller's own
# short statements of fact, like a listing's bullet points; options and metafields are attributes.
KINDS: dict[str, str] = {
    "policy": "bullet",
    "page": "bullet",
    "description": "description",
    "bullet": "bullet",
    "option": "attribute",
    "attribute": "attribute",
    "metafield": "attribute",
    "review": "review",
    "faq": "cqa",
    "cqa": "cqa",
}
WINDOW = 2
MAX_CHARS = 400
MAX_SOURCE_CHARS = 60_000  # longer sources are cut: a policy page is a few thousand characters

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n+|\n(?=\s*[-*•]\s)")
_SPACE = re.compile(r"\s+")
# Text addressed to a language model rather than a shopper ("ignore previous instructions …"): a passage with
# it is never indexed, so planted instructions can neither be quoted nor reach the optional model.
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|guidelines)\b"
    r"|\b(system prompt|you are now|act as (an? )?(ai|assistant|chatbot)|as an ai\b|jailbreak)",
    re.I | re.S,
)
_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "section",
}


@dataclass(frozen=True)
class Source:
    """One document of the shop's knowledge. ``key`` is stable per document (``policy:REFUND_POLICY``,
    ``product:123:description``, ``faq:7``): a re-sync replaces the passages of the same key."""

    key: str
    kind: str
    title: str
    text: str
    url: str | None = None
    product_id: int | None = None
    question: str | None = None  # an FAQ entry's question (its text is the answer)
    customer_id: int | None = None  # a review's author: their passages go when they are erased


@dataclass(frozen=True)
class Passage:
    """A sentence window of one source. ``text`` is what the assistant may answer with, word for word."""

    source_key: str
    position: int
    kind: str
    title: str
    text: str
    url: str | None = None
    product_id: int | None = None
    question: str | None = None
    customer_id: int | None = None

    @property
    def passage_id(self) -> str:
        return f"{self.source_key}#{self.position}"

    @property
    def rank_kind(self) -> str:
        return KINDS.get(self.kind, "description")

    def digest(self) -> str:
        """What the stored vector depends on: a changed passage is re-embedded, an unchanged one is not."""
        return hashlib.sha256(f"{self.question or ''}\x1f{self.text}".encode()).hexdigest()[:32]


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:  # noqa: ANN001 - HTMLParser's signature
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n" if tag != "li" else "\n- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(body: str) -> str:
    """The readable text of an HTML body (policies and pages come as HTML): tags dropped, scripts and styles
    with their content, entities decoded, paragraphs kept as blank lines."""
    if "<" not in body:
        return html.unescape(body)
    parser = _TextOnly()
    parser.feed(body)
    parser.close()
    return "".join(parser.parts)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (paragraphs and list items end one too), whitespace collapsed."""
    out = []
    for piece in _SENTENCE_END.split(text):
        piece = _SPACE.sub(" ", piece).strip(" -*•")
        if piece:
            out.append(piece)
    return out


def _cut(text: str) -> str:
    if len(text) <= MAX_CHARS:
        return text
    cut = text[:MAX_CHARS].rsplit(" ", 1)[0]
    return cut + "…"


def windows(text: str, size: int | None = None) -> list[str]:
    """Sentence windows of ``text``: the whole text when it has at most ``size`` sentences, else every run of
    ``size`` consecutive sentences; each at most MAX_CHARS (a longer one is cut at a word)."""
    size = size or WINDOW
    sents = sentences(text[:MAX_SOURCE_CHARS])
    if not sents:
        return []
    if len(sents) <= size:
        return [_cut(" ".join(sents))]
    return [_cut(" ".join(sents[i : i + size])) for i in range(len(sents) - size + 1)]


def looks_like_injection(text: str) -> bool:
    """Whether ``text`` carries instructions to a language model (prompt injection)."""
    return bool(_INJECTION.search(text))


def split_source(source: Source) -> list[Passage]:
    """The passages of one source, in reading order; none that carries instructions to a model."""
    if source.kind not in KINDS:
        raise ValueError(f"unknown knowledge kind {source.kind!r}")
    text = html_to_text(source.text)
    return [
        Passage(
            source.key,
            i,
            source.kind,
            source.title,
            window,
            source.url,
            source.product_id,
            source.question,
            source.customer_id,
        )
        for i, window in enumerate(windows(text))
        if not looks_like_injection(window) and not looks_like_injection(source.question or "")
    ]


def split_sources(sources: list[Source]) -> list[Passage]:
    return [p for s in sources for p in split_source(s)]
