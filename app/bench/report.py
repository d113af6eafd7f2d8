"""Writing a benchmark's page: the bench's own output on top, what people wrote below it kept."""

from __future__ import annotations

from pathlib import Path

HAND_WRITTEN = "<!-- written by hand below this line: `attune bench` keeps it when it rewrites the page -->"


def write_report(path: str | Path, generated: str) -> str:
    """Write ``generated`` to ``path``, followed by the page's hand-written part (everything from the
    ``HAND_WRITTEN`` marker on) when the page already has one. Returns what was written."""
    path = Path(path)
    kept = ""
    if path.exists():
        old = path.read_text()
        at = old.find(HAND_WRITTEN)
        if at >= 0:
            kept = old[at:]
    text = generated.rstrip("\n") + "\n"
    if kept:
        text += "\n" + kept
    path.write_text(text)
    return text
