"""The support agent's knowledge per shop: its sources from the mirror (product descriptions and options,
imported reviews, the merchant's FAQ) and from Shopify (policies, pages; fetched by the job), their passages
with vectors in ``knowledge_passage``, and the shop's index for answering. No commits.

Syncing is idempotent: a source is split again, and only passages whose text changed are re-embedded; the
passages of a source that is gone are deleted. Sources are grouped by *family* (``product``, ``review``,
``faq``, ``policy``, ``page``): a sync replaces whole families, so a family it did not fetch is left alone.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from sqlalchemy import delete, func
from sqlmodel import Session, select

from app.catalog.embedder import Embedder
from app.embedding import get_query_embedder
from app.knowledge.answer import GroundedAnswer, grounded_answer
from app.knowledge.passages import Passage, Source, split_source
from app.knowledge.ranker import KnowledgeIndex, load_model, rank
from app.knowledge.rephrase import accept, prompt
from app.llm.client import ChatClient, LlmError
from app.models.base import utcnow
from app.models.commerce import Product, ProductVariant
from app.models.feedback import ProductReview
from app.models.knowledge import KnowledgePassage, SupportFaq
from app.stores.support_threshold import answer_threshold

FAMILIES = ("product", "review", "faq", "policy", "page", "spec")  # spec: a product's metafields (Admin API)


def family_of(source_key: str) -> str:
    return source_key.split(":", 1)[0]


# --- sources from the mirror ---------------------------------------------------------------------------


def product_sources(session: Session, shop_id: int, product_ids: Iterable[int] | None = None) -> list[Source]:
    """Each live, active product's description and its options (variant titles and prices)."""
    query = select(Product).where(Product.shop_id == shop_id, Product.deleted_at.is_(None))  # type: ignore[union-attr]
    if product_ids is not None:
        query = query.where(Product.shopify_id.in_(list(product_ids)))  # type: ignore[attr-defined]
    products = [p for p in session.exec(query).all() if (p.status or "active").lower() == "active"]
    variants: dict[int, list[ProductVariant]] = {}
    if products:
        for v in session.exec(
            select(ProductVariant)
            .where(
                ProductVariant.shop_id == shop_id,
                ProductVariant.product_shopify_id.in_([p.shopify_id for p in products]),  # type: ignore[attr-defined]
            )
            .order_by(ProductVariant.product_shopify_id, ProductVariant.position)  # type: ignore[arg-type]
        ).all():
            variants.setdefault(v.product_shopify_id, []).append(v)
    out: list[Source] = []
    for p in products:
        title = p.title or f"Product {p.shopify_id}"
        url = f"/products/{p.handle}" if p.handle else f"/products/{p.shopify_id}"
        if (p.body_html or "").strip():
            out.append(
                Source(
                    f"product:{p.shopify_id}:description",
                    "description",
                    title,
                    p.body_html or "",
                    url,
                    p.shopify_id,
                )
            )
        names = [v.title for v in variants.get(p.shopify_id, []) if v.title and v.title != "Default Title"]
        if names:
            text = f"{title} comes in: {'; '.join(names)}."
            out.append(Source(f"product:{p.shopify_id}:options", "option", title, text, url, p.shopify_id))
    return out


def review_sources(session: Session, shop_id: int) -> list[Source]:
    """The shop's imported reviews with text, each linked to its product's page."""
    rows = session.exec(
        select(ProductReview, Product.title, Product.handle)
        .join(
            Product,
            (Product.shop_id == ProductReview.shop_id)  # type: ignore[arg-type]
            & (Product.shopify_id == ProductReview.product_shopify_id),
        )
        .where(ProductReview.shop_id == shop_id, Product.deleted_at.is_(None))  # type: ignore[union-attr]
    ).all()
    out = []
    for review, title, handle in rows:
        text = " ".join(x for x in (review.title, review.body) if x and x.strip())
        if text:
            url = f"/products/{handle}" if handle else f"/products/{review.product_shopify_id}"
            label = f"A review of {title}" if title else "A customer review"
            out.append(
                Source(
                    f"review:{review.review_key}",
                    "review",
                    label,
                    text,
                    url,
                    review.product_shopify_id,
                    customer_id=review.customer_shopify_id,
                )
            )
    return out


def faq_sources(session: Session, shop_id: int) -> list[Source]:
    return [
        Source(f"faq:{f.id}", "faq", f.question, f.answer, None, None, f.question)
        for f in session.exec(
            select(SupportFaq).where(SupportFaq.shop_id == shop_id).order_by(SupportFaq.id)
        ).all()  # type: ignore[arg-type]
    ]


