"""``attune reviews import SHOP FILE``: product reviews from a CSV export into the shop's customer profiles."""

from __future__ import annotations

import click
from sqlmodel import Session, select

from app.config import SettingsError, get_settings
from app.db import get_engine
from app.models.shop import Shop


@click.group()
def reviews() -> None:
    """Product reviews (imported from a review app's CSV export)."""


@reviews.command("import")
@click.argument("shop")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--source", default="csv", show_default=True, help="Where the reviews come from (judgeme, …).")
@click.option("--queue/--now", "queued", default=False, show_default=True,
              help="Queue the reviewers' profile refresh for the workers instead of running it here.")  # fmt: skip
def import_cmd(shop: str, file, source: str, queued: bool) -> None:
    """Import FILE (CSV; columns in app/commerce/reviews.py) into SHOP (its myshopify.com domain).

    Rows that name no customer or product of the shop are listed and skipped; the rest are stored.
    Re-importing the same file updates the same reviews."""
    from app.commerce.reviews import ReviewFileError
    from app.jobs.reviews import import_reviews

    try:
        settings = get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    with Session(get_engine(settings.database_url)) as session:
        row = session.exec(select(Shop).where(Shop.domain == shop)).first()
    if row is None or row.id is None:
        raise click.ClickException(f"unknown shop {shop}")
    try:
        result = import_reviews(settings, row.id, file.read(), source=source, inline_refresh=not queued)
    except ReviewFileError as exc:
        raise click.ClickException(f"{file.name}: {exc}") from exc
    for rejected in result.rejected:
        click.echo(f"row {rejected['row']}: {rejected['reason']}", err=True)
    click.echo(
        f"{result.stored} stored, {result.updated} updated, {len(result.rejected)} rejected;"
        f" {len(result.customers)} customer profile(s) {'queued for refresh' if queued else 'refreshed'}"
    )
