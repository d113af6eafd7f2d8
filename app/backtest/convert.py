"""``attune backtest convert``: a public dataset → the transactions CSV every backtest reads.

The converters live in :mod:`app.backtest.datasets` (which also documents the format); this is their command.
"""

from __future__ import annotations

from pathlib import Path

import click

from app.backtest.datasets import CONVERTERS, SHARED_DATA, DatasetError, write_transactions

ALIASES = {
    "online-retail": "online_retail_ii",
    "online_retail": "online_retail_ii",
    "complete-journey": "completejourney_8451",
    "completejourney": "completejourney_8451",
    "instacart": "instacart_sample",
}
SOURCE_FILES = {
    "online_retail_ii": "online_retail_II_2009-2010.csv.gz and online_retail_2010-2011.csv.gz",
    "completejourney_8451": "transactions.parquet and products.parquet",
    "instacart_sample": "instacart_prior_orders_sample.csv.gz, products.csv.gz, aisles.csv, departments.csv",
}


@click.command(
    "convert",
    epilog="""\b
Datasets (folder under ../shared/data, or --source):
  online_retail_ii      UCI Online Retail II, both files, deduplicated on their overlap;
                        products only, known customers; negative quantities are returns
  completejourney_8451  84.51 Complete Journey: household = customer, basket = order
  instacart_sample      Instacart prior orders: times rebuilt from days_since_prior_order;
                        product_type = aisle, tags = department
Aliases: online-retail, complete-journey, instacart.

\b
Output: one row per order line, header
  customer_id,order_id,ordered_at,product_id,product_title,quantity,unit_price,
  product_type,vendor,tags
(ordered_at ISO 8601; a negative quantity is a return). Gzipped when OUT ends in .gz.
Then: attune backtest recommendations --data OUT""",
)
@click.argument("dataset", type=click.Choice(sorted([*CONVERTERS, *ALIASES])), metavar="DATASET")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The dataset's folder. Default: ../shared/data/<DATASET>.")  # fmt: skip
def convert(dataset: str, out: Path, source: Path | None) -> None:
    """Convert DATASET into the transactions CSV OUT (the format of `attune backtest recommendations`)."""
    name = ALIASES.get(dataset, dataset)
    folder = source if source is not None else SHARED_DATA / name
    if not folder.is_dir():
        raise click.UsageError(f"{folder} not found: pass --source DIR (it holds {SOURCE_FILES[name]})")
    try:
        frame = CONVERTERS[name](folder)
    except FileNotFoundError as exc:
        raise click.UsageError(f"{exc.filename or exc}: missing (need {SOURCE_FILES[name]})") from exc
    except (KeyError, ValueError, DatasetError) as exc:
        raise click.ClickException(f"{folder} is not a {name} folder: {exc}") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    write_transactions(frame, out)
    returns = int((frame["quantity"] < 0).sum())
    click.echo(
        f"{out}: {len(frame)} lines, {frame['customer_id'].nunique()} customers, "
        f"{frame['order_id'].nunique()} orders, {frame['product_id'].nunique()} products"
        + (f", {returns} return lines" if returns else "")
    )