# --- passages ---------------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    sources: int = 0
    passages: int = 0
    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def replace_families(
    session: Session,
    shop_id: int,
    families: Iterable[str],
    sources: list[Source],
    embedder: Embedder,
    *,
    only_keys: Iterable[str] | None = None,
) -> SyncReport:
    """Make the stored passages of ``families`` exactly ``sources``' (or, with ``only_keys``, of just those
    source keys): unchanged passages keep their vectors, changed and new ones are embedded, the rest deleted."""
    families = set(families)
    unknown = families - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown knowledge families: {sorted(unknown)}")
    passages: dict[tuple[str, int], Passage] = {}
    for source in sources:
        if family_of(source.key) not in families:
            raise ValueError(f"source {source.key} is outside {sorted(families)}")
        for p in split_source(source):
            passages[(p.source_key, p.position)] = p
    keys = set(only_keys) if only_keys is not None else None
    stored = [
        row
        for row in session.exec(select(KnowledgePassage).where(KnowledgePassage.shop_id == shop_id)).all()
        if family_of(row.source_key) in families and (keys is None or row.source_key in keys)
    ]
    report = SyncReport(sources=len(sources), passages=len(passages))
    by_key = {(r.source_key, r.position): r for r in stored}
    todo: list[tuple[Passage, KnowledgePassage | None]] = []
    now = utcnow()
    for key, passage in passages.items():
        row = by_key.pop(key, None)
        if row is not None and row.digest == passage.digest() and row.model == embedder.name:
            about = (passage.title[:255], passage.url, passage.kind, passage.product_id, passage.customer_id)
            if (row.title, row.url, row.kind, row.product_shopify_id, row.customer_shopify_id) != about:
                row.title, row.url, row.kind, row.product_shopify_id, row.customer_shopify_id = about
                session.add(row)
            report.unchanged += 1
            continue
        todo.append((passage, row))
    for row in by_key.values():
        session.delete(row)
        report.deleted += 1
    if todo:
        texts = [p.text for p, _ in todo]
        questions = [p.question for p, _ in todo if p.question]
        vectors = embedder.embed(texts + questions)
        question_vectors = iter(vectors[len(texts) :])
        for (passage, row), vector in zip(todo, vectors[: len(texts)], strict=True):
            row = row or KnowledgePassage(
                shop_id=shop_id, source_key=passage.source_key, position=passage.position
            )
            row.kind, row.title, row.text = passage.kind, passage.title[:255], passage.text
            row.question, row.url, row.product_shopify_id = passage.question, passage.url, passage.product_id
            row.customer_shopify_id = passage.customer_id
            row.digest, row.model, row.dim = passage.digest(), embedder.name, embedder.dim
            row.vector = KnowledgePassage.pack(vector)
            row.question_vector = KnowledgePassage.pack(next(question_vectors)) if passage.question else None
            row.updated_at = now
            session.add(row)
        report.embedded = len(todo)
    session.flush()
    return report


def forget_sources(session: Session, shop_id: int, source_keys: Iterable[str]) -> int:
    """Delete the passages of these sources (an erased customer's reviews, a deleted FAQ entry)."""
    keys = list(source_keys)
    if not keys:
        return 0
    result = session.exec(  # type: ignore[call-overload]
        delete(KnowledgePassage).where(
            KnowledgePassage.shop_id == shop_id,
            KnowledgePassage.source_key.in_(keys),  # type: ignore[attr-defined]
        )
    )
    return int(result.rowcount or 0)


# --- the shop's index -----------------------------------------------------------------------------------

CACHED_SHOPS = 16  # a web worker keeps the indexes of the shops asked most recently
_cache_lock = threading.Lock()
_cache: OrderedDict[int, tuple[tuple, KnowledgeIndex]] = OrderedDict()


def knowledge_counts(session: Session, shop_id: int) -> dict[str, int]:
    """How many passages the shop's assistant answers from, by kind."""
    rows = session.exec(
        select(KnowledgePassage.kind, func.count())
        .where(KnowledgePassage.shop_id == shop_id)
        .group_by(KnowledgePassage.kind)
    ).all()
    return {kind: int(n) for kind, n in rows}


def knowledge_version(session: Session, shop_id: int) -> tuple[int, datetime | None]:
    return tuple(  # type: ignore[return-value]
        session.exec(
            select(func.count(), func.max(KnowledgePassage.updated_at)).where(
                KnowledgePassage.shop_id == shop_id
            )
        ).one()
    )


