"""Stored product embeddings (only changed texts re-embedded, deleted products dropped) and semantic search
through the app proxy: sensible hits, no out-of-stock products, never another shop's products."""

from __future__ import annotations

import gc
import time
from urllib.parse import urlencode

import pytest
from sqlmodel import select

from app.catalog import search as catalog_search
from app.embedding import HashingEmbedder, get_embedder
from app.jobs.catalog import embed_shop_products
from app.models.base import utcnow
from app.models.catalog import ProductEmbedding
from app.models.commerce import InventoryLevel, Product, ProductVariant
from app.queue import get_queue
from app.shopify.verify import proxy_signature
from app.storefront.demo_data import CATALOG, OUT_OF_STOCK, seed_demo_shop
from app.stores.catalog import sync_embeddings
from tests.conftest import TEST_API_SECRET
from tests.embedding_support import minilm  # noqa: F401  (fixture)

SHOP_A = "attune-demo.myshopify.com"
SHOP_B = "other-shop.myshopify.com"


@pytest.fixture(autouse=True)
def fresh_search(hashing_embedder):
    """The process embedder is the hashing fake unless a test passes the real model explicitly."""
    catalog_search.clear_cache()
    yield
    catalog_search.clear_cache()


def signed(path: str, params: dict, *, shop: str = SHOP_A) -> str:
    pairs = list(params.items()) + [
        ("shop", shop),
        ("logged_in_customer_id", ""),
        ("path_prefix", "/apps/attune"),
        ("timestamp", str(int(time.time()))),
    ]
    pairs.append(("signature", proxy_signature(pairs, TEST_API_SECRET)))
    return f"/proxy{path}?{urlencode(pairs)}"


@pytest.fixture
def demo(session, settings):
    shop = seed_demo_shop(session, SHOP_A, orders=False)
    session.commit()
    return shop


def stored(session, shop_id: int) -> dict[int, ProductEmbedding]:
    session.expire_all()
    rows = session.exec(select(ProductEmbedding).where(ProductEmbedding.shop_id == shop_id)).all()
    return {r.product_shopify_id: r for r in rows}


def test_vectors_are_stored_once_and_reembedded_only_on_text_change(session, settings, demo):
    first = embed_shop_products(demo.shop_id, settings)
    assert first == {"embedded": len(CATALOG), "texts_embedded": len(CATALOG), "unchanged": 0, "deleted": 0}
    rows = stored(session, demo.shop_id)
    hashes = {p: r.content_hash for p, r in rows.items()}
    stamps = {p: r.updated_at for p, r in rows.items()}
    assert set(rows) == {pid for pid, *_ in CATALOG}
    row = rows[1005]
    embedder = get_embedder()
    assert row.model == embedder.name and row.dim == embedder.dim
    assert row.unpack().shape == (embedder.dim,)
    # the stored vector is the embedder's vector of the product text
    assert float(row.unpack() @ embedder.embed([row_text(session, demo.shop_id, 1005)])[0]) > 0.999
    # embedding finished: the lists every shopper shares are queued for a refresh (deduplicated job id);
    # customers' personal lists do not read vectors, so they are not rewritten for this
    refresh = get_queue(settings.redis_url, "low").fetch_job(f"recs-shared-{demo.shop_id}")
    assert refresh is not None and refresh.kwargs == {"personal": False}
    assert get_queue(settings.redis_url, "low").fetch_job(f"recs-shop-{demo.shop_id}") is None
    get_queue(settings.redis_url, "low").empty()

    second = embed_shop_products(demo.shop_id, settings)
    assert second == {"embedded": 0, "texts_embedded": 0, "unchanged": len(CATALOG), "deleted": 0}
    assert {p: r.updated_at for p, r in stored(session, demo.shop_id).items()} == stamps
    assert len(get_queue(settings.redis_url, "low")) == 0  # nothing changed, nothing queued

    product = session.exec(select(Product).where(Product.shopify_id == 1005)).one()
    product.title = "Polar Fleece Hoodie"
    product.shopify_updated_at = utcnow()  # a stock-only change elsewhere must not re-embed
    session.add(product)
    session.commit()
    third = embed_shop_products(demo.shop_id, settings)
    assert third["embedded"] == 1 and third["unchanged"] == len(CATALOG) - 1
    after = stored(session, demo.shop_id)
    assert after[1005].content_hash != hashes[1005] and after[1005].updated_at > stamps[1005]
    assert all(after[p].content_hash == hashes[p] for p in after if p != 1005)


