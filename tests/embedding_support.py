"""The real MiniLM embedder for tests: loaded once per test process (``get_embedder`` caches it)."""

from __future__ import annotations

import pytest

from app.embedding import Embedder, get_embedder


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    return get_embedder("minilm")
