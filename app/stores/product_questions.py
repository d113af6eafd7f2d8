"""The questions the assistant offers on a product page before the shopper asks (``app.knowledge.product_questions``
proposes them from its description, variants, specifications and reviews, and what was asked on its page): only
those the shop's knowledge answers with confidence, so a click always gets an answer, each with its answer's
source. No commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app.catalog.embedder import Embedder
from app.knowledge.product_questions import MAX_OFFERED, candidates
from app.models.commerce import Product, ProductVariant
from app.models.feedback import SupportMessage
from app.models.knowledge import KnowledgePassage
from app.stores.knowledge import answer_questions

ASKED_BEFORE = 5  # past questions on the product's page looked at, most asked first
MAX_CANDIDATES = 10  # questions tried per product (one embedding batch)
RAISING_KINDS = ("metafield", "review")  # besides its description, what raises questions about a product


def asked_before(session: Session, shop_id: int, product_id: int) -> list[str]:
    """The questions shoppers asked most on this product's page."""
    rows = session.exec(
        select(SupportMessage.text, func.count())
        .where(
            SupportMessage.shop_id == shop_id,
            SupportMessage.product_shopify_id == product_id,
            SupportMessage.role == "shopper",
        )
        .group_by(SupportMessage.text)
        .order_by(func.count().desc(), SupportMessage.text)
        .limit(ASKED_BEFORE)
    ).all()
    return [text for text, _ in rows]


def product_questions(
    session: Session, shop_id: int, product_id: int, embedder: Embedder | None = None
) -> list[dict[str, Any]]:
    """Up to ``MAX_OFFERED`` questions about the product, each with the source its answer quotes; [] for a
    product the shop does not sell."""
    product = session.exec(
        select(Product).where(
            Product.shop_id == shop_id, Product.shopify_id == product_id, Product.deleted_at.is_(None)
        )  # type: ignore[union-attr]
    ).first()
    if product is None:
        return []
    titles = session.exec(
        select(ProductVariant.title).where(
            ProductVariant.shop_id == shop_id, ProductVariant.product_shopify_id == product_id
        )
    ).all()
    asked = asked_before(session, shop_id, product_id)
    said = (
        session.exec(  # its specifications (metafields) and its reviews, as the shop's knowledge holds them
            select(KnowledgePassage.text)
            .where(
                KnowledgePassage.shop_id == shop_id,
                KnowledgePassage.product_shopify_id == product_id,
                KnowledgePassage.kind.in_(RAISING_KINDS),  # type: ignore[attr-defined]
            )
            .limit(50)
        ).all()
    )
    text = " ".join([product.body_html or "", *said])
    wanted = candidates(text, [t for t in titles if t], asked, product.title)[:MAX_CANDIDATES]
    answers = answer_questions(session, shop_id, wanted, product_id=product_id, embedder=embedder)
    offered = [
        {"question": q, "source": found.source_title, "kind": found.kind}
        for q, found in zip(wanted, answers, strict=True)
        if found is not None
    ]
    return offered[:MAX_OFFERED]
