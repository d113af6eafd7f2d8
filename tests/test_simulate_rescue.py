"""`attune simulate rescue`: synthetic shoppers with a known response through the real app (HTTP webhooks,
rescue job, orchestrator, relay into an SMTP sink, the admin readout). Across seeds: with no true effect the
95 % interval covers 0; with a true effect it is found (interval above 0) and covers the true value."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _simulate(tmp_path, seed: int, sessions: int, uplift: str, base: float = 0.1) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "HOST", "APP_URL")}
    env.update(PYTHONUNBUFFERED="1", ATTUNE_EMBEDDER="hashing")
    args = [sys.executable, "-m", "app", "simulate", "rescue", "--sessions", str(sessions), "--seed", str(seed),
            "--uplift", uplift, "--base", str(base), "--json", "--workdir", str(tmp_path / f"sim-{seed}")]  # fmt: skip
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_true_effect_the_interval_covers_zero(tmp_path, seed):
    out = _simulate(tmp_path, seed, 120, "1h=0,24h=0,72h=0")
    assert set(out) == {"true_incremental_recovery", "measured_incremental_recovery", "interval", "sessions"}
    assert out["true_incremental_recovery"] == 0 and out["sessions"] == 120
    lo, hi = out["interval"]
    assert lo <= 0 <= hi and lo <= out["measured_incremental_recovery"] <= hi


@pytest.mark.parametrize("seed", [1, 2])
def test_a_true_effect_is_found_and_covered(tmp_path, seed):
    out = _simulate(tmp_path, seed, 120, "1h=0.3,24h=0.5,72h=0.4")
    true = out["true_incremental_recovery"]
    assert true == pytest.approx(0.9 * 0.4)
    lo, hi = out["interval"]
    assert 0 < lo <= true <= hi  # found (above zero) and covered
