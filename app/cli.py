"""The ``attune`` command line: serve, worker, cron, db, and the subcommands later modules add."""

from __future__ import annotations

import os
import sys

import click

from app.commands._lazy import add_subcommands
from app.config import SettingsError, get_settings


def _settings():
    try:
        return get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Attune: cooperating AI agents for every Shopify store."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=lambda: int(os.environ.get("PORT", "8000")), show_default="$PORT or 8000")
@click.option("--workers", default=None, type=int, help="Gunicorn worker processes (default: 2 x cores + 1).")
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the web app with gunicorn and production settings."""
    _settings()  # fail fast, before forking
    args = [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf", "-b", f"{host}:{port}"]
    if workers:
        args += ["-w", str(workers)]
    args.append("app.wsgi:app")
    os.execv(sys.executable, args)


@main.command()
@click.option("--queues", default="webhooks,default,low", show_default=True, help="Queues, highest first.")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option(
    "--fork/--no-fork",
    default=True,
    show_default=True,
    help="A work horse per job (--fork), or every job in this process (--no-fork: the fast lane's short jobs).",
)
def worker(queues: str, burst: bool, fork: bool) -> None:
    """Run an RQ worker (heavy models load once per process)."""
    from app.worker import run_worker

    run_worker(_settings(), queues.split(","), burst=burst, fork=fork)


@main.command()
def cron() -> None:
    """Run RQ's cron scheduler with Attune's periodic jobs (sweeper, reconciliation)."""
    from app.worker import run_cron

    run_cron(_settings())


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from app.migrate import upgrade

    upgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


@db.command("revision")
@click.argument("message")
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (developers)."""
    from app.migrate import revision

    revision(_settings().database_url, message)


# Subcommand groups that live with their feature modules.
add_subcommands(
    main,
    [
        ("app.commands.demo", "demo"),
        ("app.commands.sync", "sync"),
        ("app.commands.inventory", "inventory"),
        ("app.commands.gdpr", "gdpr"),
        ("app.commands.reviews", "reviews"),
        ("app.commands.events", "events"),
        ("app.commands.backtest", "backtest"),
        ("app.commands.bench", "bench"),
        ("app.commands.simulate", "simulate"),
    ],
)
