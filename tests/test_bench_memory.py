"""``attune bench memory``: resident memory read from /proc, the page's verdicts, and the bench end to end on a
small load (two real gunicorn servers, real Redis, the deployed RQ worker and the in-process one)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from app.bench.memory import memory
from app.bench.memory_load import (
    CUSTOMERS,
    HEAVY_JOBS,
    ORDER_CUSTOMERS,
    REQUEST_MIX,
    children_of,
    job_mix,
    memory_of,
    request_mix,
)
from app.bench.memory_report import NOISE_MIB, markdown


def test_memory_of_reads_a_process_and_none_once_it_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "import sys; b = bytearray(64 << 20); sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        for _ in range(100):  # until the 64 MiB are touched
            m = memory_of(child.pid)
            if m and m["RssAnon"] > 64:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert m is not None and m["VmRSS"] >= m["RssAnon"] > 64 and m["VmHWM"] >= m["VmRSS"]
        assert 0 < m["Pss"] <= m["VmRSS"] + 1
        assert child.pid in children_of(os.getpid())
    finally:
        child.communicate(b"")
    assert memory_of(child.pid) is None


def test_the_mixes_hold_their_shares():
    requests = request_mix(2000, "key", [1, 2, 3], seed=1)
    kinds = [kind for kind, _ in requests]
    orders = [json.loads(raw.split(b"\r\n\r\n", 1)[1]) for kind, raw in requests if kind == "webhook"]
    assert len({o["id"] for o in orders}) == len(orders)  # every webhook a new order
    assert len({o["customer"]["id"] for o in orders}) > ORDER_CUSTOMERS // 2  # of many shoppers, not one
    for kind, share in REQUEST_MIX:
        assert abs(kinds.count(kind) / 2000 - share / 100) < 0.04, kind
    plan = job_mix(300, 7, iter([[i] for i in range(1000)]))
    names = [name for _, name, _ in plan]
    for name, _ in HEAVY_JOBS:
        assert names.count(name) == 3  # one each per 100 jobs
    assert all(args[0] == 7 for _, _, args in plan)
    assert {args[1] for _, name, args in plan if name.endswith("refresh_for_customer")} <= set(CUSTOMERS)


def _web(rss_warm: float, rss_after: float) -> dict:
    samples = [(0, {1: {"VmRSS": rss_warm}}), (100, {1: {"VmRSS": rss_after}})]
    return {"samples": samples, "latency": {"search": [10.0, 20.0]}, "failed": 0, "requests": 100}


def _worker(rss: float, peak: float) -> dict:
    samples = [(0, {"VmRSS": rss}), (100, {"VmRSS": rss, "VmHWM": peak})]
    return {"samples": samples, "horse_peak": {"VmHWM": peak}, "horses_seen": 3, "done": 100, "failed": 0}


def test_the_page_says_met_flat_or_growing_from_the_figures():
    opts = {"command": "attune bench memory", "warmup": 1, "warmup_jobs": 1, "rounds": 1}
    workers = {"forked": _worker(900, 1000), "in_process": _worker(900, 1000)}
    lean = markdown({"ours": _web(180, 185), "peer": _web(600, 600 + 2 * NOISE_MIB)}, workers, opts)
    ours_row = next(line for line in lean.splitlines() if line.startswith("| **ours**"))
    peer_row = next(line for line in lean.splitlines() if line.startswith("| peer"))
    assert ours_row.endswith("| met |") and peer_row.endswith("| NOT met |")
    assert "ours flat, peer GROWING" in lean and "**0.30×**" in lean
    heavy = markdown({"ours": _web(180, 185), "peer": _web(600, 600)}, {**workers,
                     "forked": _worker(900, 1600)}, opts)  # fmt: skip
    assert "| 1600 | NOT met |" in heavy


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_bench_memory_end_to_end_on_a_small_load(tmp_path):
    out = tmp_path / "memory.md"
    args = ["--requests", "60", "--warmup", "20", "--jobs", "30", "--fork-jobs", "6", "--warmup-jobs", "4"]
    result = CliRunner().invoke(memory, [*args, "--rounds", "2", "--concurrency", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = out.read_text()
    assert "Failed requests: ours 0, peer 0." in report
    assert re.search(r"Jobs finished \d+, failed 0", report)
    ours = next(line for line in report.splitlines() if line.startswith("| **ours**"))
    peer = next(line for line in report.splitlines() if line.startswith("| peer"))
    ours_rss, peer_rss = (float(row.split("|")[3]) for row in (ours, peer))
    assert ours_rss + 200 < peer_rss  # torch is in the peer's web workers only
    assert "| 60 |" in report  # every worker read after the measured requests
