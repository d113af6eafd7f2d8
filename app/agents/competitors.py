"""Competitor prices without scraping: the merchant's Google Merchant Center style feed (CSV, tab-separated, or
XML: RSS 2.0 or Atom 1.0 with the ``g:`` namespace, read by ``parse_xml_feed`` with DTDs and entities refused;
uploaded as a file or fetched from its URL), read line by line (a bad line is reported with its number and
reason, the good ones are kept), matched to the shop's variants by GTIN (the variant's barcode) or by SKU (the
feed's ``mpn`` or ``id``), else by title embedding (cosine similarity of the two titles' vectors of at least
``TITLE_MATCH_MIN``: only a suggestion until the merchant confirms it), and compared: where the shop is above or
below the market, by how much, and which matched competitor undercuts by more than its alert threshold. Pure.

Columns (Merchant Center names; case-insensitive): ``id`` (required), ``price`` (required, ``"19.99 USD"`` or
``19.99``), ``sale_price`` (used when lower), ``gtin``, ``mpn``, ``title``, ``link``, ``brand``."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

import numpy as np

MAX_ROWS = 50_000
TITLE_MATCH_MIN = 0.75  # all-MiniLM-L6-v2 cosine: the same product under two shops' wording scores above this
_PRICE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]{1,2})?)\s*([A-Za-z]{3})?\s*$")
_GTIN = re.compile(r"^[0-9]{8,14}$")


class FeedError(ValueError):
    """A file that cannot be read at all (400)."""


@dataclass(frozen=True)
class CompetitorRow:
    line: int
    item_id: str
    price: float
    currency: str | None
    gtin: str | None
    mpn: str | None
    title: str | None
    link: str | None


def _price(text: str) -> tuple[float, str | None] | None:
    m = _PRICE.match(text or "")
    if not m:
        return None
    return float(m.group(1).replace(",", ".")), (m.group(2) or "").upper() or None


def _row(line: int, cell: Mapping[str, str]) -> CompetitorRow | dict[str, object]:
    """One line or item's cells (Merchant Center names) as a row, or its rejection with the reason."""
    price = _price(cell.get("price", ""))
    sale = _price(cell.get("sale_price", "")) if cell.get("sale_price") else None
    gtin = cell.get("gtin") or None
    if not cell.get("id"):
        return {"line": line, "reason": "id is empty"}
    if price is None or price[0] <= 0:
        return {"line": line, "reason": f"price {cell.get('price')!r} is not an amount like 19.99 USD"}
    if cell.get("sale_price") and sale is None:
        return {"line": line, "reason": f"sale_price {cell.get('sale_price')!r} is not an amount"}
    if gtin is not None and not _GTIN.match(gtin):
        return {"line": line, "reason": f"gtin {gtin!r} is not 8-14 digits"}
    amount, currency = min(price, sale) if sale and sale[0] > 0 else price
    return CompetitorRow(line, cell["id"][:128], amount, currency, gtin, (cell.get("mpn") or None),
                         (cell.get("title") or None), (cell.get("link") or None))  # fmt: skip


def _collect(
    cells: Sequence[tuple[int, Mapping[str, str]]],
) -> tuple[list[CompetitorRow], list[dict[str, object]]]:
    if len(cells) > MAX_ROWS:
        raise FeedError(f"more than {MAX_ROWS} lines")
    rows: list[CompetitorRow] = []
    rejected: list[dict[str, object]] = []
    for line, cell in cells:
        (rows if isinstance(r := _row(line, cell), CompetitorRow) else rejected).append(r)  # type: ignore[arg-type]
    return rows, rejected


