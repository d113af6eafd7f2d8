"""Use-case inference: a shop's interests ("outdoor gear", "coffee") found from product clusters, with names.

Each product gets one feature vector: its content (the stored embedding, or TF-IDF of its title, type and tags
when it has none) and, once the shop has orders, its co-purchase profile (which orders it appears in, reduced
with a truncated SVD), each part unit length and weighted. Products are clustered with k-means (cosine, on unit
rows); k is picked by the silhouette score over a small grid, so a catalogue with three obvious groups gets three
interests and a flat one gets few. Each cluster is named in the merchant's own vocabulary: the product type, tag or
collection most particular to it (in-cluster share × log lift over the catalogue). Names are unique per shop:
a cluster whose best phrase is taken uses its next best free phrase, or joins the interest of that name. Only a
catalogue with no types, tags or collections falls back to distinctive title words ("camping & hiking").

The words and names come from ``app.recommend.interest_terms``. Plain Python over plain data: products in,
:class:`Interest` rows out. The job ``app.jobs.interests`` loads and
stores them per shop.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from app.recommend.interest_terms import (
    CatalogueItem,
    distinctive_terms,
    interest_name,
    item_terms,
    slug,
    vocabulary,
    vocabulary_names,
)

MIN_PRODUCTS = 6  # below this a shop has no interests worth naming
MIN_CLUSTER = 2  # a cluster smaller than this is not an interest
MAX_INTERESTS = 30  # the cap up to 1,800 products; above, √(n/2)
EXACT_SILHOUETTE = 4000  # above this many products, k is chosen on a sample's silhouette
CONTENT_WEIGHT = 1.0
COPURCHASE_WEIGHT = 1.0


@dataclass
class Interest:
    """One inferred interest: a readable name, the words behind it, and its products (most central first)."""

    key: str
    name: str
    terms: list[str]
    product_ids: list[str]
    score: float = 0.0  # silhouette of the cluster (how well separated it is)
    sources: list[str] = field(default_factory=list)  # "content", "co-purchase"

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "name": self.name,
            "terms": list(self.terms),
            "product_ids": list(self.product_ids),
            "size": len(self.product_ids),
            "score": round(float(self.score), 4),
            "sources": list(self.sources),
        }


# --- features ------------------------------------------------------------------------------------


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def content_features(items: Sequence[CatalogueItem], max_dims: int = 64) -> np.ndarray:
    """TF-IDF of type, tags and title words, reduced by SVD: the content part when a shop has no vectors."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for r, item in enumerate(items):
        for term in item_terms(item):
            rows.append(r)
            cols.append(vocab.setdefault(term, len(vocab)))
    if not vocab:
        return np.zeros((len(items), 1))
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(items), len(vocab)))
    df = np.asarray((x > 0).sum(axis=0)).ravel()
    x = x.multiply(np.log((1 + len(items)) / (1 + df)) + 1.0).tocsr()
    return _reduce(x, max_dims)


def _reduce(x: sp.spmatrix | np.ndarray, max_dims: int) -> np.ndarray:
    """Rows of ``x`` in at most ``max_dims`` dimensions (truncated SVD), unit length."""
    n, d = x.shape
    dims = min(max_dims, n - 1, d - 1)
    if dims < 2:
        dense = x.toarray() if sp.issparse(x) else np.asarray(x)
        return _unit_rows(dense)
    from scipy.sparse.linalg import svds  # heavy: scipy.sparse.linalg, only when clustering

    u, s, _ = svds(sp.csr_matrix(x, dtype=np.float64), k=dims, random_state=0)
    return _unit_rows(u * s)


