"""Competitor prices for one shop: the feed's lines stored (one row per competitor and item, replaced by a new
import), matched to the shop's variants (GTIN = the barcode pricing keeps from product webhooks, SKU), and
read back for the comparison. Barcodes are recorded from ``products/*`` webhooks. No commits; scoped by shop."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from app.agents.competitors import CompetitorRow, OurVariant, match
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
            f"{title or ''} {v.title or ''}".strip(),
            float(v.price or 0),
            v.sku,
            barcodes.get(v.shopify_id),
        )  # fmt: skip
        for v, title in rows
    ]


def store_feed(
    session: Session, shop_id: int, competitor: str, rows: Sequence[CompetitorRow]
) -> dict[str, int]:
    """Replace this competitor's lines with the feed's; returns how many were stored and matched."""
    ours = our_variants(session, shop_id)
    by_gtin = {v.barcode: v.variant_id for v in ours if v.barcode}
    by_sku = {v.sku.lower(): v.variant_id for v in ours if v.sku}
    for old in session.exec(
        select(CompetitorPrice).where(
            CompetitorPrice.shop_id == shop_id, CompetitorPrice.competitor == competitor
        )
    ).all():
        session.delete(old)
    session.flush()
    matched = 0
    seen: set[str] = set()
    for r in rows:
        if r.item_id in seen:
            continue
        seen.add(r.item_id)
        vid, how = match(r, by_gtin, by_sku)
        matched += vid is not None
        session.add(CompetitorPrice(
            shop_id=shop_id, competitor=competitor, item_id=r.item_id, price=Decimal(f"{r.price:.2f}"),
            currency=r.currency, gtin=r.gtin, mpn=(r.mpn or "")[:128] or None, title=(r.title or "")[:255] or None,
            link=(r.link or "")[:2048] or None, variant_id=vid, matched_by=how,
        ))  # fmt: skip
    return {"stored": len(seen), "matched": matched}


def market(session: Session, shop_id: int) -> dict[int, list[tuple[str, float]]]:
    out: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for vid, who, price in session.exec(
        select(CompetitorPrice.variant_id, CompetitorPrice.competitor, CompetitorPrice.price).where(
            CompetitorPrice.shop_id == shop_id,
            CompetitorPrice.variant_id.is_not(None),  # type: ignore[union-attr]
        )
    ).all():
        if price is not None:
            out[int(vid)].append((who, float(price)))
    return out
