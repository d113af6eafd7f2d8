"""``attune backtest interest-names``: would a merchant accept the interests' names?

On the Instacart sample each product has an aisle (the ground truth of what it is) and a department. The
products bought at least ``--min-orders`` times are clustered by the same ``infer_interests`` the worker runs
(content TF-IDF plus co-purchase), and each interest is checked:

- its name shares a word with the dominant aisle of its products (the issue's target: at least 80 %);
- no two interests share a name; every name is one of the merchant's phrases (type, tag, collection).

Two vocabularies are measured: ``aisle-type`` (the project's converter: product type = aisle, tag =
department, as a grocer's Shopify catalogue would carry them) and ``department-only`` (type = department, no
aisle anywhere: names can reach the aisle only through title words), the harder stress case.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import click
import numpy as np
import pandas as pd
import scipy.sparse as sp

from app.recommend.interest_terms import CatalogueItem, vocabulary
from app.recommend.interests import Interest, infer_interests

TARGET = 0.8
_WORD = re.compile(r"[a-z]+")


def load_instacart(folder: str | Path, min_orders: int = 3) -> tuple[pd.DataFrame, sp.csr_matrix]:
    """Products bought in at least ``min_orders`` orders (name, aisle, department) and orders × products."""
    folder = Path(folder)
    lines = pd.read_csv(folder / "instacart_prior_orders_sample.csv.gz", usecols=["order_id", "product_id"])
    counts = lines.groupby("product_id")["order_id"].nunique()
    keep = counts[counts >= min_orders].index
    lines = lines[lines["product_id"].isin(keep)]
    products = pd.read_csv(folder / "products.csv.gz").set_index("product_id").loc[sorted(keep)]
    aisles = pd.read_csv(folder / "aisles.csv").set_index("aisle_id")["aisle"]
    departments = pd.read_csv(folder / "departments.csv").set_index("department_id")["department"]
    products["aisle"] = aisles.reindex(products["aisle_id"]).values
    products["department"] = departments.reindex(products["department_id"]).values
    col = pd.Series(np.arange(len(products)), index=products.index)
    rows = pd.factorize(lines["order_id"])[0]
    matrix = sp.csr_matrix(
        (np.ones(len(lines)), (rows, col.reindex(lines["product_id"]).values)),
        shape=(rows.max() + 1, len(products)),
    )
    matrix.data[:] = 1.0
    return products, matrix


def catalogue(products: pd.DataFrame, vocab: str) -> list[CatalogueItem]:
    if vocab == "aisle-type":
        return [
            CatalogueItem(str(pid), str(r.product_name), str(r.aisle), (str(r.department),))
            for pid, r in products.iterrows()
        ]
    return [CatalogueItem(str(pid), str(r.product_name), str(r.department)) for pid, r in products.iterrows()]


def name_agreement(interests: list[Interest], aisle_of: dict[str, str]) -> dict:
    """Share of interests whose name shares a word with the dominant aisle of their products."""
    rows = []
    for interest in interests:
        aisle = Counter(aisle_of[p] for p in interest.product_ids).most_common(1)[0][0]
        ok = bool(set(_WORD.findall(interest.name.lower())) & set(_WORD.findall(aisle.lower())))
        rows.append({"name": interest.name, "size": len(interest.product_ids), "aisle": aisle, "match": ok})
    return {
        "interests": len(rows),
        "agreement": sum(r["match"] for r in rows) / len(rows) if rows else None,
        "rows": rows,
    }


def evaluate(products: pd.DataFrame, matrix: sp.csr_matrix, vocab: str) -> dict:
    items = catalogue(products, vocab)
    interests = infer_interests(items, None, matrix)
    aisle_of = {str(pid): a for pid, a in products["aisle"].items()}
    result = name_agreement(interests, aisle_of)
    names = [i.name for i in interests]
    phrases = {p for item in items for p in vocabulary(item)}
    result.update(
        vocabulary=vocab,
        products=len(items),
        unique_names=len(set(names)) == len(names),
        from_vocabulary=sum(n in phrases for n in names) / len(names) if names else None,
    )
    return result


@click.command("interest-names")
@click.option("--data", "folder", type=click.Path(exists=True, file_okay=False), required=True,
              help="The instacart_sample folder (../shared/data/instacart_sample).")  # fmt: skip
@click.option(
    "--min-orders", default=3, show_default=True, help="Products bought in fewer orders are left out."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def interest_names(folder: str, min_orders: int, as_json: bool) -> None:
    """Interest names vs the dominant aisle of their products (Instacart sample)."""
    products, matrix = load_instacart(folder, min_orders)
    results = [evaluate(products, matrix, vocab) for vocab in ("aisle-type", "department-only")]
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for r in results:
        click.echo(
            f"{r['vocabulary']}: {r['interests']} interests over {r['products']} products; name shares a word "
            f"with the dominant aisle: {r['agreement']:.1%} (target {TARGET:.0%}); unique names: "
            f"{r['unique_names']}; names from the merchant's vocabulary: {r['from_vocabulary']:.0%}"
        )
        for row in r["rows"]:
            click.echo(
                f"  {'ok ' if row['match'] else 'NO '} {row['name']!r} ({row['size']}) — aisle {row['aisle']!r}"
            )
