"""Semantic product search per shop over the stored product vectors (``product_embedding``).

Each process keeps one :class:`SimilarityIndex` per (database, shop), built from the rows embedded by the
process's embedder. Before a search it asks the database one cheap question — how many rows and the newest
``updated_at`` for the shop — and rebuilds the index only when that version moved. Stock is re-read at most
every ``STOCK_TTL`` seconds; out-of-stock products are never returned (the proxy re-checks live cards too).
The query text is embedded with :func:`app.embedding.get_query_embedder` (loaded once per process): in a web
worker that is MiniLM computed with NumPy, never torch (``app/embedding/minilm_numpy.py``), whose vectors and
name are those of the worker's torch model that embedded the products.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, select

from app.catalog.index import SimilarityIndex
from app.catalog.stock import variant_availability
from app.config import get_settings
from app.db import get_engine
from app.embedding import Embedder, get_query_embedder
from app.models.catalog import ProductEmbedding
from app.models.commerce import Product, ProductVariant

log = logging.getLogger(__name__)

STOCK_TTL = 30.0
MAX_SHOPS = 64  # indexes kept per process (least recently used goes first)

Version = tuple[int, datetime | None, str]


@dataclass
class ShopIndex:
    """One shop's index and the products it must not return (replaced whole, never edited in place)."""

    version: Version
    index: SimilarityIndex
    unavailable: frozenset[int]
    stock_checked: float


_lock = threading.Lock()
_indexes: OrderedDict[tuple[str, int], ShopIndex] = OrderedDict()


def embeddings_version(session: Session, shop_id: int, model: str) -> Version:
    """(row count, newest update) of the shop's vectors made by ``model``: changes whenever they change."""
    count, newest = session.exec(
        select(func.count(ProductEmbedding.id), func.max(ProductEmbedding.updated_at)).where(
            ProductEmbedding.shop_id == shop_id, ProductEmbedding.model == model
        )
    ).one()
    return int(count or 0), newest, model


def load_vectors(session: Session, shop_id: int, model: str) -> tuple[list[int], np.ndarray]:
    """The shop's product ids and their stored vectors made by ``model``, of live products only."""
    rows = session.exec(
        select(ProductEmbedding.product_shopify_id, ProductEmbedding.dim, ProductEmbedding.vector)
        .join(
            Product,
            (Product.shop_id == ProductEmbedding.shop_id)
            & (Product.shopify_id == ProductEmbedding.product_shopify_id),
        )
        .where(
            ProductEmbedding.shop_id == shop_id,
            ProductEmbedding.model == model,
            Product.deleted_at.is_(None),
        )
        .order_by(ProductEmbedding.product_shopify_id)
    ).all()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    dim = rows[0][1]
    ids = [int(pid) for pid, d, _ in rows if d == dim]
    matrix = np.stack([np.frombuffer(v, dtype="<f4", count=d) for _, d, v in rows if d == dim])
    return ids, matrix.astype(np.float32, copy=False)


def out_of_stock(session: Session, shop_id: int, product_ids: Iterable[int]) -> set[int]:
    """Products with no sellable variant (inventory levels when known, else variant quantity)."""
    ids = list(product_ids)
    if not ids:
        return set()
    variants = session.exec(select(ProductVariant).where(ProductVariant.shop_id == shop_id)).all()
    sellable = variant_availability(session, shop_id, variants)
    has_variant: set[int] = set()
    in_stock: set[int] = set()
    for v in variants:
        has_variant.add(v.product_shopify_id)
        if sellable.get(v.shopify_id):
            in_stock.add(v.product_shopify_id)
    return {pid for pid in ids if pid in has_variant and pid not in in_stock}


def shop_index(database_url: str, shop_id: int, embedder: Embedder | None = None) -> SimilarityIndex | None:
    """The shop's current index (cached per process, rebuilt when its vectors changed); None when empty."""
    embedder = embedder or get_query_embedder()
    key = (database_url, shop_id)
    with Session(get_engine(database_url)) as session:
        version = embeddings_version(session, shop_id, embedder.name)
        with _lock:
            entry = _indexes.get(key)
        now = time.monotonic()
        if entry is None or entry.version != version:
            ids, matrix = load_vectors(session, shop_id, embedder.name)
            if not ids:
                with _lock:
                    _indexes.pop(key, None)
                return None
            index = SimilarityIndex(ids, matrix, embedder=embedder)
            entry = ShopIndex(version, index, frozenset(out_of_stock(session, shop_id, ids)), now)
        elif now - entry.stock_checked > STOCK_TTL:
            unavailable = frozenset(out_of_stock(session, shop_id, entry.index.ids.tolist()))
            entry = ShopIndex(version, entry.index, unavailable, now)
    with _lock:
        _indexes[key] = entry
        _indexes.move_to_end(key)
        while len(_indexes) > MAX_SHOPS:
            _indexes.popitem(last=False)
    return entry


def search_shop(
    database_url: str, shop_id: int, query: str, k: int = 10, *, sold_out: bool = False
) -> list[tuple[int, float]]:
    """(product id, cosine score) of the shop's in-stock products nearest in meaning to ``query``; with
    ``sold_out``, of all its products (the support assistant names a sold-out best match and offers a
    "notify me")."""
    query = query.strip()
    if not query or k <= 0:
        return []
    entry = shop_index(database_url, shop_id)
    if entry is None:
        return []
    exclude = frozenset() if sold_out else entry.unavailable
    return [(n.product_id, n.score) for n in entry.index.search(query, k, exclude=exclude)]


def clear_cache() -> None:
    with _lock:
        _indexes.clear()


def warm_up_search(preload: bool | None = None) -> float | None:
    """Load the query embedder now and run one tiny batch (seconds taken; None when preloading is off).

    ``get_query_embedder`` loads it once per process under a lock, so a search that arrives meanwhile waits for
    this load instead of starting a second one."""
    if preload is None:
        preload = get_settings().attune_search_preload
    if not preload:
        return None
    started = time.perf_counter()
    get_query_embedder().embed(["warm-up"])
    return time.perf_counter() - started


def prepare_web_worker() -> None:
    """A freshly started web worker (gunicorn ``post_worker_init``): preload the search embedder before the
    first request. A failure is logged and the model then loads on the first search."""
    try:
        seconds = warm_up_search()
    except Exception:  # search degrades to a lazy load; the worker still serves everything else
        log.warning("search embedder preload failed; it loads on the first search", exc_info=True)
        return
    if seconds is not None:
        log.info("search embedder %s loaded in %.0f ms", get_query_embedder().name, seconds * 1000)
