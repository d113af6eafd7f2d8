"""Inventory decisions from demand paths (issue 19): stock-out range, cover, reorder point, order quantity."""

import numpy as np
import pytest

from app.modelling.demand import demand_paths
from app.modelling.inventory import InventoryInputError, Policy, decide

HISTORY = np.array([0, 0, 2, 0, 0, 0, 1, 0, 0, 5, 0, 0, 1, 0] * 6, dtype=float)  # intermittent, lumpy


def paths_for(rate: float, h: int = 28):
    mean = np.full(h, rate)
    return mean, demand_paths(HISTORY, mean, n_paths=2000)


def test_steady_demand_gives_cover_and_a_stockout_range_around_it():
    mean, paths = paths_for(1.0)
    d = decide(20, mean, paths, Policy(lead_time_days=7, review_days=7, service_level=0.9))
    assert d.days_of_cover == 19  # 20 units at 1 a day: the 20th day is the last one with stock
    assert d.stockout_day_p10 <= d.stockout_day_p50 <= d.stockout_day_p90
    assert d.stockout_day_p10 < d.days_of_cover < d.stockout_day_p90  # a real range around the point
    assert not d.alert and d.suggested_order == 0  # 19 days of cover > 7 + 7


def test_reorder_point_is_a_lead_time_quantile_above_the_mean_on_lumpy_demand():
    mean, paths = paths_for(1.0)
    d = decide(5, mean, paths, Policy(lead_time_days=10, review_days=4, service_level=0.95))
    lead = paths[:, :10].sum(axis=1)
    assert d.reorder_point == int(np.ceil(np.quantile(lead, 0.95))) and d.reorder_point > 10
    assert d.alert and d.suggested_order == d.order_up_to - 5 > 0
    higher = decide(5, mean, paths, Policy(lead_time_days=10, review_days=4, service_level=0.99))
    assert higher.reorder_point >= d.reorder_point and higher.suggested_order >= d.suggested_order


def test_out_of_stock_and_oversold_are_out_now():
    mean, paths = paths_for(0.5)
    for level in (0, -3):
        d = decide(level, mean, paths)
        assert d.on_hand == 0 and d.days_of_cover == 0 and d.stockout_day_p90 == 0
        assert d.alert and d.suggested_order == d.order_up_to > 0


def test_no_demand_never_alerts_and_orders_nothing():
    d = decide(3, np.zeros(28), np.zeros((100, 28)))
    assert not d.alert and d.suggested_order == 0 and d.days_of_cover == 56


@pytest.mark.parametrize(
    "kwargs", [{"lead_time_days": -1}, {"review_days": 400}, {"service_level": 1.0}, {"service_level": 0.2}]
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(InventoryInputError):
        Policy(**kwargs)


@pytest.mark.parametrize("level", [float("nan"), 1e12])
def test_absurd_stock_is_refused(level):
    mean, paths = paths_for(1.0)
    with pytest.raises(InventoryInputError, match="plausible"):
        decide(level, mean, paths)
