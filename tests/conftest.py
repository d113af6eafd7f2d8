"""Shared fixtures: a migrated database (SQLite or PostgreSQL), real Redis, settings and the app.

Pick the database with ``ATTUNE_TEST_DATABASE``: ``sqlite`` (default) or ``postgresql``
(127.0.0.1:5432, trust auth, database ``test``; each xdist worker gets its own schema).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, text
from sqlmodel import Session, SQLModel

from app.config import Settings, load_settings
from app.db import get_engine

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures" / "shopify"
DATA = SHARED / "data"
TEST_API_KEY = "test-api-key"
TEST_API_SECRET = "test-api-secret-0123456789abcdef"
TEST_PREVIOUS_SECRET = "previous-secret-0123456789abcdef"
TEST_FERNET_KEY = "Sl3qZqVn6yX8wq2kU1o9YlH6i3b7o1m0uE4b5c8d9fA="
pytest_plugins = ["fixtures_shopify"]  # fake Shopify, live app, installed shop, session tokens
PG_BASE = os.environ.get("ATTUNE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# ATTUNE_TEST_SLOT keeps concurrent runs of the suite on one machine apart (own schema, own Redis db).
SLOT = int(os.environ.get("ATTUNE_TEST_SLOT", "0"))


def _worker_id() -> str:
    return f"s{SLOT}_" + os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _worker_index() -> int:
    return SLOT * 2 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").lstrip("gw") or 0)


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A freshly migrated database for this test process."""
    from app.migrate import upgrade

    backend = os.environ.get("ATTUNE_TEST_DATABASE", "sqlite")
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'attune-test.sqlite3'}"
    elif backend in ("postgresql", "postgres"):
        schema = f"attune_test_{_worker_id()}"
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
    else:
        raise pytest.UsageError(f"ATTUNE_TEST_DATABASE={backend!r}: use sqlite or postgresql")
    upgrade(url)
    return url


def _truncate(url: str) -> None:
    engine = get_engine(url)
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            )
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    return f"redis://127.0.0.1:6379/{1 + _worker_index() % 15}"


@pytest.fixture
def settings(db_url: str, redis_url: str) -> Iterator[Settings]:
    _truncate(db_url)
    Redis.from_url(redis_url).flushdb()
    yield load_settings(
        attune_env="test",
        shopify_api_key=TEST_API_KEY,
        shopify_api_secret=TEST_API_SECRET,
        shopify_api_secret_previous=TEST_PREVIOUS_SECRET,
        database_url=db_url,
        redis_url=redis_url,
        attune_encryption_key=TEST_FERNET_KEY,
        app_url="https://attune.test",
    )


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with Session(get_engine(settings.database_url), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def jobs_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Jobs read their settings from the environment, as an RQ worker does: point it at the test database and
    Redis (with the hashing embedder, so no job loads a model)."""
    from app.catalog import search as catalog_search
    from app.config import get_settings

    env = {
        "ATTUNE_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url or "",
        "SHOPIFY_API_KEY": TEST_API_KEY,
        "SHOPIFY_API_SECRET": TEST_API_SECRET,
        "ATTUNE_ENCRYPTION_KEY": TEST_FERNET_KEY,
        "APP_URL": "https://attune.test",
        "ATTUNE_EMBEDDER": "hashing",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    catalog_search.clear_cache()
    yield settings
    get_settings.cache_clear()
    catalog_search.clear_cache()


@pytest.fixture
def hashing_embedder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process embedder is the hashing fake (no model to load), for tests that embed through settings."""
    from app.config import get_settings

    monkeypatch.setenv("ATTUNE_EMBEDDER", "hashing")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def app(settings: Settings):
    from app import create_app

    flask_app = create_app(settings)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


def needs_shared(path: Path) -> pytest.MarkDecorator:
    """Skip cleanly when ../shared (real datasets, Shopify fixtures) is not beside the checkout."""
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present (../shared is optional)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass, run only the tests that touch the database (their fixture closure holds
    ``db_url``): the rest already ran, unchanged, on the SQLite pass."""
    if os.environ.get("ATTUNE_TEST_DATABASE", "sqlite") not in ("postgresql", "postgres"):
        return
    keep = [item for item in items if "db_url" in getattr(item, "fixturenames", ())]
    dropped = [item for item in items if "db_url" not in getattr(item, "fixturenames", ())]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
