"""Competitor prices for one shop: the feed's lines stored (one row per competitor and item, replaced by a new
import), matched to the shop's variants (GTIN = the barcode pricing keeps from product webhooks and the bulk
sync, SKU; else a title match suggested by the matching job, which counts only once the merchant confirms it),
and read back for the comparison. A confirmed or rejected title match survives the next import of the same item
(same title). Barcodes are recorded from ``products/*`` webhooks and the bulk sync. No commits; scoped by shop."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, select

from app.agents.competitors import CompetitorRow, Offer, OurVariant, match
from app.models.base import utcnow
from app.models.commerce import Product, ProductVariant
from app.models.pricing import CompetitorPrice, VariantCost


def record_barcodes(session: Session, shop_id: int, variants: Iterable[Mapping[str, Any]]) -> None:
    """The barcodes of a product webhook's variants (``barcode``), kept beside their unit costs."""
    found = {int(v["id"]): str(v.get("barcode") or "")[:64] or None
             for v in variants if isinstance(v.get("id"), int)}  # fmt: skip
    if not found:
        return
    rows = {
        r.variant_id: r
        for r in session.exec(
            select(VariantCost).where(
                VariantCost.shop_id == shop_id, VariantCost.variant_id.in_(sorted(found))
            )  # type: ignore[attr-defined]
        ).all()
    }
    for vid, code in found.items():
        row = rows.get(vid)
        if row is None and code is None:
            continue
        row = row or VariantCost(shop_id=shop_id, variant_id=vid)
        row.barcode, row.updated_at = code, utcnow()
        session.add(row)


def our_variants(session: Session, shop_id: int) -> list[OurVariant]:
    barcodes = dict(
        session.exec(
            select(VariantCost.variant_id, VariantCost.barcode).where(
                VariantCost.shop_id == shop_id,
                VariantCost.barcode.is_not(None),  # type: ignore[union-attr]
            )
        ).all()
    )
    rows = session.exec(
        select(ProductVariant, Product.title)
        .join(
            Product,
            (Product.shop_id == ProductVariant.shop_id)
            & (Product.shopify_id == ProductVariant.product_shopify_id),
        )
        .where(ProductVariant.shop_id == shop_id, Product.deleted_at.is_(None))  # type: ignore[union-attr]
    ).all()
    return [
        OurVariant(
            v.shopify_id,
            f"{title or ''} {'' if v.title == 'Default Title' else v.title or ''}".strip(),
            float(v.price or 0),
            v.sku,
            barcodes.get(v.shopify_id),
        )  # fmt: skip
        for v, title in rows
    ]


def store_feed(
    session: Session, shop_id: int, competitor: str, rows: Sequence[CompetitorRow]
) -> dict[str, int]:
    """This competitor's lines become the feed's (rows updated in place, so a title match keeps its id and the
    merchant's decision while the item's title stays the same; items gone from the feed are dropped); returns how
    many were stored and matched."""
    ours = our_variants(session, shop_id)
    by_gtin = {v.barcode: v.variant_id for v in ours if v.barcode}
    by_sku = {v.sku.lower(): v.variant_id for v in ours if v.sku}
    existing = {
        old.item_id: old
        for old in session.exec(
            select(CompetitorPrice).where(
                CompetitorPrice.shop_id == shop_id, CompetitorPrice.competitor == competitor
            )
        ).all()
    }
    matched = 0
    seen: set[str] = set()
    now = utcnow()
    for r in rows:
        if r.item_id in seen:
            continue
        seen.add(r.item_id)
        title = (r.title or "")[:255] or None
        row = existing.get(r.item_id) or CompetitorPrice(
            shop_id=shop_id, competitor=competitor, item_id=r.item_id
        )
        keep_title_match = row.matched_by == "title" and row.title == title
        row.price, row.currency, row.gtin = Decimal(f"{r.price:.2f}"), r.currency, r.gtin
        row.mpn, row.title, row.link = (r.mpn or "")[:128] or None, title, (r.link or "")[:2048] or None
        row.imported_at = now
        vid, how = match(r, by_gtin, by_sku)
        if vid is not None:
            row.variant_id, row.matched_by, row.match_status, row.match_score = vid, how, None, None
        elif not keep_title_match:
            row.variant_id, row.matched_by, row.match_status, row.match_score = None, None, None, None
        matched += row.variant_id is not None and row.match_status not in ("suggested", "rejected")
        session.add(row)
    for item_id, old in existing.items():
        if item_id not in seen:
            session.delete(old)
    session.flush()
    return {"stored": len(seen), "matched": matched}


_COUNTS = or_(
    CompetitorPrice.matched_by.in_(("gtin", "sku")),  # type: ignore[union-attr]
    CompetitorPrice.match_status == "confirmed",
)


def offers(session: Session, shop_id: int) -> dict[int, list[Offer]]:
    """Every matched competitor item per variant: GTIN and SKU matches, and title matches the merchant
    confirmed (a suggestion awaiting confirmation, or a rejected one, does not count)."""
    out: dict[int, list[Offer]] = defaultdict(list)
    for vid, who, item, price in session.exec(
        select(
            CompetitorPrice.variant_id,
            CompetitorPrice.competitor,
            CompetitorPrice.item_id,
            CompetitorPrice.price,
        ).where(CompetitorPrice.shop_id == shop_id, CompetitorPrice.variant_id.is_not(None), _COUNTS)  # type: ignore[union-attr]
    ).all():
        if price is not None:
            out[int(vid)].append(Offer(who, item, float(price)))
    return out


def market(session: Session, shop_id: int) -> dict[int, list[tuple[str, float]]]:
    return {vid: [(o.competitor, o.price) for o in found] for vid, found in offers(session, shop_id).items()}


def unmatched_titles(session: Session, shop_id: int, competitor: str | None = None) -> list[CompetitorPrice]:
    """Competitor items with a title that no GTIN, SKU or earlier title decision matched."""
    query = select(CompetitorPrice).where(
        CompetitorPrice.shop_id == shop_id,
        CompetitorPrice.variant_id.is_(None),  # type: ignore[union-attr]
        CompetitorPrice.match_status.is_(None),  # type: ignore[union-attr]
        CompetitorPrice.title.is_not(None),  # type: ignore[union-attr]
    )
    if competitor is not None:
        query = query.where(CompetitorPrice.competitor == competitor)
    return list(session.exec(query.order_by(CompetitorPrice.id)).all())  # type: ignore[arg-type]


def suggest_title_match(row: CompetitorPrice, variant_id: int, score: float) -> None:
    row.variant_id, row.matched_by, row.match_status, row.match_score = (
        variant_id,
        "title",
        "suggested",
        score,
    )


def title_matches(session: Session, shop_id: int, status: str | None = None) -> list[CompetitorPrice]:
    query = select(CompetitorPrice).where(
        CompetitorPrice.shop_id == shop_id, CompetitorPrice.matched_by == "title"
    )
    if status is not None:
        query = query.where(CompetitorPrice.match_status == status)
    return list(session.exec(query.order_by(CompetitorPrice.match_score.desc(), CompetitorPrice.id)).all())  # type: ignore[union-attr]


def decide_title_match(session: Session, shop_id: int, row_id: int, decision: str) -> CompetitorPrice | None:
    """``confirm`` or ``reject`` one of the shop's title matches; None when there is no such match."""
    row = session.get(CompetitorPrice, row_id)
    if row is None or row.shop_id != shop_id or row.matched_by != "title":
        return None
    row.match_status = "confirmed" if decision == "confirm" else "rejected"
    session.add(row)
    return row
