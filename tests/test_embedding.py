"""Embedders: the real MiniLM (offline, once per process, threads pinned), its NumPy backend (the same vectors
without torch, for web workers) and the hashing fake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from app.catalog.embedder import Embedder
from app.embedding import (
    MINILM_DIM,
    HashingEmbedder,
    NumpyMiniLMEmbedder,
    SentenceTransformerEmbedder,
    get_embedder,
    get_query_embedder,
    make_embedder,
    minilm_path,
)
from app.embedding.minilm_numpy import WORD_EMBEDDINGS, SafetensorsFile, read_model_config
from tests import embedding_support
from tests.conftest import ROOT

minilm = embedding_support.minilm  # the session-scoped fixture

SENTENCES = ["wool hiking socks", "merino trekking socks", "espresso machine"]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_minilm_gives_normalised_384_dim_vectors_that_mean_something(minilm):
    vectors = minilm.embed(SENTENCES)
    assert isinstance(minilm, SentenceTransformerEmbedder)
    assert vectors.shape == (3, MINILM_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    socks, trekking, espresso = vectors
    assert _cos(socks, trekking) > _cos(socks, espresso) + 0.2


def test_minilm_batches_give_the_same_vectors_as_single_texts(minilm):
    texts = SENTENCES + ["a much longer product title: insulated waterproof down jacket for winter hiking"]
    batched = minilm.embed(texts)
    single = np.vstack([minilm.embed([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert minilm.embed([]).shape == (0, MINILM_DIM)


def test_minilm_is_loaded_once_per_process_with_threads_pinned(minilm):
    import torch

    assert get_embedder("minilm") is minilm
    assert isinstance(minilm, Embedder)
    assert torch.get_num_threads() == minilm.threads
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_minilm_loads_with_the_network_blocked_and_an_empty_hub_cache(tmp_path):
    """A fresh process with no offline switches set, sockets refusing to connect and a bogus HF cache."""
    bogus = tmp_path / "hf-cache"
    bogus.mkdir()
    script = textwrap.dedent(
        """
        import json, os, socket, sys

        def refuse(*args, **kwargs):
            raise OSError("network blocked by the test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse

        from app.embedding import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(threads=1)
        v = embedder.embed(["wool hiking socks", "merino trekking socks", "espresso machine"])
        print(json.dumps({
            "shape": list(v.shape),
            "near": float(v[0] @ v[1]),
            "far": float(v[0] @ v[2]),
            "offline": [os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE")],
        }))
        """
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS"))
    }
    env.update(
        HF_HOME=str(bogus),
        HF_HUB_CACHE=str(bogus / "hub"),
        SENTENCE_TRANSFORMERS_HOME=str(bogus / "st"),
        HF_ENDPOINT="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["shape"] == [3, MINILM_DIM]
    assert out["near"] > out["far"]
    assert out["offline"] == ["1", "1"]
    assert not any(p.is_file() for p in bogus.rglob("*")), "nothing may be downloaded or cached"


# --- MiniLM on NumPy: the web workers' query embedder -----------------------------------------------

# Queries as shoppers type them, product titles, and the awkward cases: empty, blank, accents, other
# scripts, emoji, and a text past MiniLM's 256-token limit (truncated the same way by both).
AWKWARD = [
    "warm jacket",
    "Organic Raw Unfiltered Apple Cider Vinegar 32 oz",
    "CAMPING stove!!",
    "Café crème brûlée ×12",
    "日本語のテキスト",
    "gift for dad 🎁",
    "",
    "   ",
    "merino " * 300,
]


@pytest.fixture(scope="module")
def numpy_minilm() -> NumpyMiniLMEmbedder:
    return NumpyMiniLMEmbedder()


def test_numpy_minilm_gives_the_torch_vectors(minilm, numpy_minilm):
    """Same model, same name, same vectors (within 1e-5; about 3e-7 in practice), batched or one by one, so
    queries embedded without torch search the product vectors the worker embedded with torch."""
    assert numpy_minilm.name == minilm.name and numpy_minilm.dim == minilm.dim == MINILM_DIM
    assert isinstance(numpy_minilm, Embedder)
    texts = SENTENCES + AWKWARD
    theirs = minilm.embed(texts)
    batched = numpy_minilm.embed(texts)
    single = np.vstack([numpy_minilm.embed([t]) for t in texts])
    assert batched.dtype == np.float32 and batched.shape == (len(texts), MINILM_DIM)
    np.testing.assert_allclose(batched, theirs, atol=1e-5)
    np.testing.assert_allclose(single, theirs, atol=1e-5)
    assert numpy_minilm.embed([]).shape == (0, MINILM_DIM)


def test_numpy_minilm_reads_word_rows_with_pread_as_stored():
    weights = SafetensorsFile(minilm_path() / "model.safetensors")
    ids = np.array([[101, 7592, 102, 0], [101, 30521, 7592, 102]])
    np.testing.assert_array_equal(weights.rows(WORD_EMBEDDINGS, ids), weights.tensor(WORD_EMBEDDINGS)[ids])
    with pytest.raises(IndexError):
        weights.rows(WORD_EMBEDDINGS, np.array([30522]))


@pytest.mark.parametrize(
    ("file", "change"),
    [
        ("config.json", {"hidden_act": "relu"}),
        ("config.json", {"model_type": "roberta"}),
        ("config.json", {"position_embedding_type": "relative_key"}),
        ("1_Pooling/config.json", {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}),
    ],
)
def test_numpy_minilm_refuses_a_model_it_does_not_compute(tmp_path, file, change):
    source = minilm_path()
    for name in ("config.json", "1_Pooling/config.json", "modules.json", "sentence_bert_config.json"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text((source / name).read_text())
    assert read_model_config(tmp_path).max_length == 256
    config = json.loads((tmp_path / file).read_text())
    (tmp_path / file).write_text(json.dumps({**config, **change}))
    with pytest.raises(ValueError, match="not supported"):
        read_model_config(tmp_path)


def test_numpy_minilm_loads_offline_without_torch():
    """A fresh process that blocks the network builds the NumPy embedder and embeds: nothing of torch,
    transformers or the Hugging Face hub is imported."""
    script = textwrap.dedent(
        """
        import json, socket, sys

        def refuse(*args, **kwargs):
            raise OSError("network blocked by the test")

        socket.socket.connect = refuse
        socket.create_connection = refuse

        from app.embedding import NumpyMiniLMEmbedder

        v = NumpyMiniLMEmbedder().embed(["wool hiking socks", "merino trekking socks", "espresso machine"])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in
                       ("torch", "transformers", "sentence_transformers", "huggingface_hub"))
        print(json.dumps({"near": float(v[0] @ v[1]), "far": float(v[0] @ v[2]), "heavy": heavy}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["heavy"] == []
    assert out["near"] > out["far"]


def test_query_embedder_is_minilm_on_numpy_unless_told_torch(minilm, monkeypatch):
    from app.config import get_settings

    def chosen(**env: str):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        return get_query_embedder()

    try:
        on_numpy = chosen(ATTUNE_EMBEDDER="minilm")
        assert isinstance(on_numpy, NumpyMiniLMEmbedder) and on_numpy.name == minilm.name
        assert chosen() is on_numpy  # loaded once per process
        assert chosen(ATTUNE_QUERY_EMBEDDER="torch") is get_embedder() is minilm
        assert isinstance(chosen(ATTUNE_EMBEDDER="hashing"), HashingEmbedder)
        assert get_query_embedder() is get_embedder()
    finally:
        get_settings.cache_clear()


def test_work_horses_forked_after_the_worker_preload_can_embed_and_cluster():
    """The RQ worker preloads MiniLM, then forks a work horse per job: each horse must be able to run torch
    and OpenMP code (a parent that already ran torch's thread pool leaves children that hang)."""
    script = textwrap.dedent(
        """
        import json, os, time
        from app.worker import preload

        preload()
        results = {}
        for job in ("embed", "cluster"):
            pid = os.fork()
            if pid == 0:
                if job == "embed":
                    from app.embedding import get_embedder
                    ok = get_embedder().embed(["wool socks"]).shape == (1, 384)
                else:
                    import numpy as np
                    from sklearn.cluster import KMeans
                    ok = len(KMeans(3, n_init=2, random_state=0).fit(np.random.rand(200, 8)).labels_) == 200
                os._exit(0 if ok else 1)
            deadline = time.monotonic() + 90  # a hung horse never finishes: give up on it, and say so
            while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            if done[0] == 0:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                results[job] = "hung"
            else:
                results[job] = "ok" if os.waitstatus_to_exitcode(done[1]) == 0 else "failed"
        print(json.dumps(results))
        """
    )
    env = {**os.environ, "ATTUNE_EMBEDDER": "minilm"}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"embed": "ok", "cluster": "ok"}


def test_hashing_embedder_is_deterministic_normalised_and_roughly_semantic():
    a, b = HashingEmbedder(), HashingEmbedder()
    texts = ["Wool Hiking Socks", "wool hiking sock", "Espresso Machine", ""]
    va, vb = a.embed(texts), b.embed(texts)
    np.testing.assert_array_equal(va, vb)
    assert va.dtype == np.float32 and va.shape == (4, a.dim)
    np.testing.assert_allclose(np.linalg.norm(va[:3], axis=1), 1.0, atol=1e-6)
    assert not va[3].any()  # no features, zero vector (never NaN)
    assert _cos(va[0], va[1]) > 0.6 > _cos(va[0], va[2])


def test_hashing_embedder_is_the_same_in_another_process():
    script = "from app.embedding import HashingEmbedder; print(HashingEmbedder().embed(['wool hiking socks']).tolist())"
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    theirs = np.array(json.loads(proc.stdout), dtype=np.float32)
    np.testing.assert_array_equal(theirs, HashingEmbedder().embed(["wool hiking socks"]))


def test_attune_embedder_setting_selects_the_fake(monkeypatch):
    from app import embedding
    from app.config import get_settings

    monkeypatch.setenv("ATTUNE_EMBEDDER", "hashing")
    get_settings.cache_clear()
    try:
        embedding.preload()
        chosen = get_embedder()
        assert isinstance(chosen, HashingEmbedder)
        assert get_embedder() is chosen
    finally:
        get_settings.cache_clear()


def test_unknown_embedder_kind_is_refused():
    with pytest.raises(ValueError, match="unknown embedder"):
        make_embedder("word2vec")
    assert isinstance(make_embedder("minilm-numpy"), NumpyMiniLMEmbedder)


def test_bench_embed_compares_with_the_naive_peer_on_the_same_texts(minilm, tmp_path):
    from click.testing import CliRunner

    from app.cli import main

    out_md = tmp_path / "embed.md"
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "embed",
            "--builtin",
            "--limit",
            "20",
            "--changed-share",
            "0.25",
            "--json",
            "--out",
            str(out_md),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["products"] == 20 and report["re_embedded_on_resync"] == 5
    assert report["max_abs_vector_difference"] < 1e-4  # batching changes speed, not vectors
    assert report["threads"] == minilm.threads
    for key in ("ours_cold_products_per_s", "ours_resync_products_per_s", "peer_products_per_s"):
        assert report[key] > 0
    assert report["ratio_cold"] == pytest.approx(
        report["ours_cold_products_per_s"] / report["peer_products_per_s"]
    )
    assert "products/s" in out_md.read_text()
