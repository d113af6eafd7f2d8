"""``attune bench …``: speed and memory benchmarks, each against a peer measured in the same run."""

from __future__ import annotations

import click

from app.commands._lazy import add_subcommands


@click.group()
def bench() -> None:
    """Benchmarks; each prints our figure, the peer's figure from the same run, and the ratio."""


add_subcommands(
    bench,
    [
        ("app.bench.ingest", "ingest"),
        ("app.bench.worker", "worker"),
        ("app.bench.proxy", "proxy"),
        ("app.bench.nudge", "nudge"),
        ("app.bench.embed", "embed"),
        ("app.bench.storefront", "storefront"),
        ("app.bench.freshness", "freshness"),
        ("app.bench.backfill", "backfill"),
        ("app.bench.memory", "memory"),
        ("app.bench.outbox", "outbox"),
        ("app.bench.peeking", "peeking"),
        ("app.bench.all", "all_"),
    ],
)
