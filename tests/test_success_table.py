"""The success table's pure computation (``app.measurement.control_room``): who is eligible for each row, what
each row measures, the interval only once both arms have enough customers, and the sample-ratio warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.measurement.control_room import MIN_PER_ARM, CustomerFacts, success_table

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _facts(n_treated: int, n_held: int, **kw) -> list[CustomerFacts]:
    out = []
    for i in range(n_treated + n_held):
        out.append(
            CustomerFacts(
                customer=str(i),
                treated=i < n_treated,
                first_seen=T0 + timedelta(minutes=i),
                pre_spend=float(i % 7),
                bought_before=i % 2 == 0,
                order_values=(40.0, 60.0) if i % 3 == 0 else (),
                discounts=5.0 if i % 3 == 0 else 0.0,
                cross_sell_orders=1 if i % 6 == 0 else 0,
                abandoned=i % 4 == 0,
                recovered=i % 8 == 0,
                questions=2 if i % 5 == 0 else 0,
                escalated=1 if i % 10 == 0 else 0,
                **kw,
            )
        )
    return out


def _rows(table):
    return {r["metric"]: r for r in table["rows"]}


def test_each_row_counts_its_own_eligible_customers():
    rows = _rows(success_table(_facts(300, 60), 0.85))
    conv = rows["conversion_rate"]
    assert conv["treated"]["customers"] == 300 and conv["holdout"]["customers"] == 60
    assert conv["treated"]["value"] == 100 / 300  # every third bought
    assert (
        rows["cart_recovery"]["treated"]["customers"] == 75
        and rows["cart_recovery"]["treated"]["value"] == 38 / 75
    )
    assert rows["repeat_purchase_rate"]["treated"]["customers"] == 150
    assert rows["average_order_value"]["treated"]["value"] == 50.0  # each buyer's mean order value
    # half the buyers had one cross-sell order of their two: 0.5 each, the others 0
    assert rows["cross_sell_rate"]["treated"]["value"] == 0.25
    assert rows["support_deflection"]["treated"]["customers"] == 60
    assert all(r["difference"] is not None for r in rows.values() if r["holdout"]["customers"] >= MIN_PER_ARM)


def test_no_interval_while_an_arm_is_thin_and_a_warning_on_a_broken_split():
    table = success_table(_facts(300, 10), 0.95)
    assert all(r["difference"] is None for r in table["rows"]) and table["revenue"]["per_customer"] is None
    assert table["warnings"] == []
    broken = success_table(_facts(300, 100), 0.95)
    assert broken["sample_ratio"]["mismatch"] and "sample-ratio mismatch" in broken["warnings"][0]


def test_revenue_is_net_and_scaled_to_the_treated():
    table = success_table(_facts(300, 60), 0.85)
    rev = table["revenue"]
    assert rev["discounts"] == 5.0 * 100 and rev["treated_customers"] == 300
    per, total = rev["per_customer"], rev["total"]
    assert abs(per["estimate"]) < 1e-6 or abs(total["estimate"] / per["estimate"] - 300) < 1e-6
