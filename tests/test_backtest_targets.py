"""Issue 5's next-order targets on the real datasets (slow; need ../shared): one configuration for both, Recall@10
and NDCG@10 of Attune's recommender at least 10% above the best tuned baseline of the same run. Since issue 14
the ``attune`` row is what the storefront serves (``attune_top_k``: the shop's ranker and the personal lists'
rules), so the targets hold for the served lists."""

import os

import pytest

from app.backtest.datasets import baskets_from_frame, cached_dataset, read_transactions
from app.backtest.recommendations import run_backtest
from tests.conftest import DATA, needs_shared

BASELINES = {"popularity", "gp_topfreq", "item_knn", "implicit_als", "tifu_knn"}


@pytest.mark.slow
@pytest.mark.backtest
@pytest.mark.skipif(
    os.environ.get("ATTUNE_TEST_DATABASE") == "postgresql",
    reason="no database involved: runs once, in the SQLite pass",
)
@pytest.mark.parametrize("name", ["online_retail_ii", "completejourney_8451"])
def test_next_order_beats_the_best_baseline_by_ten_percent(name):
    if not (DATA / name).exists():
        pytest.skip(f"{DATA / name} not present (../shared is optional)")
    path = cached_dataset(name, shared=DATA)
    results, ranked, test = run_backtest(baskets_from_frame(read_transactions(path)))
    assert set(results) == BASELINES | {"attune"}
    assert all(r["customers"] == len(test.customers) for r in results.values())
    lifts = {}
    for metric in ("recall@10", "ndcg@10"):
        best = max(results[b][metric] for b in BASELINES)
        assert results["attune"][metric] > best, (metric, {n: r[metric] for n, r in results.items()})
        lifts[metric] = results["attune"][metric] / best - 1.0
    assert min(lifts.values()) >= 0.10, lifts


@pytest.mark.slow
@pytest.mark.backtest
@needs_shared(DATA / "online_retail_ii")
def test_dataset_cache_converts_once(tmp_path):
    path = cached_dataset("online_retail_ii", cache_dir=tmp_path, shared=DATA)
    stamp = path.stat().st_mtime_ns
    assert cached_dataset("online_retail_ii", cache_dir=tmp_path, shared=DATA) == path
    assert path.stat().st_mtime_ns == stamp
    frame = read_transactions(path)
    assert frame["customer_id"].nunique() == 5876
