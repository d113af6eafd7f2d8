"""The backfill bench's page: each phase's time, the peak RSS, and the total against the target."""

from __future__ import annotations

import os
from typing import Any

MB = 1024 * 1024


def render(phases: dict[str, float], f: dict[str, Any], target_s: float) -> str:
    verdict = "met" if f["total_s"] <= target_s else "NOT met"
    lines = [
        "# Benchmark: install and backfill of a big shop (Online Retail II)",
        "",
        f"Command: `{f['command']}`  ",
        f"Measured: {f['when']:%Y-%m-%d %H:%M UTC} on {os.cpu_count()} CPU cores, shared with other work "
        f"(load average {f['load']:.1f} at the end).  ",
        f"Data: {f['source']}: {f['lines']:,} lines → {f['customers']:,} customers; backfilled {f['counts']}.  ",
        "Processes: gunicorn `app.gunicorn_conf`, "
        + (
            f"{f['rq_workers']} `attune worker` (RQ, forking)"
            if f["rq_workers"]
            else "the Procfile's RQ workers (a fast lane and a low lane)"
        )
        + ", `attune cron`, "
        "a private redis-server, SQLite; the fake Shopify (bulk operations, JSONL) in the bench process.  ",
        f"Ranker: {f['ranker']}.",
        "",
        "| phase | seconds |",
        "|---|---|",
        *[f"| {name} | {secs:.1f} |" for name, secs in phases.items()],
        f"| **install → every customer's list served** | **{f['total_s']:.1f}** |",
        "",
        f"Target: ≤ {target_s / 60:.0f} minutes from install to every list served: **{verdict}** "
        f"({f['total_s'] / 60:.1f} min).  ",
        f"Customers' home lists written by the trained ranker: {f['listed']:,}; served through the app proxy: "
        + ", ".join(f"{k} {v:,}" for k, v in f["served"].items())
        + f". Failed jobs: {f['failed']}.",
        "",
        f"Peak RSS (sum over the processes, sampled every 0.5 s): **{f['peak'] / MB:,.0f} MB**. Per process "
        "(each part's own peak; children included):",
        "",
        "| process | peak RSS (MB) |",
        "|---|---|",
        *[f"| {name} | {value / MB:,.0f} |" for name, value in f["parts"].items()],
        "",
    ]
    return "\n".join(lines)
