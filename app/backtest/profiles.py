"""``attune backtest profiles``: derived-profile models against baselines on real public data."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
AREAS = ("intent", "clv", "price", "affinity")


def run(data: Path, only: str | None = None, show_progress: bool = True) -> dict:
    """Run the selected backtests; returns {area: results}."""
    from app.backtest import profiles_clv, profiles_intent, profiles_retail

    bar = tqdm(total=0, file=sys.stderr, disable=not show_progress, bar_format="{desc} [{elapsed}]")

    def progress(msg: str) -> None:
        bar.set_description_str(msg)
        bar.refresh()

    out: dict[str, dict] = {}
    timings: dict[str, float] = {}
    if only in (None, "intent"):
        t = time.perf_counter()
        out["intent"] = profiles_intent.evaluate(data, progress)
        timings["intent"] = time.perf_counter() - t
    if only in (None, "clv"):
        t = time.perf_counter()
        out["clv"] = profiles_clv.evaluate(data, progress)
        timings["clv"] = time.perf_counter() - t
    if only in (None, "price", "affinity"):
        t = time.perf_counter()
        out.update(profiles_retail.evaluate(data, only, progress))
        timings["complete_journey"] = time.perf_counter() - t
    bar.close()
    out["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    return out


def _print_table(results: dict) -> None:
    for area, res in results.items():
        if area == "seconds" or "models" not in res:
            continue
        click.echo(f"\n== {area} ({res.get('dataset', '')})")
        for name, metrics in res["models"].items():
            flat = []
            for k, v in metrics.items():
                if isinstance(v, dict):
                    flat += [f"{k}.{kk}={vv}" for kk, vv in v.items()]
                else:
                    flat.append(f"{k}={v}")
            click.echo(f"  {name:28s} " + "  ".join(flat))
    click.echo(f"\nseconds: {results.get('seconds')}")


@click.command("profiles")
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA,
    show_default=True,
    help="Folder holding the shared datasets.",
)
@click.option("--only", type=click.Choice(AREAS), default=None, help="Run one backtest only.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def profiles(data: Path, only: str | None, as_json: bool) -> None:
    """Intent, lifetime value, price sensitivity and affinity vs baselines (progress on stderr)."""
    if not data.exists():
        raise click.ClickException(f"{data} not found; pass --data DIR")
    results = run(data, only)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        _print_table(results)