def row_text(session, shop_id: int, pid: int) -> str:
    from app.stores.catalog import text_of

    return text_of(
        session.exec(select(Product).where(Product.shop_id == shop_id, Product.shopify_id == pid)).one()
    )


def test_deleted_and_unpublished_products_lose_their_vectors(session, settings, demo):
    embed_shop_products(demo.shop_id, settings)
    gone = session.exec(select(Product).where(Product.shopify_id == 1012)).one()
    gone.deleted_at = utcnow()
    draft = session.exec(select(Product).where(Product.shopify_id == 1013)).one()
    draft.status = "draft"
    session.add_all([gone, draft])
    session.commit()
    report = embed_shop_products(demo.shop_id, settings)
    assert report["deleted"] == 2 and report["embedded"] == 0
    assert set(stored(session, demo.shop_id)) == {pid for pid, *_ in CATALOG} - {1012, 1013}


def test_a_new_embedder_reembeds_everything(session, settings, demo):
    embed_shop_products(demo.shop_id, settings)
    report = sync_embeddings(session, demo.shop_id, HashingEmbedder(dim=64))
    session.commit()
    assert report.embedded == len(CATALOG)
    assert {r.dim for r in stored(session, demo.shop_id).values()} == {64}


def test_proxy_search_finds_sensible_in_stock_products(client, session, settings, demo):
    embed_shop_products(demo.shop_id, settings)
    r = client.get(signed("/search", {"q": "camping stove"}))
    assert r.status_code == 200, r.json
    items = r.json["items"]
    assert items[0]["product_id"] == 1010
    assert items[0]["reason"] == "Matches “camping stove”" and items[0]["currency"] == "USD"
    assert r.json["query"] == "camping stove"
    tent = client.get(signed("/search", {"q": "ultralight two-person tent", "limit": "20"})).json["items"]
    assert tent and OUT_OF_STOCK not in [i["product_id"] for i in tent]


def test_search_index_follows_new_vectors_and_stock(client, session, settings, demo):
    embed_shop_products(demo.shop_id, settings)
    assert client.get(signed("/search", {"q": "sun hat"})).json["items"][0]["product_id"] == 1012
    hat = session.exec(select(Product).where(Product.shopify_id == 1012)).one()
    hat.title, hat.tags, hat.body_html = "Kayak Paddle", "water, paddle", "<p>A carbon kayak paddle.</p>"
    session.add(hat)
    session.commit()
    embed_shop_products(demo.shop_id, settings)
    assert client.get(signed("/search", {"q": "kayak paddle"})).json["items"][0]["product_id"] == 1012

    # sold out: gone from the next search (the index re-reads stock after STOCK_TTL; the card is live)
    level = session.exec(select(InventoryLevel).where(InventoryLevel.inventory_item_id == 101200)).one()
    level.available = 0
    session.add(level)
    session.commit()
    ids = [i["product_id"] for i in client.get(signed("/search", {"q": "kayak paddle"})).json["items"]]
    assert 1012 not in ids


def test_search_never_crosses_shops(client, session, settings, demo):
    other = seed_demo_shop(session, SHOP_B, orders=False)
    # shop B sells a product shop A does not have; same product ids otherwise (ids are per shop)
    session.add(
        Product(
            shop_id=other.shop_id,
            shopify_id=5001,
            title="Inflatable Kayak",
            product_type="Boats",
            status="active",
            tags="kayak, water",
            handle="inflatable-kayak",
        )
    )
    session.add(
        ProductVariant(
            shop_id=other.shop_id, shopify_id=5001001, product_shopify_id=5001, price=1, inventory_quantity=3
        )
    )
    session.commit()
    embed_shop_products(demo.shop_id, settings)
    embed_shop_products(other.shop_id, settings)
    in_b = client.get(signed("/search", {"q": "inflatable kayak"}, shop=SHOP_B)).json["items"]
    assert in_b[0]["product_id"] == 5001
    in_a = client.get(signed("/search", {"q": "inflatable kayak", "limit": "20"})).json["items"]
    assert 5001 not in [i["product_id"] for i in in_a]
    assert catalog_search.search_shop(settings.database_url, demo.shop_id, "inflatable kayak", k=50)
    assert 5001 not in dict(catalog_search.search_shop(settings.database_url, demo.shop_id, "kayak", k=50))


