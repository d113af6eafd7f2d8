"""``attune bench all``: every benchmark in turn, then ``BENCHMARKS.md`` rebuilt from ``benchmarks/*.md``."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

BENCHES = ["ingest", "worker", "proxy", "embed", "storefront", "outbox", "freshness", "backfill", "memory"]
# Backtests take minutes each on real data: `make bench` keeps their last recorded pages (their commands are
# in each page) and indexes them too.
ORDER = [
    "ingest",
    "ingest-postgresql",
    "worker",
    "proxy",
    "storefront",
    "outbox",
    "outbox-postgresql",
    "embed",
    "freshness",
    "backfill",
    "memory",
    "recommendations",
    "sessions",
    "similarity",
    "query-embedder",
    "profiles",
    "uplift",
    "replenishment",
    "support",
]


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def build_index(folder: Path, out: Path) -> None:
    pages = sorted(
        folder.glob("*.md"), key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem)
    )
    parts = [
        "# Benchmarks",
        "",
        "Every speed figure sits next to a peer measured in the same run on the same machine (these machines are",
        "shared and noisy: compare ratios, not absolute numbers). Quality figures (backtests) come with their",
        "baselines from the same run. Each section names the command that reproduces it.",
        "",
        f"Index rebuilt {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()} by `make bench`.",
        "",
    ]
    for page in pages:
        text = page.read_text().strip()
        if text.startswith("# "):
            text = "#" + text  # each page's title becomes a section
        parts += [text, "", f"_Source: `{page}`_", ""]
    out.write_text("\n".join(parts))


@click.command("all")
@click.option(
    "--write",
    "out",
    default="BENCHMARKS.md",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The index to rewrite.",
)
@click.option("--only", multiple=True, type=click.Choice(BENCHES), help="Run only these (repeatable).")
@click.option("--index-only", is_flag=True, help="Rebuild the index from benchmarks/*.md without running.")
def all_(out: Path, only: tuple[str, ...], index_only: bool) -> None:
    """Run every `attune bench …` (each in its own process) and rebuild BENCHMARKS.md."""
    failed = []
    for name in [] if index_only else (only or BENCHES):
        click.echo(f"==> attune bench {name}", err=True)
        started = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", "app", "bench", name])
        click.echo(f"<== {name}: exit {rc} in {time.perf_counter() - started:.0f} s", err=True)
        if rc != 0:
            failed.append(name)
    build_index(Path("benchmarks"), out)
    click.echo(f"wrote {out}")
    if failed:
        raise click.ClickException(f"benchmarks failed: {', '.join(failed)}")
