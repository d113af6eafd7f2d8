"""Production gunicorn settings (``attune serve`` and the Procfile's web process)."""

import gc
import multiprocessing
import os

# One BLAS thread per web worker. There is a worker process per core with up to 16 request threads each, so
# OpenBLAS's own threads only fight them and each other for the cores: storefront search (its query embedder
# and index are NumPy) measured p50 133 ms with them and 16 ms without, on two busy cores. Set before the app,
# and so NumPy, is imported (gunicorn reads this file first; the master preloads the app); the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Threaded workers: Shopify delivers webhooks concurrently, and concurrent deliveries in one process
# share one inbox commit (group commit, webhooks/inbox_writer.py); one process per core keeps
# GIL-bound processes from fighting over cores. GUNICORN_THREADS=1 gives the classic sync workers
# (2 x cores + 1 of them unless WEB_CONCURRENCY says otherwise).
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
worker_class = "gthread" if threads > 1 else "sync"
_default_workers = multiprocessing.cpu_count() if threads > 1 else multiprocessing.cpu_count() * 2 + 1
workers = int(os.environ.get("WEB_CONCURRENCY", _default_workers))
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle a worker now and then (a guard against slow leaks), but rarely: a new worker spends seconds of
# CPU loading the search embedder, which at 5,000 requests meant a reload every few seconds under load.
max_requests = 100_000
max_requests_jitter = 10_000
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG")  # off unless asked: the log line costs throughput
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):  # noqa: ANN001 - gunicorn hook
    """Warm this worker's serving caches, move its served-list log appends off the request path, load
    the search embedder (``ATTUNE_SEARCH_PRELOAD``) so the first storefront search does not pay for it,
    then freeze the start-up heap out of the garbage collector's way."""
    from app.catalog.search import prepare_web_worker
    from app.web.proxy_fast import prepare_worker

    prepare_worker(worker.wsgi)
    prepare_web_worker()
    freeze_startup_heap()


def freeze_startup_heap() -> int:
    """Hide everything loaded so far (the app and its libraries, and the search embedder) from the cyclic
    garbage collector. They live as long as the worker; left in view, every full collection walks them all
    and stops every request thread of the worker (about 250 ms when workers still imported torch, which
    they no longer do: ``app/embedding/minilm_numpy.py``). Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def worker_exit(server, worker):  # noqa: ANN001 - gunicorn hook
    """Push what this worker's served-list log still holds, and queue the jobs of the webhooks it
    acknowledged, before it goes."""
    from app.web.proxy_fast import finish_worker
    from webhooks.ingest import shutdown

    finish_worker(getattr(worker, "wsgi", None))
    shutdown()


def child_exit(server, worker):  # noqa: ANN001 - gunicorn hook
    """In Prometheus's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``), drop a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
