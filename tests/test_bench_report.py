"""A benchmark rewriting its page keeps what people wrote below the marker."""

from __future__ import annotations

from pathlib import Path

from app.bench.report import HAND_WRITTEN, write_report
from tests.conftest import ROOT


def test_the_hand_written_part_survives_a_rewrite(tmp_path):
    page = tmp_path / "ingest.md"
    write_report(page, "# Bench\n\nratio 0.40x\n")
    assert page.read_text() == "# Bench\n\nratio 0.40x\n"  # no marker yet: the bench's output alone
    page.write_text(page.read_text() + f"\n{HAND_WRITTEN}\n\n## Runs\n\n| 1 | 0.40x |\n")
    write_report(page, "# Bench\n\nratio 0.52x\n")
    text = page.read_text()
    assert "ratio 0.52x" in text and "ratio 0.40x" not in text
    assert text.endswith(f"{HAND_WRITTEN}\n\n## Runs\n\n| 1 | 0.40x |\n")
    write_report(page, "# Bench\n\nratio 0.55x\n")
    assert page.read_text().count(HAND_WRITTEN) == 1


def test_pages_with_history_carry_the_marker():
    """Pages that `make bench` rewrites and that hold runs written by hand must say where those start."""
    pages = Path(ROOT, "benchmarks")
    for name in ("ingest.md", "ingest-postgresql.md", "proxy.md", "storefront.md", "worker.md"):
        assert HAND_WRITTEN in (pages / name).read_text(), name
