"""`attune simulate pricing`: synthetic shoppers with known responses through the real app (webhooks,
offer_for with codes in the fake Shopify, redemptions, the daily settle, the admin readout). The JSON has the
issue's exact shape, every interval holds its estimate, and no policy beats the oracle. The targets (Attune
above uniform 10 % and the segment tiers, regret shrinking) are checked across seeds on the same agent
without the app, in tests/test_pricing_agent.py: a run large enough to learn takes minutes through HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_json_shape_and_sanity(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "HOST", "APP_URL")}
    env.update(PYTHONUNBUFFERED="1", ATTUNE_EMBEDDER="hashing")
    args = [sys.executable, "-m", "app", "simulate", "pricing", "--shoppers", "120", "--seed", "3", "--json",
            "--workdir", str(tmp_path / "sim")]  # fmt: skip
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out) == {"policies", "shoppers"} and out["shoppers"] == 120
    assert set(out["policies"]) == {"attune", "uniform_10", "segment_tiers", "oracle"}
    for p in out["policies"].values():
        assert set(p) == {"incremental_margin", "interval"}
        lo, hi = p["interval"]
        assert lo <= p["incremental_margin"] <= hi
    best = out["policies"]["oracle"]["incremental_margin"]
    assert all(p["incremental_margin"] <= best for p in out["policies"].values())


def test_bad_options_are_refused(tmp_path):
    args = [sys.executable, "-m", "app", "simulate", "pricing", "--shoppers", "5"]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "shoppers" in proc.stderr
