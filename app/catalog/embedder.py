"""What the catalogue needs of a text embedder, and the normalisation every stored vector goes through.

The interface lives in the domain so that the index, the embedding diff and the stores depend on it, not on
the model: ``app.embedding`` provides the implementations (MiniLM, and a hashing stand-in beside it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str  # identifies model + preprocessing; part of the content hash, so a new model re-embeds
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)
