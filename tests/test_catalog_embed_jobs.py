"""The embedding job's pure part: only changed text is embedded, in batches, in input order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.catalog.embed_jobs import EmbedRow, embed_changed
from app.catalog.text import content_hash
from app.embedding import HashingEmbedder


class RecordingEmbedder(HashingEmbedder):
    """The real hashing embedder, remembering each batch it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return super().embed(texts)


TEXTS = {1: "Merino hiking socks", 2: "Espresso machine", 3: "Down jacket", 4: "Merino hiking socks"}


def test_first_run_embeds_everything_in_input_order_and_duplicates_once():
    emb = RecordingEmbedder()
    result = embed_changed([(pid, text, None) for pid, text in TEXTS.items()], emb, batch_size=2)
    assert result.product_ids == [1, 2, 3, 4] and result.skipped == []
    assert result.texts_embedded == 3 and sum(len(b) for b in emb.batches) == 3
    assert all(len(b) <= 2 for b in emb.batches)
    np.testing.assert_allclose(result.vectors, HashingEmbedder().embed(list(TEXTS.values())), atol=1e-6)
    assert result.hashes == [content_hash(t, emb.name) for t in TEXTS.values()]


def test_unchanged_text_is_not_embedded_again():
    emb = RecordingEmbedder()
    first = embed_changed([EmbedRow(pid, text) for pid, text in TEXTS.items()], emb)
    stored = dict(zip(first.product_ids, first.hashes, strict=True))
    emb.batches.clear()

    again = embed_changed([(pid, text, stored[pid]) for pid, text in TEXTS.items()], emb)
    assert len(again) == 0 and again.vectors.shape == (0, emb.dim)
    assert again.skipped == [1, 2, 3, 4] and emb.batches == []

    edited = {**TEXTS, 2: "Espresso machine with milk frother"}
    third = embed_changed([(pid, text, stored[pid]) for pid, text in edited.items()], emb)
    assert third.product_ids == [2] and third.skipped == [1, 3, 4]
    assert emb.batches == [["Espresso machine with milk frother"]]
    assert third.hashes[0] != stored[2]


def test_a_different_embedder_re_embeds_everything():
    first = embed_changed([(1, "Merino socks", None)], HashingEmbedder(dim=512))
    other = embed_changed([(1, "Merino socks", first.hashes[0])], HashingEmbedder(dim=256))
    assert other.product_ids == [1] and other.vectors.shape == (1, 256)
