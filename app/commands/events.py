"""``attune events failed`` and ``attune events replay ID|--all-failed``: the webhook inbox's failures."""

from __future__ import annotations

import click
from sqlmodel import Session, select

from app.config import SettingsError, get_settings
from app.db import get_engine
from app.models.shop import Shop
from webhooks.inbox_queue import failed_events, replay_all_failed
from webhooks.inbox_queue import replay as replay_ids


def _settings():
    try:
        return get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _shop_id(session: Session, domain: str | None) -> int | None:
    if domain is None:
        return None
    shop = session.exec(select(Shop).where(Shop.domain == domain)).first()
    if shop is None:
        raise click.ClickException(f"unknown shop {domain}")
    return shop.id


@click.group()
def events() -> None:
    """Webhook events that failed, and their replay."""


@events.command("failed")
@click.option("--shop", "domain", default=None, help="Only this shop (name.myshopify.com).")
@click.option("--limit", default=100, show_default=True)
def failed(domain: str | None, limit: int) -> None:
    """List failed webhook events, newest first."""
    with Session(get_engine(_settings().database_url)) as session:
        rows = failed_events(session, _shop_id(session, domain), limit)
    if not rows:
        click.echo("no failed events")
        return
    for row in rows:
        click.echo(f"{row.id}\t{row.shop_domain}\t{row.topic}\tattempts={row.attempts}\t{row.error or ''}")


@events.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Replay every failed event.")
@click.option("--shop", "domain", default=None, help="Only this shop's events.")
def replay(ids: tuple[int, ...], all_failed: bool, domain: str | None) -> None:
    """Put failed events back in the queue (they are applied once, whatever happened before)."""
    if bool(ids) == all_failed:
        raise click.UsageError("give event IDs or --all-failed (not both)")
    with Session(get_engine(_settings().database_url)) as session:
        shop_id = _shop_id(session, domain)
    done = replay_all_failed(shop_id) if all_failed else replay_ids(list(ids), shop_id)
    skipped = sorted(set(ids) - set(done))
    click.echo(
        f"replayed {len(done)} event(s)" + (f"; not failed or not found: {skipped}" if skipped else "")
    )
