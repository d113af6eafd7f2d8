"""``attune simulate``: closed-loop checks of the agents against shoppers whose true response is known."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click


@click.group()
def simulate() -> None:
    """Synthetic shoppers with known responses through the real app; measured effect vs the true one."""


def _uplifts(raw: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for part in raw.split(","):
        arm, _, value = part.partition("=")
        try:
            hours, share = int(arm.strip().removesuffix("h")), float(value)
        except ValueError as exc:
            raise click.BadParameter(f"{part!r}: expected like 1h=0.04") from exc
        if hours not in (1, 24, 72) or not 0 <= share <= 1:
            raise click.BadParameter(f"{part!r}: arms are 1h, 24h, 72h and uplifts 0..1")
        out[hours] = share
    if set(out) != {1, 24, 72}:
        raise click.BadParameter("give all three arms: 1h=…,24h=…,72h=…")
    return out


@simulate.command()
@click.option("--sessions", type=click.IntRange(20, 20_000), default=600, show_default=True,
              help="Abandoned checkouts (one shopper each).")  # fmt: skip
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--base", type=click.FloatRange(0, 0.9), default=0.10, show_default=True,
              help="Organic recovery: the share who buy within the week anyway.")  # fmt: skip
@click.option("--uplift", default="1h=0.04,24h=0.12,72h=0.08", show_default=True,
              help="True P(buy because of the first e-mail) per timing arm, for shoppers who would not buy anyway.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON result.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("var/simulate"),
              show_default=True, help="Where the simulation's SQLite file lives (when DATABASE_URL is unset).")  # fmt: skip
def rescue(sessions: int, seed: int, base: float, uplift: str, as_json: bool, workdir: Path) -> None:
    """Abandoned checkouts through the real webhooks, rescue job, orchestrator, relay and admin readout."""
    from app.demo.rescue_sim import Truth, render, run

    truth = Truth(base=base, uplift=_uplifts(uplift))
    t0 = time.perf_counter()
    result = run(sessions, seed, truth, workdir, progress=(lambda _m: None) if as_json else click.echo)
    if as_json:
        keys = ("true_incremental_recovery", "measured_incremental_recovery", "interval", "sessions")
        click.echo(json.dumps({k: result[k] for k in keys}))
        return
    for line in render(result):
        click.echo(line)
    click.echo(f"{time.perf_counter() - t0:.1f} s")


@simulate.command()
@click.option("--shoppers", type=click.IntRange(50, 50_000), default=1000, show_default=True,
              help="Hesitating shoppers (one checkout each, spread over the run).")  # fmt: skip
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--pooled-shops", type=click.IntRange(0, 10), default=0, show_default=True,
              help="Other shops of the installation whose offer statistics (aggregates) are the prior.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON result.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("var/simulate"),
              show_default=True, help="Where the simulation's SQLite file lives (when DATABASE_URL is unset).")  # fmt: skip
def pricing(shoppers: int, seed: int, pooled_shops: int, as_json: bool, workdir: Path) -> None:
    """Shoppers with known responses to each offer through the real app: Attune vs 10 % for everyone vs
    segment tiers vs the oracle, incremental margin per eligible shopper with 95 % intervals."""
    from app.demo.pricing_sim import render, run

    t0 = time.perf_counter()
    progress = (lambda _m: None) if as_json else click.echo
    result = run(shoppers, seed, workdir, progress=progress, pooled_shops=pooled_shops)
    if as_json:
        click.echo(json.dumps({"policies": result["policies"], "shoppers": result["shoppers"]}))
        return
    for line in render(result):
        click.echo(line)
    click.echo(f"{time.perf_counter() - t0:.1f} s")