def test_a_shop_without_vectors_answers_an_empty_list(client, demo):
    r = client.get(signed("/search", {"q": "warm socks"}))
    assert r.status_code == 200 and r.json["items"] == []


def test_minilm_finds_something_warm_for_hiking(session, settings, demo, minilm, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ATTUNE_EMBEDDER", "minilm")
    from app.config import get_settings

    get_settings.cache_clear()
    assert get_embedder() is minilm
    embed_shop_products(demo.shop_id, settings)
    hits = catalog_search.search_shop(settings.database_url, demo.shop_id, "something warm for hiking", k=3)
    titles = {pid: title for pid, title, *_ in CATALOG}
    top = [titles[pid] for pid, _ in hits]
    assert any("Fleece" in t or "Wool" in t for t in top), top


SHOPPER_QUERIES = [
    "something warm for hiking",
    "camping stove",
    "rain gear",
    "a gift for someone who loves coffee",
    "sleeping bag for winter",
    "socks",
]


@pytest.fixture
def minilm_vectors(session, settings, demo, minilm, monkeypatch):  # noqa: F811
    """The demo shop's products embedded by the worker's MiniLM (torch), as in production."""
    from app.config import get_settings

    monkeypatch.setenv("ATTUNE_EMBEDDER", "minilm")
    get_settings.cache_clear()
    assert get_embedder() is minilm
    embed_shop_products(demo.shop_id, settings)
    yield demo
    get_settings.cache_clear()


def _search_all(settings, shop_id: int) -> dict[str, list[tuple[int, float]]]:
    catalog_search.clear_cache()
    return {q: catalog_search.search_shop(settings.database_url, shop_id, q, k=10) for q in SHOPPER_QUERIES}


def test_queries_embedded_without_torch_find_the_same_products(settings, minilm_vectors, monkeypatch):
    """The web's query embedder (MiniLM on NumPy) answers every query with the products, order and scores
    (within 1e-5) of the torch model that embedded the catalogue."""
    from app.config import get_settings
    from app.embedding import NumpyMiniLMEmbedder, get_query_embedder

    assert isinstance(get_query_embedder(), NumpyMiniLMEmbedder)
    ours = _search_all(settings, minilm_vectors.shop_id)
    monkeypatch.setenv("ATTUNE_QUERY_EMBEDDER", "torch")
    get_settings.cache_clear()
    assert get_query_embedder() is get_embedder()
    theirs = _search_all(settings, minilm_vectors.shop_id)
    for query in SHOPPER_QUERIES:
        assert [p for p, _ in ours[query]] == [p for p, _ in theirs[query]], query
        assert [s for _, s in ours[query]] == pytest.approx([s for _, s in theirs[query]], abs=1e-5)
    assert all(ours[q] for q in SHOPPER_QUERIES)


def test_a_web_process_serves_search_without_importing_torch(settings, minilm_vectors, monkeypatch):
    """A fresh process builds the app, prepares itself as a gunicorn worker does (search embedder preloaded)
    and serves storefront searches through the app proxy: the answers are the torch model's, and nothing of
    torch, transformers or sentence-transformers is in ``sys.modules``."""
    import json
    import os
    import subprocess
    import sys

    from app.config import get_settings
    from tests.conftest import ROOT

    paths = [signed("/search", {"q": q, "limit": "6"}) for q in SHOPPER_QUERIES]
    script = """
import json, sys
from app import create_app
from app.catalog.search import prepare_web_worker
from app.config import get_settings
app = create_app(get_settings())
prepare_web_worker()
client = app.test_client()
answers = {}
for path in json.loads(sys.argv[1]):
    r = client.get(path)
    assert r.status_code == 200, r.data
    answers[path] = [item["product_id"] for item in r.json["items"]]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "sentence_transformers"))
print(json.dumps({"answers": answers, "heavy": heavy}))
"""
    env = {
        **os.environ,
        "ATTUNE_ENV": "test",
        "ATTUNE_EMBEDDER": "minilm",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url or "",
        "SHOPIFY_API_SECRET": TEST_API_SECRET,
        "APP_URL": "https://attune.test",
    }
    env.pop("ATTUNE_QUERY_EMBEDDER", None)
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(paths)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["heavy"] == []
    # the same answers as this process gives with the torch model embedding the queries
    monkeypatch.setenv("ATTUNE_QUERY_EMBEDDER", "torch")
    get_settings.cache_clear()
    catalog_search.clear_cache()
    from app import create_app

    client = create_app(settings).test_client()
    for path in paths:
        r = client.get(path)
        assert out["answers"][path] == [item["product_id"] for item in r.json["items"]]
    assert all(out["answers"].values())


def test_catalogue_changes_and_syncs_queue_the_embedding_job_after_commit(
    session, settings, demo, monkeypatch
):
    from app.config import get_settings
    from app.jobs.sync import _after_sync
    from app.tasks import catalog_changed

    # webhook handlers read the process settings, as the worker does: point them at the test Redis
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()

    low = get_queue(settings.redis_url, "low")
    job_id = f"embed-shop-{demo.shop_id}"
    product = session.exec(select(Product).where(Product.shopify_id == 1001)).one()
    product.title = "Alpine Down Parka"
    session.add(product)
    catalog_changed(session, demo.shop_id)
    session.flush()
    assert low.fetch_job(job_id) is None  # not before the change commits
    session.commit()
    assert low.fetch_job(job_id).func_name == "app.jobs.catalog.embed_shop_products"
    low.empty()
    _after_sync(settings, demo.shop_id)
    assert job_id in low.job_ids


def test_web_workers_preload_the_search_embedder(monkeypatch, caplog):
    import app.embedding as embedding
    from app import gunicorn_conf
    from app.config import get_settings

    monkeypatch.setattr(embedding, "_cache", {})
    monkeypatch.setenv("ATTUNE_SEARCH_PRELOAD", "0")
    get_settings.cache_clear()
    assert catalog_search.warm_up_search() is None and embedding._cache == {}  # off: loads on first search
    monkeypatch.delenv("ATTUNE_SEARCH_PRELOAD")
    get_settings.cache_clear()
    assert get_settings().attune_search_preload is True  # on by default
    called = []
    monkeypatch.setattr("app.web.proxy_fast.prepare_worker", lambda wsgi: called.append(wsgi))
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(len(gc.get_objects())))
    frozen: list[int] = []
    with caplog.at_level("INFO", logger="app.catalog.search"):
        gunicorn_conf.post_worker_init(type("Worker", (), {"wsgi": "app"})())
    assert called == ["app"]
    assert len(frozen) == 1 and frozen[0] > 10_000  # the start-up heap, model included, is frozen last
    assert [key[0] for key in embedding._cache] == ["hashing"]  # loaded before the first request
    assert "search embedder hashing/512 loaded" in caplog.text
    # a broken model never stops the worker: search falls back to loading on first use
    monkeypatch.setattr(embedding, "_cache", {})
    monkeypatch.setattr(
        catalog_search, "get_query_embedder", lambda: (_ for _ in ()).throw(RuntimeError("no model"))
    )
    with caplog.at_level("WARNING", logger="app.catalog.search"):
        catalog_search.prepare_web_worker()
    assert "preload failed" in caplog.text


def test_web_workers_run_blas_on_one_thread():
    """gunicorn's settings (read before the app is imported) give each web worker one BLAS thread: its request
    threads, not OpenBLAS's, share the worker's core."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = (
        "import json, app.gunicorn_conf, numpy, threadpoolctl; "
        "print(json.dumps([p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas']))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [1]
