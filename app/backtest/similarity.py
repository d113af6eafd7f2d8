"""``attune backtest similarity``: same-aisle precision@10 of our product similarity vs TF-IDF char n-grams.

Protocol (fair: both methods see exactly the same input, the product name and nothing else):

- every product of the catalogue is in the index; a query product is never its own neighbour;
- precision@k of a query = share of its k nearest neighbours in the query's aisle; the figure is the mean
  over query products;
- each method picks its free choices on a validation share of the queries (ours: catalogue-mean
  centering on/off and the weight of the word TF-IDF part of the hybrid score, see ``app.catalog.hybrid``;
  TF-IDF: the character n-gram range), and is reported on the other queries.

Data: the Instacart products (``../shared/data/instacart_sample``, 49,688 products in 134 aisles), or with
``--builtin`` a small catalogue shipped in ``app/data`` so the command runs anywhere.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click
import numpy as np

from app.backtest.query_agreement import compare_query_embedder, format_agreement, markdown_agreement
from app.bench.report import write_report
from app.catalog.embed_jobs import embed_texts
from app.catalog.hybrid import WEIGHT_GRID, HybridIndex, lexical_matrix
from app.catalog.index import SimilarityIndex, top_k_rows
from app.embedding import KINDS

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "instacart_sample"
BUILTIN = ROOT / "app" / "data" / "similarity_catalogue.csv"
TARGET_RATIO = 1.10
TFIDF_GRID: tuple[tuple[int, int], ...] = ((1, 3), (2, 4))
SPARSE_CHUNK = 256


@dataclass
class Catalogue:
    names: list[str]
    labels: np.ndarray  # aisle id per product
    source: str


@dataclass
class MethodResult:
    name: str
    precision: float
    config: str
    validation: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def load_instacart(data_dir: Path) -> Catalogue:
    import pandas as pd

    products = pd.read_csv(data_dir / "products.csv.gz")
    return Catalogue(
        names=products["product_name"].astype(str).tolist(),
        labels=products["aisle_id"].to_numpy(),
        source=f"Instacart products ({data_dir})",
    )


def load_builtin() -> Catalogue:
    import pandas as pd

    df = pd.read_csv(BUILTIN)
    labels = pd.factorize(df["aisle"])[0]
    return Catalogue(df["product_name"].tolist(), np.asarray(labels), f"built-in catalogue ({BUILTIN.name})")


def subsample(cat: Catalogue, limit: int | None, seed: int) -> Catalogue:
    if not limit or limit >= len(cat.names):
        return cat
    keep = np.sort(np.random.default_rng(seed).choice(len(cat.names), limit, replace=False))
    return Catalogue([cat.names[i] for i in keep], cat.labels[keep], f"{cat.source}, {limit} sampled")


def precision_at_k(neighbours: np.ndarray, query_labels: np.ndarray, labels: np.ndarray) -> float:
    """Mean share of each query's neighbours (positions; -1 = none) that carry the query's label."""
    valid = neighbours >= 0
    same = (labels[np.maximum(neighbours, 0)] == query_labels[:, None]) & valid
    return float(same.sum(axis=1).mean() / neighbours.shape[1]) if len(neighbours) else 0.0


def dense_neighbours(
    vectors: np.ndarray, queries: np.ndarray, k: int, *, center: bool, bar=None
) -> np.ndarray:
    """k nearest positions (self excluded) for the query positions, with the production index."""
    index = SimilarityIndex(np.arange(len(vectors)), vectors, center=center, min_center_size=0)
    out = np.empty((len(queries), k), dtype=np.int64)
    step = 2048
    for start in range(0, len(queries), step):
        q = queries[start : start + step]
        ids, _ = index.query(index.vectors[q], k, self_positions=q)
        out[start : start + len(q)] = ids
        if bar is not None:
            bar.update(len(q))
    return out


def tfidf_matrix(names: Sequence[str], ngram_range: tuple[int, int]):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=ngram_range, sublinear_tf=True, dtype=np.float32
    )
    return vectorizer.fit_transform(names).tocsr()  # rows are L2-normalised


def sparse_neighbours(matrix, queries: np.ndarray, k: int, bar=None) -> np.ndarray:
    """Exact k nearest positions by cosine of sparse TF-IDF rows (self excluded)."""
    out = np.empty((len(queries), k), dtype=np.int64)
    transposed = matrix.T.tocsr()
    for start in range(0, len(queries), SPARSE_CHUNK):
        q = queries[start : start + SPARSE_CHUNK]
        scores = (matrix[q] @ transposed).toarray()
        scores[np.arange(len(q)), q] = -np.inf
        idx, _ = top_k_rows(scores, k)
        out[start : start + len(q)] = idx
        if bar is not None:
            bar.update(len(q))
    return out


def _config(center: bool, weight: float) -> str:
    return f"center={center}, lexical={weight:g}"


def _hybrid_neighbours(
    index: HybridIndex, queries: np.ndarray, k: int, weights, bar=None
) -> dict[float, np.ndarray]:
    """k nearest positions (self excluded) of each query under each lexical weight, with the production index."""
    out: dict[float, list[np.ndarray]] = {w: [] for w in weights}
    step = 2048
    for start in range(0, len(queries), step):
        q = queries[start : start + step]
        for w, (idx, _) in index.neighbour_positions(q, k, weights=weights).items():
            out[w].append(idx)
        if bar is not None:
            bar.update(len(q))
    return {w: np.concatenate(parts) if parts else np.zeros((0, k), np.int64) for w, parts in out.items()}


def split_queries(n: int, seed: int, validation_share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * validation_share))) if n > 1 else 0
    return np.sort(perm[:n_val]), np.sort(perm[n_val:])


def _bar(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item", disable=quiet, file=sys.stderr, leave=False)


def run_similarity(
    cat: Catalogue,
    embedder,
    *,
    k: int = 10,
    seed: int = 0,
    batch_size: int = 256,
    quiet: bool = False,
    query_embedder=None,
) -> dict:
    """Both methods on ``cat``; returns the report (plain data). With ``query_embedder``, the report also
    says how far its test-query neighbours agree with the catalogue embedder's (``query_agreement``)."""
    n = len(cat.names)
    k = min(k, n - 1)
    val, test = split_queries(n, seed)
    labels = cat.labels

    t0 = time.perf_counter()
    with _bar(n, "embedding names", quiet) as bar:
        vectors = embed_texts(embedder, cat.names, batch_size=batch_size, progress=bar.update)
    embed_seconds = time.perf_counter() - t0
    lexical = lexical_matrix(cat.names)
    indexes = {
        center: HybridIndex(SimilarityIndex(np.arange(n), vectors, center=center, min_center_size=0), lexical)
        for center in (False, True)
    }
    val_scores: dict[str, float] = {}
    for center, index in indexes.items():
        with _bar(len(val), f"validation hybrid kNN (center={center})", quiet) as bar:
            found = _hybrid_neighbours(index, val, k, WEIGHT_GRID, bar)
        for weight, nb in found.items():
            val_scores[_config(center, weight)] = precision_at_k(nb, labels[val], labels)
    best_center, best_weight = max(
        ((c, w) for c in (False, True) for w in WEIGHT_GRID),
        key=lambda cw: (round(val_scores[_config(*cw)], 12), -cw[1], not cw[0]),  # ties: simpler wins
    )
    with _bar(len(test), "hybrid kNN", quiet) as bar:
        found = _hybrid_neighbours(indexes[best_center], test, k, sorted({0.0, best_weight}), bar)
    test_scores = {w: precision_at_k(nb, labels[test], labels) for w, nb in found.items()}
    ours = MethodResult(
        f"{embedder.name} + word TF-IDF (name)",
        test_scores[best_weight],
        _config(best_center, best_weight),
        val_scores,
        time.perf_counter() - t0,
    )
    embedding_only = test_scores[0.0]
    agreement = None
    if query_embedder is not None:
        with _bar(len(test), f"test queries embedded by {type(query_embedder).__name__}", quiet) as bar:
            agreement = compare_query_embedder(
                indexes[best_center],
                cat.names,
                test,
                found,
                query_embedder,
                catalogue_embedder=embedder,
                k=k,
                labels=labels,
                batch_size=batch_size,
                precision=precision_at_k,
                progress=bar.update,
            )

    t0 = time.perf_counter()
    tfidf_val: dict[str, float] = {}
    matrices = {}
    for ngram in TFIDF_GRID:
        matrices[ngram] = tfidf_matrix(cat.names, ngram)
        with _bar(len(val), f"validation TF-IDF {ngram}", quiet) as bar:
            nb = sparse_neighbours(matrices[ngram], val, k, bar=bar)
        tfidf_val[f"char_wb{ngram}"] = precision_at_k(nb, labels[val], labels)
    best_ngram = max(TFIDF_GRID, key=lambda g: tfidf_val[f"char_wb{g}"])
    with _bar(len(test), "TF-IDF kNN", quiet) as bar:
        nb = sparse_neighbours(matrices[best_ngram], test, k, bar=bar)
    baseline = MethodResult(
        "TF-IDF char n-grams (name)",
        precision_at_k(nb, labels[test], labels),
        f"char_wb{best_ngram}, sublinear tf",
        tfidf_val,
        time.perf_counter() - t0,
    )
    ratio = ours.precision / baseline.precision if baseline.precision > 0 else float("inf")
    return {
        "catalogue": cat.source,
        "products": n,
        "aisles": int(len(np.unique(labels))),
        "k": k,
        "queries": {"validation": int(len(val)), "test": int(len(test))},
        "seed": seed,
        "ours": asdict(ours),
        "ours_embedding_only": embedding_only,
        "baseline": asdict(baseline),
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "target_met": bool(ratio >= TARGET_RATIO),
        "embed_seconds": embed_seconds,
        "machine": machine_description(embedder),
        **({"query_agreement": agreement} if agreement is not None else {}),
    }


