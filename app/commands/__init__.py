"""CLI subcommands, one module per feature (registered in app/cli.py)."""