def copurchase_features(order_item: sp.spmatrix, max_dims: int = 32) -> np.ndarray | None:
    """Each item's column of the order × item incidence, reduced: items bought in the same orders end close.

    Returns None when there is too little co-purchase to say anything (fewer than two multi-item orders)."""
    x = sp.csr_matrix(order_item, dtype=np.float64)
    x.data[:] = 1.0
    multi = np.asarray(x.sum(axis=1)).ravel() >= 2
    if multi.sum() < 2:
        return None
    x = x[multi]
    # cosine-style normalisation: popular items do not swamp the factors
    col = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
    x = x.multiply(1.0 / np.where(col > 0, col, 1.0)).tocsc()
    feats = _reduce(x.T.tocsr(), max_dims)
    feats[col == 0] = 0.0
    return feats


def combined_features(
    items: Sequence[CatalogueItem],
    vectors: np.ndarray | None = None,
    order_item: sp.spmatrix | None = None,
) -> tuple[np.ndarray, list[str]]:
    """One unit row per product from content (``vectors`` or TF-IDF) and co-purchase (``order_item``:
    orders × the same products, in the same order), with the sources used."""
    content = _unit_rows(vectors) if vectors is not None else content_features(items)
    parts, sources = [CONTENT_WEIGHT * content], ["content"]
    if order_item is not None and order_item.shape[1] == len(items):
        co = copurchase_features(order_item)
        if co is not None:
            parts.append(COPURCHASE_WEIGHT * co)
            sources.append("co-purchase")
    return _unit_rows(np.hstack(parts)), sources


# --- clustering ----------------------------------------------------------------------------------


