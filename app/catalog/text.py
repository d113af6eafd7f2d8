"""Product text for embedding, and the content hash that decides whether it must be embedded again.

The text puts the most telling fields first (title, product type, vendor, tags), then the description with
HTML removed and whitespace collapsed, cut at a word boundary. MiniLM reads at most 256 word pieces, so a
long description would be cut anyway; cutting it here keeps the hash stable against edits deep inside a
long description that the model would never see.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable
from html.parser import HTMLParser

MAX_DESCRIPTION_CHARS = 600
MAX_TEXT_CHARS = 1000
TEXT_VERSION = "v1"  # bump when the text recipe changes, so every product is re-embedded once

_WS = re.compile(r"\s+")
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "section", "article", "header", "footer", "blockquote", "hr", "dd", "dt",
}  # fmt: skip
_DROP_TAGS = {"script", "style", "noscript", "template", "iframe", "svg", "head"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_TAGS:
            self._dropping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_TAGS:
            self._dropping = max(0, self._dropping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self.parts.append(data)


def collapse_ws(text: str) -> str:
    return _WS.sub(" ", text).strip()


def strip_html(markup: str | None) -> str:
    """Visible text of an HTML fragment: tags, scripts and styles removed, entities decoded, spaces collapsed."""
    if not markup:
        return ""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return collapse_ws(html.unescape("".join(parser.parts)))


def truncate_words(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when there is one."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-")


def normalise_tags(tags: str | Iterable[str] | None) -> list[str]:
    """Shopify tags (a comma-separated string or a list) as distinct, trimmed strings in their order."""
    if not tags:
        return []
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    seen: dict[str, None] = {}
    for tag in items:
        tag = collapse_ws(str(tag))
        if tag and tag.lower() not in (s.lower() for s in seen):
            seen[tag] = None
    return list(seen)


def product_text(
    title: str | None,
    *,
    product_type: str | None = None,
    vendor: str | None = None,
    tags: str | Iterable[str] | None = None,
    description_html: str | None = None,
    max_description_chars: int = MAX_DESCRIPTION_CHARS,
    max_chars: int = MAX_TEXT_CHARS,
) -> str:
    """One line describing a product, e.g. ``"Merino Socks. Type: Socks. Vendor: Acme. Tags: wool, hiking. …"``."""
    parts = [collapse_ws(title or "")]
    if product_type and collapse_ws(product_type):
        parts.append(f"Type: {collapse_ws(product_type)}")
    if vendor and collapse_ws(vendor):
        parts.append(f"Vendor: {collapse_ws(vendor)}")
    tag_list = normalise_tags(tags)
    if tag_list:
        parts.append("Tags: " + ", ".join(tag_list))
    description = truncate_words(strip_html(description_html), max_description_chars)
    if description:
        parts.append(description)
    text = ". ".join(p.rstrip(".") if i < len(parts) - 1 else p for i, p in enumerate(parts) if p)
    return truncate_words(text, max_chars)


def content_hash(text: str, embedder_name: str = "") -> str:
    """SHA-256 of the text recipe version, the embedder's name and the text: equal hash = same vector."""
    h = hashlib.sha256()
    for part in (TEXT_VERSION, embedder_name, text):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()
