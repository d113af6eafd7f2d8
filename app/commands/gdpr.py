"""``attune gdpr export SHOP CUSTOMER_ID``: everything stored about one customer of one shop, as JSON."""

from __future__ import annotations

import click
from sqlmodel import Session, select

from app.config import SettingsError, get_settings
from app.db import get_engine
from app.models.shop import Shop


@click.group()
def gdpr() -> None:
    """Privacy requests (exports; erasure arrives as Shopify's compliance webhooks)."""


@gdpr.command("export")
@click.argument("shop")
@click.argument("customer_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to a file.")
def export(shop: str, customer_id: int, output: str | None) -> None:
    """Export SHOP's data about CUSTOMER_ID (a Shopify customer id)."""
    from app.commerce.privacy import export_customer, export_json

    try:
        settings = get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    with Session(get_engine(settings.database_url)) as session:
        row = session.exec(select(Shop).where(Shop.domain == shop)).first()
        if row is None:
            raise click.ClickException(f"unknown shop {shop}")
        text = export_json(export_customer(session, row.id, customer_id))
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text)