def _kmeans(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    from sklearn.cluster import KMeans  # heavy: scikit-learn, only when clustering

    return KMeans(n_clusters=k, n_init=4 if len(x) <= 20_000 else 2, random_state=seed).fit_predict(x)


def _simplified_silhouettes(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row: cosine distance to its own centroid vs the nearest other centroid, O(n·k)."""
    clusters = np.unique(labels)
    centroids = _unit_rows(np.vstack([x[labels == c].mean(axis=0) for c in clusters]))
    dist = 1.0 - x @ centroids.T  # rows are unit length
    own = np.searchsorted(clusters, labels)
    a = dist[np.arange(len(x)), own]
    dist[np.arange(len(x)), own] = np.inf
    b = dist.min(axis=1)
    return (b - a) / np.maximum(np.maximum(a, b), 1e-12)


def _silhouettes(x: np.ndarray, labels: np.ndarray, sample: np.ndarray | None) -> tuple[float, np.ndarray]:
    """(mean silhouette, per-row silhouette). Exact (cosine) up to ``EXACT_SILHOUETTE`` rows; above, the mean is
    taken on a fixed random sample and the per-row values are the simplified silhouette (O(n²) would not fit a
    50,000-product shop)."""
    from sklearn.metrics import silhouette_samples  # heavy: scikit-learn, only when clustering

    if sample is None:
        sil = silhouette_samples(x, labels, metric="cosine")
        return float(sil.mean()), sil
    if len(np.unique(labels[sample])) < 2:
        return -1.0, _simplified_silhouettes(x, labels)
    mean = float(silhouette_samples(x[sample], labels[sample], metric="cosine").mean())
    return mean, _simplified_silhouettes(x, labels)


def cluster(x: np.ndarray, *, seed: int = 0, max_k: int = MAX_INTERESTS) -> tuple[np.ndarray, np.ndarray]:
    """(cluster label, silhouette) per row; k picked by the mean silhouette over a small grid."""
    n = len(x)
    hi = min(max(max_k, round(math.sqrt(n / 2))), n // MIN_CLUSTER, n - 1)  # a big catalogue: finer interests
    if hi < 2:
        return np.zeros(n, dtype=np.int64), np.zeros(n)
    grid = sorted(
        {k for k in (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, round(math.sqrt(n / 2))) if 2 <= k <= hi}
    )
    sample = None
    if n > EXACT_SILHOUETTE:
        sample = np.sort(np.random.default_rng(seed).choice(n, EXACT_SILHOUETTE, replace=False))
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for k in grid:
        labels = _kmeans(x, k, seed)
        if len(np.unique(labels)) < 2:
            continue
        mean, sil = _silhouettes(x, labels, sample)
        if best is None or mean > best[0] + 1e-9:
            best = (mean, labels, sil)
    if best is None:
        return np.zeros(n, dtype=np.int64), np.zeros(n)
    return best[1], best[2]


def unique_name(
    members: list[int],
    items: Sequence[CatalogueItem],
    vocab: Sequence[list[str]],
    vocab_df: Counter,
    terms: Sequence[list[str]],
    df: Counter,
    taken: set[str],
) -> str:
    """A cluster's name, distinct from ``taken`` unless it is the merchant's own word for both.

    The merchant's best phrase (type, tag, collection) for the cluster; when another interest has it, the two
    clusters become one interest (a shop has one "Kitchen"). A cluster without vocabulary is named by its title
    words, then numbered if still taken."""
    n = len(items)
    phrases = vocabulary_names(members, items, vocab, vocab_df)
    if phrases:
        return phrases[0]
    top = distinctive_terms(members, terms, df, n)
    name = interest_name(members, items, top)
    if name in taken and len(top) > 2:
        name = f"{name} & {top[2]}"
    base, number = name, 2
    while name in taken:
        name, number = f"{base} {number}", number + 1
    return name


def infer_interests(
    items: Sequence[CatalogueItem],
    vectors: np.ndarray | None = None,
    order_item: sp.spmatrix | None = None,
    *,
    seed: int = 0,
) -> list[Interest]:
    """The shop's interests, biggest first. ``vectors`` (one row per item) and ``order_item`` (orders × items)
    are optional; products are never in two interests, and products that fit no cluster well are left out."""
    n = len(items)
    if n < MIN_PRODUCTS:
        return []
    x, sources = combined_features(items, vectors, order_item)
    labels, sil = cluster(x, seed=seed)
    terms = [item_terms(item) for item in items]
    df = Counter(t for ts in terms for t in ts)
    vocab = [vocabulary(item) for item in items]
    vocab_df = Counter(t for v in vocab for t in v)
    groups = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[sil[members] > 0] if len(members) > MIN_CLUSTER else members  # drop misfits
        if len(members) >= MIN_CLUSTER:
            groups.append(members.tolist())
    named: dict[str, list[int]] = {}
    for members in sorted(groups, key=lambda m: (-len(m), m[0])):  # the biggest cluster names first
        name = unique_name(members, items, vocab, vocab_df, terms, df, set(named))
        named.setdefault(name, []).extend(members)
    out: list[Interest] = []
    used: set[str] = set()
    for name, member_list in named.items():
        members = np.asarray(member_list)
        centroid = x[members].mean(axis=0)
        members = members[np.argsort(-(x[members] @ centroid), kind="stable")]
        key = slug(name)
        while key in used:
            key = f"{key}-{len(used)}"
        used.add(key)
        out.append(
            Interest(
                key,
                name,
                distinctive_terms(members.tolist(), terms, df, n),
                [items[m].product_id for m in members],
                float(sil[members].mean()),
                list(sources),
            )
        )
    out.sort(key=lambda i: (-len(i.product_ids), i.key))
    return out


def interest_of(interests: Sequence[Interest]) -> dict[str, Interest]:
    """Product id → its interest."""
    return {pid: interest for interest in interests for pid in interest.product_ids}


def shopper_interests(
    bought: Sequence[str], interests: Sequence[Interest], min_items: int = 2
) -> list[tuple[Interest, int]]:
    """The interests a shopper has shown (at least ``min_items`` distinct products bought in it), strongest first."""
    of = interest_of(interests)
    counts = Counter(of[p].key for p in set(bought) if p in of)
    by_key = {i.key: i for i in interests}
    return [
        (by_key[k], c) for k, c in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0])) if c >= min_items
    ]
