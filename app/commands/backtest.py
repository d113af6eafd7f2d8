"""``attune backtest …``: offline evaluation on real public datasets."""

from __future__ import annotations

import click

from app.commands._lazy import add_subcommands


@click.group()
def backtest() -> None:
    """Backtests of Attune's models against baselines on real data (../shared/data)."""


add_subcommands(
    backtest,
    [
        ("app.backtest.recommendations", "recommendations"),
        ("app.backtest.sessions", "sessions"),
        ("app.backtest.similarity", "similarity"),
        ("app.backtest.profiles", "profiles"),
        ("app.backtest.uplift", "uplift"),
        ("app.backtest.replenishment", "replenishment"),
        ("app.backtest.demand", "demand"),
        ("app.backtest.convert", "convert"),
        ("app.backtest.support_cli", "support"),
        ("app.backtest.interest_names", "interest_names"),
        ("app.backtest.interest_timing", "interest_timing"),
        ("app.backtest.hesitation_risk", "risk_command"),
    ],
)