def parse_feed(text: str) -> tuple[list[CompetitorRow], list[dict[str, object]]]:
    """(readable rows, rejected lines with their reasons). CSV/TSV line numbers count the header as line 1;
    an XML feed (``parse_xml_feed``) reports each bad item by its number and the line it starts on."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise FeedError("the file is empty")
    if text.lstrip().startswith("<"):
        return parse_xml_feed(text)
    delimiter = "\t" if text.split("\n", 1)[0].count("\t") > text.split("\n", 1)[0].count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip().lower().removeprefix("g:") for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise FeedError("the file has no header line") from exc
    missing = [c for c in ("id", "price") if c not in header]
    if missing:
        raise FeedError("missing column(s): " + ", ".join(missing))
    cells: list[tuple[int, dict[str, str]]] = []
    try:
        for line, record in enumerate(reader, start=2):
            if not any(c.strip() for c in record):
                continue
            if len(cells) >= MAX_ROWS:
                raise FeedError(f"more than {MAX_ROWS} lines")
            cells.append(
                (
                    line,
                    {name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header)},
                )
            )
    except csv.Error as exc:
        raise FeedError(f"unreadable CSV: {exc}") from exc
    return _collect(cells)


_G = "http://base.google.com/ns/1.0"
_ATOM = "http://www.w3.org/2005/Atom"
_FIELDS = ("id", "title", "link", "price", "sale_price", "gtin", "mpn", "brand")


def parse_xml_feed(text: str) -> tuple[list[CompetitorRow], list[dict[str, object]]]:
    """A Merchant Center XML feed: RSS 2.0 (``rss/channel/item``) or Atom 1.0 (``feed/entry``), the fields in
    the ``g:`` namespace (``http://base.google.com/ns/1.0``; a plain RSS ``title``/``link`` or Atom ``title``,
    ``link href``, ``id`` where the ``g:`` one is missing). Each bad item is rejected with its number
    (``item``, from 1) and the line it starts on (``line``), the others kept.

    Safe against hostile XML: a document type declaration (``<!DOCTYPE``, where entities are declared: the
    "billion laughs" expansion, external entities reading files or URLs) is refused before anything in it is
    read, and neither parameter nor external entities are ever resolved (the stdlib's expat, no dependency)."""
    items: list[tuple[int, dict[str, str]]] = []
    path: list[str] = []
    state: dict[str, Any] = {"item": None, "field": None, "text": []}
    root: list[str] = []

    def refuse(*_args: object) -> None:
        raise FeedError(
            "the XML declares a document type or entities (<!DOCTYPE …>): refused, a feed has none"
        )

    def start(name: str, attrs: dict[str, str]) -> None:
        ns, _, local = name.rpartition("|")
        if not path:
            root.append(local)
            if (ns, local) not in (("", "rss"), (_ATOM, "feed")):
                raise FeedError("an XML feed must be RSS 2.0 (<rss><channel><item>) or Atom (<feed><entry>)")
        path.append(name)
        if state["item"] is None and local in ("item", "entry") and ns in ("", _ATOM) and len(path) <= 3:
            if len(items) >= MAX_ROWS:
                raise FeedError(f"more than {MAX_ROWS} items")
            state["item"] = (len(path), parser.CurrentLineNumber, {}, {})
        elif state["item"] is not None and len(path) == state["item"][0] + 1:
            key = local if ns == _G else f"plain:{local}" if ns in ("", _ATOM) else None
            state["field"], state["text"] = key, []
            if key == "plain:link" and attrs.get("href"):
                state["item"][3]["link"] = attrs["href"].strip()

    def end(name: str) -> None:
        item = state["item"]
        if item is not None and len(path) == item[0] + 1 and state["field"]:
            key, value = state["field"], "".join(state["text"]).strip()
            if key.startswith("plain:"):
                item[3].setdefault(key[6:], value) if value else None
            else:
                item[2][key] = value
            state["field"] = None
        if item is not None and len(path) == item[0]:
            _, line, g, plain = item
            cell = {f: g[f] if f in g else plain.get(f, "") for f in _FIELDS}
            items.append((line, cell))
            state["item"] = None
        path.pop()

    def chars(data: str) -> None:
        if state["field"] is not None:
            state["text"].append(data)

    parser = expat.ParserCreate(namespace_separator="|")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, chars
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise FeedError(f"unreadable XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from exc
    rows: list[CompetitorRow] = []
    rejected: list[dict[str, object]] = []
    for n, (line, cell) in enumerate(items, start=1):
        row = _row(line, cell)
        rows.append(row) if isinstance(row, CompetitorRow) else rejected.append({"item": n, **row})
    return rows, rejected


@dataclass(frozen=True)
class OurVariant:
    variant_id: int
    title: str
    price: float
    sku: str | None
    barcode: str | None


def match(
    row: CompetitorRow, by_gtin: Mapping[str, int], by_sku: Mapping[str, int]
) -> tuple[int | None, str | None]:
    if row.gtin and row.gtin in by_gtin:
        return by_gtin[row.gtin], "gtin"
    for key in (row.mpn, row.item_id):
        if key and key.lower() in by_sku:
            return by_sku[key.lower()], "sku"
    return None, None


def compare(
    ours: Sequence[OurVariant], theirs: Mapping[int, Sequence[tuple[str, float]]], alert_pct: float
) -> list[dict[str, object]]:
    """Per matched variant: our price, the lowest competitor price, the gap (+ = we are above the market) and
    whether a competitor undercuts by more than ``alert_pct``."""
    out = []
    for v in ours:
        offers = theirs.get(v.variant_id) or ()
        if not offers or v.price <= 0:
            continue
        competitor, lowest = min(offers, key=lambda o: o[1])
        gap = (v.price - lowest) / lowest
        out.append({
            "variant_id": v.variant_id, "title": v.title, "price": v.price, "market_low": lowest,
            "competitor": competitor, "competitors": len(offers), "gap": round(gap, 4),
            "position": "above" if gap > 0.005 else "below" if gap < -0.005 else "at",
            "alert": gap > alert_pct,
        })  # fmt: skip
    return sorted(out, key=lambda r: -float(r["gap"]))  # type: ignore[arg-type]


def title_matches(
    theirs: np.ndarray, ours: np.ndarray, min_score: float = TITLE_MATCH_MIN
) -> list[tuple[int, int, float]]:
    """(competitor row, our variant, score) for each competitor title whose closest variant title (unit vectors,
    cosine similarity) reaches ``min_score``."""
    if not len(theirs) or not len(ours):
        return []
    sims = np.asarray(theirs, dtype=np.float32) @ np.asarray(ours, dtype=np.float32).T
    best = sims.argmax(axis=1)
    return [(i, int(j), float(sims[i, j])) for i, j in enumerate(best) if sims[i, j] >= min_score]


@dataclass(frozen=True)
class Offer:
    competitor: str
    item_id: str
    price: float


def undercuts(
    ours: Sequence[OurVariant], offers: Mapping[int, Sequence[Offer]], thresholds: Mapping[str, float]
) -> list[tuple[OurVariant, Offer, float]]:
    """(our variant, the competitor's offer, undercut) wherever a matched competitor's price is more than its
    threshold (a share: 0.05 = 5 %) below ours; undercut = (ours − theirs) / ours, how much cheaper they are."""
    out = []
    for v in ours:
        for o in offers.get(v.variant_id) or ():
            if o.price > 0 and v.price > 0:
                cut = (v.price - o.price) / v.price
                if cut > thresholds.get(o.competitor, 0.05) + 1e-9:
                    out.append((v, o, round(cut, 4)))
    return out
