"""Competitor prices without scraping: the merchant's Google Merchant Center style feed (CSV or tab-separated,
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


def parse_feed(text: str) -> tuple[list[CompetitorRow], list[dict[str, object]]]:
    """(readable rows, rejected lines with their reasons). Line numbers count the header as line 1."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise FeedError("the file is empty")
    delimiter = "\t" if text.split("\n", 1)[0].count("\t") > text.split("\n", 1)[0].count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip().lower().removeprefix("g:") for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise FeedError("the file has no header line") from exc
    missing = [c for c in ("id", "price") if c not in header]
    if missing:
        raise FeedError("missing column(s): " + ", ".join(missing))
    rows: list[CompetitorRow] = []
    rejected: list[dict[str, object]] = []
    try:
        for line, record in enumerate(reader, start=2):
            if not any(c.strip() for c in record):
                continue
            if len(rows) + len(rejected) >= MAX_ROWS:
                raise FeedError(f"more than {MAX_ROWS} lines")
            cell = {name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header)}
            price = _price(cell.get("price", ""))
            sale = _price(cell.get("sale_price", "")) if cell.get("sale_price") else None
            gtin = cell.get("gtin") or None
            if not cell.get("id"):
                rejected.append({"line": line, "reason": "id is empty"})
            elif price is None or price[0] <= 0:
                rejected.append(
                    {"line": line, "reason": f"price {cell.get('price')!r} is not an amount like 19.99 USD"}
                )
            elif cell.get("sale_price") and sale is None:
                rejected.append(
                    {"line": line, "reason": f"sale_price {cell.get('sale_price')!r} is not an amount"}
                )
            elif gtin is not None and not _GTIN.match(gtin):
                rejected.append({"line": line, "reason": f"gtin {gtin!r} is not 8-14 digits"})
            else:
                amount, currency = min(price, sale) if sale and sale[0] > 0 else price
                rows.append(CompetitorRow(line, cell["id"][:128], amount, currency, gtin,
                                          (cell.get("mpn") or None), (cell.get("title") or None),
                                          (cell.get("link") or None)))  # fmt: skip
    except csv.Error as exc:
        raise FeedError(f"unreadable CSV: {exc}") from exc
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
