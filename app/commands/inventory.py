"""``attune inventory forecast SHOP``: the shop's demand forecasts and reorder decisions now, with a progress bar."""

from __future__ import annotations

import click
from sqlmodel import Session

from app.config import SettingsError, get_settings
from app.db import get_engine
from app.stores.shops import installed_shop


@click.group()
def inventory() -> None:
    """The inventory agent: demand forecasts, stock-out dates, reorder suggestions (issue 19)."""


@inventory.command("forecast")
@click.argument("shop")
def forecast(shop: str) -> None:
    """Forecast every variant of SHOP and store its stock-out date, cover and reorder suggestion."""
    from tqdm import tqdm

    from app.jobs.inventory import forecast_shop

    try:
        settings = get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    with Session(get_engine(settings.database_url)) as session:
        row = installed_shop(session, shop)
    if row is None:
        raise click.ClickException(f"{shop} is not an installed shop")
    bar = tqdm(desc="variants", unit=" variants")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        stored = forecast_shop(row.id, settings, progress=progress)
    finally:
        bar.close()
    click.echo(f"{shop}: {stored} variants forecast")
