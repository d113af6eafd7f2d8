"""Title matching with the project's embedder (issue 20): all-MiniLM-L6-v2 from the bundled package (no hub
download) puts a competitor's wording of the same product on the right variant above the threshold, and leaves
an unrelated item unmatched."""

from __future__ import annotations

import numpy as np

from app.agents.competitors import TITLE_MATCH_MIN, title_matches
from tests import embedding_support

minilm = embedding_support.minilm  # the session-scoped fixture

OURS = ["Walnut serving board, large", "Ceramic coffee mug, white", "Arc floor lamp, brass", "Oak cutting board, small",
        "Linen napkins, set of 4"]  # fmt: skip
THEIRS = [
    "Large Walnut Serving Board",
    "White ceramic mug for coffee",
    "Brass arc floor lamp",
    "Stainless steel kettle 1.7 l",
]


def test_minilm_title_matches(minilm):
    theirs, ours = np.asarray(minilm.embed(THEIRS)), np.asarray(minilm.embed(OURS))
    found = {i: (j, score) for i, j, score in title_matches(theirs, ours)}
    assert {i: j for i, (j, _) in found.items()} == {0: 0, 1: 1, 2: 2}, found
    assert all(score >= TITLE_MATCH_MIN for _, score in found.values())
    assert 3 not in found  # the kettle is nothing of ours