def machine_description(embedder=None) -> str:
    threads = getattr(embedder, "threads", None)
    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}" + (f", torch threads {threads}" if threads else "")
    )


def format_report(report: dict) -> str:
    ours, base = report["ours"], report["baseline"]
    return "\n".join(
        [
            f"Same-aisle precision@{report['k']} on {report['catalogue']}: {report['products']} products, "
            f"{report['aisles']} aisles; {report['queries']['test']} test queries "
            f"({report['queries']['validation']} for validation)",
            f"  ours      {ours['name']:<42} {ours['precision']:.4f}   [{ours['config']}]",
            f"  baseline  {base['name']:<42} {base['precision']:.4f}   [{base['config']}]",
            f"  ratio ours / baseline: {report['ratio']:.3f} (target ≥ {report['target_ratio']:.2f}: "
            f"{'met' if report['target_met'] else 'NOT met'})",
            f"  ours, embedding alone (lexical=0): {report['ours_embedding_only']:.4f}",
            *(format_agreement(report["query_agreement"]) if "query_agreement" in report else []),
        ]
    )


def markdown_report(report: dict, command: str) -> str:
    ours, base = report["ours"], report["baseline"]
    val_ours = ", ".join(f"{k} {v:.4f}" for k, v in ours["validation"].items())
    val_base = ", ".join(f"{k} {v:.4f}" for k, v in base["validation"].items())
    return f"""# Similarity backtest: same-aisle precision@{report["k"]}

Command: `{command}`

Machine: {report["machine"]}

Catalogue: {report["catalogue"]} — {report["products"]} products, {report["aisles"]} aisles.
Queries: {report["queries"]["test"]} test products ({report["queries"]["validation"]} more used only to pick
each method's settings), seed {report["seed"]}. Every product is in the index; a product is never its own
neighbour. Both methods see the product name only.

| method | setting (picked on validation) | precision@{report["k"]} (test) | validation |
|---|---|---|---|
| ours: {ours["name"]} | {ours["config"]} | **{ours["precision"]:.4f}** | {val_ours} |
| baseline: {base["name"]} | {base["config"]} | {base["precision"]:.4f} | {val_base} |

Ratio ours / baseline: **{report["ratio"]:.3f}** (target ≥ {report["target_ratio"]:.2f}:
{"met" if report["target_met"] else "NOT met"}). Ours with the embedding alone (lexical weight 0, same
centering): {report["ours_embedding_only"]:.4f} (ratio {report["ours_embedding_only"] / base["precision"]:.3f}).

Ours is the production similarity (`app.catalog.hybrid.HybridIndex`, also used for the stores' "similar"
lists): embedding cosine + weight × word TF-IDF cosine over the same name. Its two free choices, centering
and the lexical weight, are picked together on the validation queries only.

Time: embedding {report["embed_seconds"]:.0f} s; our kNN + embedding {ours["seconds"]:.0f} s; TF-IDF
(fit + kNN, both settings) {base["seconds"]:.0f} s.
"""


