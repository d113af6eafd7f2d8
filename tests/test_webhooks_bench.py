"""``attune bench ingest`` end to end on a small load, both client modes: real gunicorn, real Redis,
every acknowledged webhook in the inbox and carried by a queued job."""

from __future__ import annotations

import re
import shutil

import pytest
from click.testing import CliRunner

from app.bench.ingest import ingest


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_bench_ingest_counts_every_webhook_in_both_client_modes(tmp_path):
    out = tmp_path / "ingest.md"
    args = ["--requests", "60", "--warmup", "10", "--concurrency", "2", "--connections", "4"]
    args += ["--keepalive-rounds", "1", "--keepalive-seconds", "1", "--out", str(out)]
    result = CliRunner().invoke(ingest, args)
    assert result.exit_code == 0, result.output
    report = out.read_text()
    assert "non-2xx: **0**" in report and "lost (acknowledged, not stored): **0**" in report
    assert "rows without a queued job: **0**" in report
    sent = int(re.search(r"Webhooks sent \(incl\. warm-up, both modes\): (\d+)", report)[1])
    stored = int(re.search(r"inbox rows stored: (\d+)", report)[1])
    assert sent == stored > 70  # 70 on new connections, the rest on the kept ones
    for mode in ("new connection", "keep-alive"):
        assert f"| {mode}: throughput (req/s) |" in report
        assert re.search(rf"{mode.capitalize()}: throughput ratio \*\*\d", report)
