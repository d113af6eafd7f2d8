"""Settings, encryption, migrations and probes."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlmodel import SQLModel

from app.config import SettingsError, load_settings
from app.crypto import TokenCipher
from app.db import get_engine


def test_production_refuses_placeholder_secrets():
    with pytest.raises(SettingsError) as err:
        load_settings(attune_env="production", shopify_api_secret="changeme")
    message = str(err.value)
    assert "SHOPIFY_API_SECRET" in message
    assert "ATTUNE_ENCRYPTION_KEY" in message


def test_production_accepts_real_settings():
    s = load_settings(
        attune_env="production",
        shopify_api_key="k" * 32,
        shopify_api_secret="s" * 32,
        attune_encryption_key=Fernet.generate_key().decode(),
        redis_url="redis://127.0.0.1:6379/0",
        app_url="https://attune.example",
    )
    assert s.attune_env == "production"


def test_host_is_accepted_as_app_url(monkeypatch):
    monkeypatch.delenv("APP_URL", raising=False)
    monkeypatch.setenv("HOST", "https://abc.trycloudflare.com/")
    assert load_settings().app_url == "https://abc.trycloudflare.com"


def test_origin_template_must_name_the_shop():
    with pytest.raises(SettingsError):
        load_settings(shopify_admin_origin_template="http://127.0.0.1:9999")


def test_bad_encryption_key_fails_fast():
    with pytest.raises(SettingsError, match="Fernet"):
        load_settings(attune_encryption_key="not-a-key")


def test_cipher_rotation_first_key_encrypts_all_decrypt():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_old = TokenCipher([old]).encrypt("shpat_abc")
    both = TokenCipher([new, old])
    assert both.decrypt(sealed_old) == "shpat_abc"
    rotated = both.rotate(sealed_old)
    assert TokenCipher([new]).decrypt(rotated) == "shpat_abc"
    with pytest.raises(ValueError):
        TokenCipher([Fernet.generate_key().decode()]).decrypt(sealed_old)


def test_models_and_migrations_agree(settings):
    """Fails when a model changes without a migration (or the other way round)."""
    with get_engine(settings.database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models and migrations disagree; run `attune db revision`: {diff}"


def test_every_table_is_scoped_by_shop():
    for table in SQLModel.metadata.sorted_tables:
        if table.name == "shop":
            continue
        assert "shop_id" in table.c, f"table {table.name} has no shop_id"


def test_health_and_ready(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json
    assert ready.json["checks"] == {"database": "ok", "redis": "ok"}


def test_ready_reports_redis_down(settings):
    from app import create_app

    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["checks"]["redis"].startswith("unavailable")


def test_unknown_route_is_json_404(client):
    resp = client.get("/nope")
    assert resp.status_code == 404
    assert resp.json["error"] == "Not Found"