@click.command("similarity")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=DEFAULT_DATA, show_default=True,
              help="Folder with the Instacart products.csv.gz.")  # fmt: skip
@click.option("--builtin", is_flag=True, help="Use the small built-in catalogue instead of --data.")
@click.option("--limit", type=int, default=None, help="Sample this many products (quick runs).")
@click.option("--k", "k", type=int, default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--embedder", "embedder_kind", type=click.Choice(["minilm", "hashing"]), default=None,
              help="Default: ATTUNE_EMBEDDER (minilm).")  # fmt: skip
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--query-embedder", "query_kind", type=click.Choice(KINDS), default=None,
              help="Also embed the test queries with this embedder (e.g. minilm-numpy, the web's) and compare "
                   "their top-k with the catalogue embedder's own vectors.")  # fmt: skip
@click.option("--query-markdown", type=click.Path(path_type=Path), default=None,
              help="Write that comparison as Markdown (e.g. benchmarks/query-embedder.md).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--markdown", "markdown_out", type=click.Path(path_type=Path), default=None,
              help="Also write the report as Markdown (e.g. benchmarks/similarity.md).")  # fmt: skip
def similarity(
    data_dir: Path,
    builtin: bool,
    limit: int | None,
    k: int,
    seed: int,
    embedder_kind: str | None,
    batch_size: int,
    query_kind: str | None,
    query_markdown: Path | None,
    as_json: bool,
    markdown_out: Path | None,
) -> None:
    """Same-aisle precision@k: our product similarity (embedding + word TF-IDF) vs TF-IDF character n-grams."""
    from app.embedding import get_embedder

    if query_markdown is not None and query_kind is None:
        raise click.UsageError("--query-markdown needs --query-embedder")

    if builtin:
        cat = load_builtin()
    else:
        if not (data_dir / "products.csv.gz").exists():
            raise click.UsageError(f"{data_dir / 'products.csv.gz'} not found (use --data DIR or --builtin)")
        cat = load_instacart(data_dir)
    cat = subsample(cat, limit, seed)
    if len(cat.names) < 3:
        raise click.UsageError("need at least 3 products")
    report = run_similarity(
        cat,
        get_embedder(embedder_kind),
        k=k,
        seed=seed,
        batch_size=batch_size,
        quiet=as_json,
        query_embedder=get_embedder(query_kind) if query_kind else None,
    )
    command = ("attune backtest similarity " + " ".join(sys.argv[3:] if len(sys.argv) > 3 else [])).strip()
    if markdown_out is not None:
        markdown_out.parent.mkdir(parents=True, exist_ok=True)
        markdown_out.write_text(markdown_report(report, command))
    if query_markdown is not None:
        query_markdown.parent.mkdir(parents=True, exist_ok=True)
        write_report(query_markdown, markdown_agreement(report["query_agreement"], report, command))
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
