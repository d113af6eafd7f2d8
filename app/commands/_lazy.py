"""Click groups whose subcommands live in their feature modules, imported only when present."""

from __future__ import annotations

import importlib

import click


def add_subcommands(group: click.Group, entries: list[tuple[str, str]]) -> None:
    """Attach ``module:attr`` click commands to ``group``; a module not written yet is skipped."""
    for module_name, attr in entries:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        group.add_command(getattr(module, attr))
