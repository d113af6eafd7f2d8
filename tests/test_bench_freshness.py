"""``attune bench freshness`` and ``attune bench backfill`` end to end on tiny runs: the real processes (gunicorn,
an RQ worker, cron, Redis), every order followed until it is reflected, every customer's list served. They check
what the benches count, never how fast anything was."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "HOST", "APP_URL")}
    env.update(ATTUNE_EMBEDDER="hashing", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "app", "bench", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_every_order_is_reflected_in_profile_and_served_list(tmp_path):
    out = tmp_path / "freshness.md"
    args = ["freshness", "--rates", "6", "--duration", "3", "--customers", "30", "--drain", "120"]
    proc = _run([*args, "--out", str(out)], timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    row = next(line for line in out.read_text().splitlines() if line.startswith("| 6 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    orders = int(cells[2])
    assert orders > 0  # the schedule sent orders, and each was followed
    assert re.fullmatch(r"\d+ / 0", cells[8])  # none left unreflected once the queues were idle
    assert cells[9] == "0 / 0 / 0 / 0"  # non-2xx, inbox rows lost, rows not processed, pixel events lost
    assert float(cells[5]) >= float(cells[3]) > 0  # p95 >= p50: delays were measured for the orders
    assert "Failed jobs over the run: 0." in out.read_text()


def test_backfill_serves_every_customer_their_list(tmp_path):
    out = tmp_path / "backfill.md"
    proc = _run(["backfill", "--sample", "--customers", "25", "--out", str(out)], timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    for phase in ("1. install (OAuth)", "2. bulk backfill", "3. models trained", "4. personal lists written"):
        assert f"| {phase} |" in text
    served = re.search(
        r"own list ([\d,]+), holdout \(control list\) ([\d,]+), no personal list 0, not served 0", text
    )
    assert served is not None, text
    assert int(served[1].replace(",", "")) + int(served[2].replace(",", "")) == 25
    assert re.search(r"Peak RSS .*\*\*[1-9][\d,]* MB\*\*", text)
