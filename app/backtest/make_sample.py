"""Cut ``app/data/online_retail_sample.csv.gz``: a few hundred Online Retail II customers, whole histories.

Usage: ``python -m app.backtest.make_sample [--source ../shared/data/online_retail_ii] [--customers 250]``.
Customers with at least two orders are drawn at random (seed 5), a third of them among customers with returns,
and every line of theirs (returns included) is kept, so the sample is a faithful slice of the shop.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from app.backtest.datasets import convert_online_retail, write_transactions

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "app" / "data" / "online_retail_sample.csv.gz"


def cut(source: Path, customers: int, seed: int = 5):
    frame = convert_online_retail(source)
    orders = frame[frame["quantity"] > 0].groupby("customer_id")["order_id"].nunique()
    eligible = orders[(orders >= 2) & (orders <= 40)].index
    with_returns = set(frame.loc[frame["quantity"] < 0, "customer_id"]) & set(eligible)
    rng = np.random.default_rng(seed)
    n_ret = customers // 3
    ret = rng.choice(sorted(with_returns), n_ret, replace=False)
    rest = sorted(set(eligible) - set(ret))
    other = rng.choice(rest, customers - n_ret, replace=False)
    chosen = set(ret) | set(other)
    sample = frame[frame["customer_id"].isin(chosen)].sort_values(["ordered_at", "order_id", "product_id"])
    return sample.drop(columns=["tags"]).assign(tags="")


@click.command()
@click.option(
    "--source", type=click.Path(path_type=Path), default=ROOT.parent / "shared/data/online_retail_ii"
)
@click.option("--customers", default=250, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=OUT)
def main(source: Path, customers: int, out: Path) -> None:
    sample = cut(source, customers)
    write_transactions(sample, out)
    click.echo(f"{out}: {len(sample)} lines, {sample['customer_id'].nunique()} customers")


if __name__ == "__main__":
    main()
