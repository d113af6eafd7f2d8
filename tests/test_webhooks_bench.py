"""``attune bench ingest`` end to end on a small load: real gunicorn, real Redis, nothing lost."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from app.bench.ingest import ingest


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_bench_ingest_counts_every_webhook(tmp_path):
    out = tmp_path / "ingest.md"
    result = CliRunner().invoke(
        ingest, ["--requests", "60", "--warmup", "10", "--concurrency", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = out.read_text()
    assert "non-2xx: **0**" in report and "lost: **0**" in report
    assert "inbox rows stored: 70" in report and "rows without a queued job: **0**" in report
    assert "| throughput (req/s) |" in report and "hello-world" in report
