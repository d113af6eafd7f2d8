"""``attune sync SHOP``: backfill a shop from Shopify's bulk operations now, with a progress bar."""

from __future__ import annotations

import click
from sqlmodel import Session, select

from app.config import SettingsError, get_settings
from app.db import get_engine
from app.models.shop import Shop


@click.command("sync")
@click.argument("shop")
@click.option("--since", type=click.DateTime(), default=None, help="Only records updated since (UTC).")
def sync(shop: str, since) -> None:  # noqa: ANN001
    """Read SHOP's products, customers and orders (bulk queries) and upsert them."""
    from datetime import UTC

    from tqdm import tqdm

    from app.jobs.sync import sync_shop

    try:
        settings = get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    with Session(get_engine(settings.database_url)) as session:
        row = session.exec(select(Shop).where(Shop.domain == shop)).first()
    if row is None or not row.is_installed:
        raise click.ClickException(f"{shop} is not an installed shop")
    bars: dict[str, tqdm] = {}

    def progress(resource: str, n: int) -> None:
        if resource not in bars:
            bars[resource] = tqdm(desc=resource, unit=" records")
        bars[resource].update(n)

    try:
        run_id = sync_shop(
            row.id,
            kind="manual",
            updated_since=since.replace(tzinfo=UTC) if since else None,
            progress=progress,
        )
    finally:
        for bar in bars.values():
            bar.close()
    click.echo(f"sync run {run_id} done")
