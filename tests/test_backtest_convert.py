"""``attune backtest convert`` on tiny fixtures in each dataset's own layout (no ../shared needed)."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from app.backtest.datasets import read_transactions
from app.cli import main


def _run(*args: str):
    return CliRunner().invoke(main, ["backtest", "convert", *args])


def online_retail(folder):
    folder.mkdir()
    pd.DataFrame(
        {
            "Invoice": ["489434", "489434", "C489435", "489436", "536365"],
            "StockCode": ["85048", "79323P", "85048", "POST", "85123A"],
            "Description": ["GLASS BALL", "PINK LIGHTS", "GLASS BALL", "POSTAGE", "OVERLAP ROW (dropped)"],
            "Quantity": [12, 6, -2, 1, 6],
            "InvoiceDate": [
                "2009-12-01 07:45:00",
                "2009-12-01 07:45:00",
                "2009-12-02 10:00:00",
                "2009-12-03 10:00:00",
                "2010-12-01 08:26:00",
            ],  # fmt: skip
            "Price": [6.95, 6.75, 6.95, 18.0, 2.55],
            "Customer ID": [13085.0, 13085.0, 13085.0, 13085.0, 17850.0],
            "Country": ["United Kingdom"] * 5,
        }
    ).to_csv(folder / "online_retail_II_2009-2010.csv.gz", index=False)
    pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536366", "536367"],
            "StockCode": ["85123A", "71053", "71053"],
            "Description": ["HEART HOLDER", "METAL LANTERN", "METAL LANTERN"],
            "Quantity": [6, 6, 2],
            "InvoiceDate": ["2010-12-01 08:26:00", "2010-12-01 09:00:00", "2010-12-02 09:00:00"],
            "UnitPrice": [2.55, 3.39, 3.39],
            "CustomerID": [17850.0, 17850.0, None],
            "Country": ["United Kingdom", "France", "France"],
        }
    ).to_csv(folder / "online_retail_2010-2011.csv.gz", index=False)


def complete_journey(folder):
    folder.mkdir()
    pd.DataFrame(
        {
            "household_id": [1, 1, 2],
            "store_id": [10, 10, 11],
            "basket_id": [100, 100, 200],
            "product_id": [5, 6, 5],
            "quantity": [2, 0, 1],  # 0 = sold by weight
            "sales_value": [4.0, 3.5, 2.0],
            "retail_disc": [0.0] * 3,
            "coupon_disc": [0.0] * 3,
            "coupon_match_disc": [0.0] * 3,
            "week": [1, 1, 2],
            "transaction_timestamp": pd.to_datetime(
                ["2017-01-01 10:00", "2017-01-01 10:00", "2017-01-08 12:00"]
            ),
        }
    ).to_parquet(folder / "transactions.parquet")
    pd.DataFrame(
        {
            "product_id": [5, 6],
            "manufacturer_id": [7, 8],
            "department": ["GROCERY", "PRODUCE"],
            "brand": ["National", "Private"],
            "product_category": ["MILK", "BANANAS"],
            "product_type": ["FLUID MILK", None],
            "package_size": ["1 GA", ""],
        }
    ).to_parquet(folder / "products.parquet")


def instacart(folder):
    folder.mkdir()
    pd.DataFrame(
        {
            "order_id": [11, 11, 12, 21],
            "user_id": [1, 1, 1, 2],
            "order_number": [1, 1, 2, 1],
            "order_dow": [2, 2, 3, 1],
            "order_hour_of_day": [8, 8, 9, 14],
            "days_since_prior_order": [None, None, 7.0, None],
            "product_id": [196, 14084, 196, 14084],
            "add_to_cart_order": [1, 2, 1, 1],
            "reordered": [0, 0, 1, 0],
        }
    ).to_csv(folder / "instacart_prior_orders_sample.csv.gz", index=False)
    pd.DataFrame(
        {
            "product_id": [196, 14084],
            "product_name": ["Soda", "Organic Vanilla Yogurt"],
            "aisle_id": [77, 120],
            "department_id": [7, 16],
        }  # fmt: skip
    ).to_csv(folder / "products.csv.gz", index=False)
    pd.DataFrame({"aisle_id": [77, 120], "aisle": ["soft drinks", "yogurt"]}).to_csv(
        folder / "aisles.csv", index=False
    )
    pd.DataFrame({"department_id": [7, 16], "department": ["beverages", "dairy eggs"]}).to_csv(
        folder / "departments.csv", index=False
    )


def test_help_documents_datasets_and_format():
    result = _run("--help")
    assert result.exit_code == 0
    for word in (
        "online_retail_ii",
        "completejourney_8451",
        "instacart_sample",
        "--source",
        "customer_id,order_id",
    ):
        assert word in result.output


def test_online_retail(tmp_path):
    online_retail(tmp_path / "ori")
    out = tmp_path / "out" / "ori.csv.gz"
    result = _run("online-retail", str(out), "--source", str(tmp_path / "ori"))
    assert result.exit_code == 0, result.output
    assert "5 lines, 2 customers, 4 orders" in result.output and "1 return lines" in result.output
    frame = read_transactions(out)
    # POST is not a product, the unknown customer is dropped, the 2010-12-01 overlap comes from the second file
    assert set(frame["product_id"]) == {"85048", "79323P", "85123A", "71053"}
    assert (frame["order_id"] == "536365").sum() == 1
    assert frame.loc[frame["quantity"] < 0, "order_id"].tolist() == ["C489435"]
    assert frame.loc[frame["order_id"] == "536365", "product_title"].item() == "HEART HOLDER"


def test_complete_journey(tmp_path):
    complete_journey(tmp_path / "cj")
    out = tmp_path / "cj.csv"
    result = _run("complete-journey", str(out), "--source", str(tmp_path / "cj"))
    assert result.exit_code == 0, result.output
    frame = read_transactions(out)
    assert len(frame) == 3 and set(frame["customer_id"]) == {"1", "2"}
    assert frame["quantity"].tolist() == [2, 1, 1]
    assert frame["product_title"].iloc[0] == "National FLUID MILK 1 GA"
    assert frame["product_title"].iloc[1] == "Private BANANAS"
    assert frame["unit_price"].iloc[0] == pytest.approx(2.0)


def test_instacart(tmp_path):
    instacart(tmp_path / "ic")
    out = tmp_path / "ic.csv.gz"
    result = _run("instacart_sample", str(out), "--source", str(tmp_path / "ic"))
    assert result.exit_code == 0, result.output
    frame = read_transactions(out).sort_values(["order_id", "product_id"])
    assert frame["order_id"].tolist() == ["11", "11", "12", "21"]
    when = frame.groupby("order_id")["ordered_at"].first()
    assert str(when["11"]) == "2017-01-01 08:00:00+00:00"
    assert str(when["12"]) == "2017-01-08 09:00:00+00:00"  # 7 days after the first order, at 9:00
    assert frame.loc[frame["product_id"] == "196", "product_type"].iloc[0] == "soft drinks"
    assert frame.loc[frame["product_id"] == "14084", "tags"].iloc[0] == "dairy eggs"


def test_missing_and_wrong_folders_are_clear_errors(tmp_path):
    result = _run("instacart", str(tmp_path / "x.csv"), "--source", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "--source" in result.output
    (tmp_path / "empty").mkdir()
    result = _run("instacart", str(tmp_path / "x.csv"), "--source", str(tmp_path / "empty"))
    assert result.exit_code == 2 and "instacart_prior_orders_sample.csv.gz" in result.output
    assert _run("nonsense", str(tmp_path / "x.csv")).exit_code == 2
