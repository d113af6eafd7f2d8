"""The pure core of the catalogue embedding job: embed only products whose text changed.

Input rows are ``(product_id, text, stored_hash)``; the hash of the text (salted with the embedder's name)
is compared with the stored one and only mismatches are embedded, in batches, with identical texts
embedded once. The caller (a worker job) loads the rows, calls :func:`embed_changed` and writes the
returned vectors and hashes back; nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.catalog.embedder import Embedder
from app.catalog.text import content_hash

DEFAULT_BATCH = 256


@dataclass(frozen=True, slots=True)
class EmbedRow:
    product_id: int
    text: str
    stored_hash: str | None = None


@dataclass(slots=True)
class EmbedResult:
    """Vectors and new hashes for the products that needed embedding; ``skipped`` were unchanged."""

    product_ids: list[int]
    vectors: np.ndarray
    hashes: list[str]
    skipped: list[int] = field(default_factory=list)
    texts_embedded: int = 0  # distinct texts sent to the model

    def __len__(self) -> int:
        return len(self.product_ids)


def plan(rows: Iterable[EmbedRow | tuple[int, str, str | None]], embedder_name: str):
    """Split rows into (changed rows with their new hash, unchanged product ids)."""
    changed: list[tuple[EmbedRow, str]] = []
    unchanged: list[int] = []
    for raw in rows:
        row = raw if isinstance(raw, EmbedRow) else EmbedRow(*raw)
        new_hash = content_hash(row.text, embedder_name)
        if row.stored_hash == new_hash:
            unchanged.append(row.product_id)
        else:
            changed.append((row, new_hash))
    return changed, unchanged


def embed_texts(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embed ``texts`` in batches of ``batch_size``; ``progress(n)`` is called after each batch."""
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        out[start : start + len(batch)] = embedder.embed(batch)
        if progress is not None:
            progress(len(batch))
    return out


def embed_changed(
    rows: Iterable[EmbedRow | tuple[int, str, str | None]],
    embedder: Embedder,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> EmbedResult:
    """Embed the rows whose text hash differs from the stored one; return their vectors and new hashes."""
    changed, unchanged = plan(rows, embedder.name)
    distinct: dict[str, int] = {}
    for row, _ in changed:
        distinct.setdefault(row.text, len(distinct))
    unique_texts = list(distinct)
    # Similar lengths in one batch waste less padding: embed longest first, then put rows back in order.
    order = sorted(range(len(unique_texts)), key=lambda i: -len(unique_texts[i]))
    sorted_vectors = embed_texts(
        embedder, [unique_texts[i] for i in order], batch_size=batch_size, progress=progress
    )
    unique_vectors = np.empty_like(sorted_vectors)
    unique_vectors[order] = sorted_vectors
    vectors = (
        unique_vectors[[distinct[row.text] for row, _ in changed]]
        if changed
        else np.zeros((0, embedder.dim), dtype=np.float32)
    )
    return EmbedResult(
        product_ids=[row.product_id for row, _ in changed],
        vectors=vectors,
        hashes=[h for _, h in changed],
        skipped=unchanged,
        texts_embedded=len(unique_texts),
    )
