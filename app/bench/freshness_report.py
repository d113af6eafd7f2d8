"""The freshness bench's figures and page: one row per rate step, the highest rate that holds, and what bounds it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from app import gunicorn_conf

TARGET_RATE, TARGET_P95_S = 100.0, 2.0


def workers_text(rq_workers: int | None) -> str:
    """The RQ workers of a run, as the report names them."""
    if rq_workers:
        return f"{rq_workers} `attune worker` on every queue"
    return (
        "the Procfile's RQ workers (`worker`: webhooks, default, in its own process; `worker_low`: low, then "
        "the others, a forked work horse per job; CPU per worker in that order)"
    )


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


@dataclass
class Step:
    """One rate step's figures."""

    rate: float
    sent: int = 0
    achieved: float = 0.0
    orders: int = 0
    latencies: list[float] = field(default_factory=list)
    profile: list[float] = field(default_factory=list)
    served: list[float] = field(default_factory=list)
    late: int = 0
    not_reflected: int = 0
    missing: dict[str, int] = field(default_factory=dict)  # never reflected: what was missing -> orders
    non_2xx: int = 0
    rows_lost: int = 0
    rows_undone: int = 0
    pixel_lost: int = 0
    backlog: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    proxy_requests: int = 0

    def holds(self, target_p95: float) -> bool:
        lost = self.not_reflected + self.non_2xx + self.rows_lost + self.rows_undone + self.pixel_lost
        return lost == 0 and self.achieved >= 0.95 * self.rate and pct(self.latencies, 0.95) <= target_p95


def _s(value: float) -> str:
    return "—" if value != value else f"{value:.2f}"  # NaN: nothing measured


def render(steps: list[Step], setup: dict[str, Any], target_p95: float, rates: str) -> str:
    holding = [s.rate for s in steps if s.holds(target_p95)]
    at_target = [s for s in steps if s.rate == TARGET_RATE]
    if at_target:
        verdict = "met" if at_target[0].holds(target_p95) else "NOT met"
    elif steps and not steps[-1].holds(target_p95):
        broke = next(s.rate for s in steps if not s.holds(target_p95))
        verdict = f"NOT met (it broke at {broke:g} webhooks/s; rates above {steps[-1].rate:g} were not run)"
    else:
        verdict = "not measured at 100 webhooks/s in this run"
    command = (
        f"attune bench freshness --rates {rates} --duration {setup['duration']:g} "
        f"--order-share {setup['order_share']:g}"
        + (f" --rq-workers {setup['rq_workers']}" if setup["rq_workers"] else "")
    )
    lines = [
        "# Benchmark: freshness (order → profile and served personal list)",
        "",
        f"Command: `{command}`  ",
        f"Measured: {setup['when']:%Y-%m-%d %H:%M UTC} on {os.cpu_count()} CPU cores, shared with other work "
        f"(load average {setup['load']:.1f} at the end; whole run {setup['wall']:.0f} s).  ",
        f"Processes: gunicorn `app.gunicorn_conf` ({gunicorn_conf.workers} {gunicorn_conf.worker_class} workers, "
        f"{gunicorn_conf.threads} threads), {workers_text(setup['rq_workers'])}, `attune cron`, "
        "a private redis-server, SQLite; the fake Shopify and the load generator in the bench process, on the "
        "same cores.  ",
        f"Shop: the shipped Online Retail II sample, installed through OAuth and the bulk backfill; orders go to "
        f"{setup['customers']} customers who have a personal list and are outside the holdout group.  ",
        f"Load per step: {setup['duration']:g} s, open loop; {setup['order_share']:.0%} of the webhooks are "
        "`orders/create` (each after one pixel batch of its buyer's storefront session), the rest "
        "`carts/update`; 32 keep-alive clients.  ",
        "Measure: from the order's HTTP 200 to the first poll that finds the order among the profile's recent "
        "orders **and** the customer's `home` list, as `GET /proxy/recommendations` serves it, computed after "
        f"the order was committed; polled every {setup['poll']:g} s (the figures are up to one poll late).",
        "",
        "| webhooks/s asked | achieved | orders | p50 (s) | p95 (s) | p99 (s) | profile p95 | served list p95 |"
        " late / never reflected | non-2xx / rows lost / not processed / pixel lost | peak backlog "
        "webhooks·default·low | CPU s web · each worker | holds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        workers = " + ".join(f"{v:.0f}" for k, v in sorted(s.cpu.items()) if k.startswith("worker")) or "0"
        lines.append(
            f"| {s.rate:g} | {s.achieved:.1f} | {s.orders} | {_s(pct(s.latencies, 0.5))} | "
            f"{_s(pct(s.latencies, 0.95))} | {_s(pct(s.latencies, 0.99))} | {_s(pct(s.profile, 0.95))} | "
            f"{_s(pct(s.served, 0.95))} | {s.late} / {s.not_reflected} | {s.non_2xx} / {s.rows_lost} / "
            f"{s.rows_undone} / {s.pixel_lost} | {s.backlog.get('webhooks', 0)}·{s.backlog.get('default', 0)}·"
            f"{s.backlog.get('low', 0)} | {s.cpu.get('web', 0):.0f} · {workers} of {s.wall:.0f} s | "
            f"{'yes' if s.holds(target_p95) else 'no'} |"
        )
    lines += [
        "",
        f"Target: p95 ≤ {target_p95:g} s at {TARGET_RATE:g} webhooks/s for two minutes with nothing lost: "
        f"**{verdict}**. Highest rate that holds in this run: "
        f"**{f'{max(holding):g} webhooks/s' if holding else 'none of the rates tried'}**.  ",
        f"Failed jobs over the run: {setup['failed_jobs']}. A step holds when nothing is lost, the rate "
        'achieved is at least 95 % of the rate asked, and p95 is within the target. "Late" orders were '
        'reflected only after the step\'s drain window (their delay is still counted); "never reflected" '
        "ones were not reflected once every queue was idle, or after the settle time (lost). Stepping stops "
        "at the first rate that does not hold unless `--all-rates` is given.",
        "",
    ]
    for s in steps:
        if s.missing:
            what = "; ".join(f"{n} {reason}" for reason, n in sorted(s.missing.items()))
            lines += [f"Never reflected at {s.rate:g} webhooks/s, by what was missing: {what}.", ""]
    return "\n".join(lines)
