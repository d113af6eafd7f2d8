"""Does another query embedder find the same neighbours? ``attune backtest similarity --query-embedder KIND``.

In production the worker embeds the catalogue with one MiniLM backend (torch) and the web process embeds search
queries with another (NumPy, ``app/embedding/minilm_numpy.py``). This replays that split on the similarity
backtest: the index holds the catalogue embedder's vectors, each test query is embedded again from its name by
the query embedder, and its top-k under the backtest's chosen setting is compared with the top-k the catalogue
embedder's own vector of the query gives. Reported per lexical weight (the chosen one, and 0: the embedding
alone, as the storefront search ranks): the share of queries whose top-k list is identical (same products, same
order), the mean share of the k products both lists hold, and precision@k of each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from app.catalog.embed_jobs import embed_texts
from app.catalog.embedder import Embedder
from app.catalog.hybrid import HybridIndex, combine
from app.catalog.index import top_k_rows

CHUNK = 1024


def neighbours_of_vectors(
    index: HybridIndex, positions: np.ndarray, query_vectors: np.ndarray, k: int, weights: Sequence[float]
) -> dict[float, np.ndarray]:
    """Top-k positions for query products at ``positions`` whose embedding is ``query_vectors`` (raw, as an
    embedder returns them) rather than the index's own rows: the lexical part, self-exclusion and unavailable
    products are those of ``index.neighbour_positions``."""
    out = {w: np.full((len(positions), k), -1, np.int64) for w in weights}
    dense_index = index.index
    for start in range(0, len(positions), CHUNK):
        q = positions[start : start + CHUNK]
        dense = dense_index.prepare_queries(query_vectors[start : start + CHUNK]) @ dense_index.vectors.T
        lexical = (index.lexical[q] @ index._lexical_t).toarray()
        for w in weights:
            scores = combine(dense, lexical, w)
            scores[:, dense_index._mask] = -np.inf
            scores[np.arange(len(q)), q] = -np.inf
            out[w][start : start + len(q)] = top_k_rows(scores, k)[0]
    return out


def list_agreement(old: np.ndarray, new: np.ndarray) -> dict[str, float]:
    """Share of rows with identical lists, and mean share of each row's k entries found in both lists."""
    if len(old) == 0:
        return {"identical": 1.0, "overlap": 1.0}
    identical = float((old == new).all(axis=1).mean())
    overlap = float(
        np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(old.tolist(), new.tolist(), strict=True)])
    )
    return {"identical": identical, "overlap": overlap}


def compare_query_embedder(
    index: HybridIndex,
    names: Sequence[str],
    positions: np.ndarray,
    old_neighbours: dict[float, np.ndarray],
    query_embedder: Embedder,
    *,
    catalogue_embedder: Embedder,
    k: int,
    labels: np.ndarray,
    batch_size: int,
    precision: Callable[[np.ndarray, np.ndarray, np.ndarray], float],
    progress: Callable[[int], None] | None = None,
) -> dict:
    """The agreement report (plain data) of ``query_embedder`` against ``old_neighbours`` (weight → top-k
    positions of the queries at ``positions``, from the index's own vectors)."""
    started = time.perf_counter()
    vectors = embed_texts(
        query_embedder, [names[i] for i in positions], batch_size=batch_size, progress=progress
    )
    embed_seconds = time.perf_counter() - started
    own = index.index.vectors[positions]  # the catalogue embedder's vectors, in index space
    theirs = index.index.prepare_queries(vectors)
    new = neighbours_of_vectors(index, positions, vectors, k, sorted(old_neighbours))
    weights = {}
    for w, old in sorted(old_neighbours.items()):
        weights[f"{w:g}"] = {
            **list_agreement(old, new[w]),
            "precision_old": precision(old, labels[positions], labels),
            "precision_new": precision(new[w], labels[positions], labels),
        }
    return {
        "catalogue_embedder": f"{type(catalogue_embedder).__name__} ({catalogue_embedder.name})",
        "query_embedder": query_embedder.name,
        "query_backend": type(query_embedder).__name__,
        "queries": int(len(positions)),
        "k": k,
        "max_abs_vector_difference": float(np.abs(theirs - own).max()) if len(own) else 0.0,
        "min_cosine": float((theirs * own).sum(axis=1).min()) if len(own) else 1.0,
        "by_lexical_weight": weights,
        "embed_seconds": embed_seconds,
        "queries_per_s": len(positions) / embed_seconds if embed_seconds > 0 else float("inf"),
    }


def format_agreement(r: dict) -> list[str]:
    lines = [
        f"Query embedder {r['query_backend']} ({r['query_embedder']}) vs the catalogue embedder's own vectors "
        f"({r['catalogue_embedder']}), {r['queries']} test queries: max |Δ| {r['max_abs_vector_difference']:.1e}, "
        f"min cosine {r['min_cosine']:.6f}"
    ]
    for w, a in r["by_lexical_weight"].items():
        lines.append(
            f"  lexical={w}: identical top-{r['k']} {a['identical']:.2%}, overlap {a['overlap']:.4%}, "
            f"precision@{r['k']} {a['precision_old']:.4f} → {a['precision_new']:.4f}"
        )
    return lines


def markdown_agreement(r: dict, report: dict, command: str) -> str:
    rows = "\n".join(
        f"| {w}{' (chosen)' if float(w) > 0 else ' (embedding alone, as the storefront search ranks)'} | "
        f"{a['identical']:.2%} | {a['overlap']:.4%} | {a['precision_old']:.4f} | {a['precision_new']:.4f} |"
        for w, a in r["by_lexical_weight"].items()
    )
    return f"""# Query embedder agreement: MiniLM on NumPy (web workers) vs the catalogue's torch vectors

Command: `{command}`

Machine: {report["machine"]}

Catalogue: {report["catalogue"]} — {report["products"]} products, embedded by the catalogue embedder
`{r["catalogue_embedder"]}` (the worker's). Each of the {r["queries"]} test queries of the
similarity backtest is embedded again from its name by the query embedder `{r["query_backend"]}`
(`{r["query_embedder"]}`), and its top-{r["k"]} under the backtest's chosen setting
({report["ours"]["config"]}) is compared with the top-{r["k"]} of the catalogue embedder's own vector.

Vectors: max absolute difference {r["max_abs_vector_difference"]:.1e} (in index space, after centering), smallest
cosine between the two embeddings of one name {r["min_cosine"]:.6f}.

| lexical weight | identical top-{r["k"]} lists | products in both top-{r["k"]} | precision@{r["k"]}, own vectors | precision@{r["k"]}, query embedder |
|---|---|---|---|---|
{rows}

Query embedding: {r["queries_per_s"]:.0f} queries/s in batches ({r["embed_seconds"]:.0f} s).
"""
