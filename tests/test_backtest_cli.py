"""The backtest commands end to end: the shipped sample (always) and the full datasets (slow, need ../shared)."""

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from app.backtest.datasets import baskets_from_frame, read_transactions
from app.backtest.recommendations import run_backtest
from app.cli import main
from tests.conftest import DATA, needs_shared

SAMPLE = Path(__file__).resolve().parent.parent / "app" / "data" / "online_retail_sample.csv.gz"
METHODS = ["popularity", "gp_topfreq", "item_knn", "implicit_als", "tifu_knn", "attune"]


def test_recommendations_cli_on_the_shipped_sample(tmp_path):
    preds = tmp_path / "preds.csv"
    result = CliRunner().invoke(
        main,
        ["backtest", "recommendations", "--data", str(SAMPLE), "--json", "--predictions-out", str(preds)],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout[result.stdout.index("{") :])
    assert set(out["methods"]) == set(METHODS)
    for name, m in out["methods"].items():
        for metric in ("recall@10", "ndcg@10", "phr@10", "repeat_recall@10", "explore_recall@10"):
            assert 0.0 <= m[metric] <= 1.0, (name, metric)
        assert m["customers"] == out["evaluated_customers"] > 100
    # personal methods beat the global baseline on a real shop
    assert out["methods"]["attune"]["recall@10"] > 2 * out["methods"]["popularity"]["recall@10"]
    rows = list(csv.DictReader(preds.open()))
    assert rows[0].keys() == {"customer_id", "rank", "product_id"}
    assert len(rows) == 10 * out["evaluated_customers"]


def test_bad_input_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,order_id\n1,2\n")
    result = CliRunner().invoke(main, ["backtest", "recommendations", "--data", str(bad)])
    assert result.exit_code != 0 and "missing columns" in result.output


def test_protocol_never_leaks_a_target(tmp_path):
    """An item planted only in target orders must never be recommended, by any method."""
    frame = read_transactions(SAMPLE)
    orders = frame[frame["quantity"] > 0].sort_values(["ordered_at", "order_id"])
    last = orders.groupby("customer_id")["order_id"].last()
    counts = orders.groupby("customer_id")["order_id"].nunique()
    last = last[counts >= 2]
    planted = frame[frame["order_id"].isin(last.values)].drop_duplicates("order_id").copy()
    planted["product_id"], planted["product_title"], planted["quantity"] = "PLANTED", "planted", 1
    data = tmp_path / "planted.csv.gz"
    import pandas as pd

    with gzip.open(data, "wt") as fh:
        pd.concat([frame, planted]).to_csv(fh, index=False)
    baskets = baskets_from_frame(read_transactions(data))
    item = int(np.flatnonzero(baskets.items == "PLANTED")[0])
    results, ranked, test = run_backtest(baskets, limit_customers=80)
    assert len(test.customers) == 80
    assert np.asarray(test.targets[:, item].todense()).all()  # it is in every target
    for name, top in ranked.items():
        assert item not in top, name


def test_rankings_do_not_depend_on_the_targets():
    """Replacing every target order's items by other items changes no method's ranking: no method sees a target
    (nor the ranker's training, which holds out earlier orders of the history only)."""
    import scipy.sparse as sp

    baskets = baskets_from_frame(read_transactions(SAMPLE))
    n = baskets.orders_per_customer
    targets = (baskets.cust_ptr[1:] - 1)[n >= 2]
    coo = baskets.matrix.tocoo()
    moved = np.isin(coo.row, targets)
    cols = np.where(moved, (coo.col * 7 + 3) % baskets.n_items, coo.col)
    changed = sp.csr_matrix((coo.data, (coo.row, cols)), shape=baskets.matrix.shape)
    changed.sum_duplicates()
    other = type(baskets)(**{**baskets.__dict__, "matrix": changed})
    assert (other.matrix != baskets.matrix).nnz > 0
    results_a, ranked_a, test_a = run_backtest(baskets, limit_customers=60)
    results_b, ranked_b, test_b = run_backtest(other, limit_customers=60)
    assert (test_a.customers == test_b.customers).all()
    assert (test_a.targets != test_b.targets).nnz > 0
    for name in ranked_a:
        assert (ranked_a[name] == ranked_b[name]).all(), name


@pytest.mark.slow
@needs_shared(DATA / "yoochoose_clicks_100k")
def test_sessions_cli_meets_its_targets():
    result = CliRunner().invoke(main, ["backtest", "sessions", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout[result.stdout.index("{") :])
    assert set(out) == {"association_rules", "sequential_rules", "session_knn", "attune"}
    assert out["attune"]["hr@20"] >= 0.65 and out["attune"]["mrr@20"] >= 0.35
    assert out["attune"]["hr@20"] > max(out["association_rules"]["hr@20"], out["sequential_rules"]["hr@20"])


@pytest.mark.slow
@needs_shared(DATA / "online_retail_ii")
def test_online_retail_converter_deduplicates_the_overlap(tmp_path):
    from app.backtest.datasets import convert_online_retail

    frame = convert_online_retail(DATA / "online_retail_ii")
    assert frame["customer_id"].nunique() == 5876
    # the 2010-12-01..09 overlap comes from one file only (counts pinned from the deduplicated union)
    assert len(frame) == 805888 and frame["order_id"].nunique() == 43879
    assert (frame["order_id"] == "536365").sum() == 7
    assert (frame["quantity"] < 0).sum() > 10000  # returns kept
    assert frame["ordered_at"].min() < pd_ts("2010-01-01") and frame["ordered_at"].max() > pd_ts("2011-12-01")


@pytest.mark.slow
@needs_shared(DATA / "instacart_sample")
def test_instacart_and_complete_journey_converters():
    from app.backtest.datasets import convert_complete_journey, convert_instacart

    ic = convert_instacart(DATA / "instacart_sample")
    assert ic["customer_id"].nunique() == 593 and ic["order_id"].nunique() == 15183
    per_order = ic.groupby("order_id")["ordered_at"].nunique()
    assert (per_order == 1).all()
    cj = convert_complete_journey(DATA / "completejourney_8451")
    assert cj["customer_id"].nunique() == 2469 and (cj["quantity"] >= 1).all()


def pd_ts(s):
    import pandas as pd

    return pd.Timestamp(s)