def shop_index(session: Session, shop_id: int, model: str) -> KnowledgeIndex:
    """The shop's passages under embedder ``model`` as an index, rebuilt only when they changed (cached per
    process for the CACHED_SHOPS shops asked most recently, keyed by the passages' count and newest update)."""
    version = (*knowledge_version(session, shop_id), model)
    with _cache_lock:
        hit = _cache.get(shop_id)
        if hit is not None and hit[0] == version:
            _cache.move_to_end(shop_id)
            return hit[1]
    rows = session.exec(
        select(KnowledgePassage)
        .where(KnowledgePassage.shop_id == shop_id, KnowledgePassage.model == model)
        .order_by(KnowledgePassage.source_key, KnowledgePassage.position)  # type: ignore[arg-type]
    ).all()
    passages = [
        Passage(r.source_key, r.position, r.kind, r.title, r.text, r.url, r.product_shopify_id, r.question)
        for r in rows
    ]
    dim = rows[0].dim if rows else 1
    index = KnowledgeIndex(
        passages,
        np.stack([r.unpack() for r in rows]) if rows else np.zeros((0, dim), np.float32),
        np.stack([r.unpack_question() for r in rows]) if rows else np.zeros((0, dim), np.float32),
    )
    with _cache_lock:
        _cache[shop_id] = (version, index)
        _cache.move_to_end(shop_id)
        while len(_cache) > CACHED_SHOPS:
            _cache.popitem(last=False)
    return index


def scope_positions(index: KnowledgeIndex, product_id: int | None) -> list[int] | None:
    """Positions a question about ``product_id`` is answered from: that product's passages and the shop-wide
    ones (policies, pages, FAQ); None (the whole index) without a product."""
    if product_id is None:
        return None
    return [i for i, p in enumerate(index.passages) if p.product_id in (None, product_id)]


def answer_question(
    session: Session,
    shop_id: int,
    question: str,
    *,
    product_id: int | None = None,
    embedder: Embedder | None = None,
    threshold: float | None = None,
    llm: ChatClient | None = None,
) -> GroundedAnswer | None:
    """The shop's grounded answer to ``question`` (scoped to ``product_id``'s passages and the shop-wide
    ones), or None: no knowledge, or no passage confident enough. The ranking is ``app.knowledge.ranker.rank``,
    the function ``attune backtest support`` measures."""
    found, hits = _answers(session, shop_id, [question], product_id, embedder, threshold)[0]
    if found is None or llm is None:
        return found
    return _rephrased(llm, question, found, [h.passage.text for h in hits[:REPHRASE_PASSAGES]])


def answer_questions(
    session: Session,
    shop_id: int,
    questions: list[str],
    *,
    product_id: int | None = None,
    embedder: Embedder | None = None,
) -> list[GroundedAnswer | None]:
    """``answer_question`` for several questions at once (one embedding batch): the product page's offers."""
    return [found for found, _ in _answers(session, shop_id, questions, product_id, embedder, None)]


def _answers(
    session: Session,
    shop_id: int,
    questions: list[str],
    product_id: int | None,
    embedder: Embedder | None,
    threshold: float | None,
) -> list[tuple[GroundedAnswer | None, list]]:
    if not questions or knowledge_version(session, shop_id)[0] == 0:
        return [(None, []) for _ in questions]  # nothing synced yet: no model to load
    embedder = embedder or get_query_embedder()  # the web's NumPy MiniLM: loaded once per process
    index = shop_index(session, shop_id, embedder.name)
    if len(index) == 0:
        return [(None, []) for _ in questions]
    model = load_model()
    cut = answer_threshold(session, shop_id, model.threshold) if threshold is None else threshold
    among = scope_positions(index, product_id)
    out = []
    for question, vector in zip(questions, embedder.embed(questions), strict=True):
        hits = rank(index, question, vector, model=model, among=among)
        out.append((grounded_answer(hits, cut), hits))
    return out


REPHRASE_PASSAGES = 3


def _rephrased(llm: ChatClient, question: str, found: GroundedAnswer, passages: list[str]) -> GroundedAnswer:
    """The model's wording of the answer where it stays grounded in the passages it cites, else ``found``."""
    if found.text not in passages:
        passages = [found.text, *passages[: REPHRASE_PASSAGES - 1]]
    try:
        reply = llm.complete(prompt(question, passages))
    except LlmError:
        return found
    accepted = accept(reply, passages)
    if accepted is None:
        return found
    return replace(found, text=accepted[0], rephrased=True)
