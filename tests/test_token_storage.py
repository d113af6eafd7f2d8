"""No Shopify token is ever stored in plaintext: dump every column of every table and search."""

from __future__ import annotations

from conftest import TEST_FERNET_KEY
from fixtures_shopify import LiveApp, make_session_token
from sqlalchemy import MetaData, select

from app.crypto import TokenCipher
from app.db import get_engine
from app.shopify.admin import AdminClient


def _dump_database(url: str) -> str:
    """Every value of every row of every table actually in the database (reflected, not the models)."""
    engine = get_engine(url)
    meta = MetaData()
    meta.reflect(bind=engine)
    chunks: list[str] = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    chunks.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    assert chunks, "the dump is empty: the test would prove nothing"
    return "\n".join(chunks)


def test_no_token_is_stored_in_plaintext(live_app: LiveApp):
    fake = live_app.fake
    # Tokens from every path: code grant (two shops), refresh (rotation), token exchange.
    assert live_app.install("first-shop.myshopify.com").status_code == 200
    assert live_app.install("second-shop.myshopify.com").status_code == 200
    first = live_app.shop_row("first-shop.myshopify.com")
    assert first is not None and first.id is not None
    fake.revoke_all("first-shop.myshopify.com")  # uninstall (Shopify revokes the tokens) and reinstall
    assert live_app.install("first-shop.myshopify.com").status_code == 200
    [current] = [t for t in fake.tokens_for("first-shop.myshopify.com", "access") if not t.revoked]
    fake.revoke_token(current.value)
    AdminClient.for_shop(live_app.settings, first.id).shop_info()  # 401 → refresh → retry
    assert fake.calls["refresh"] == 1
    exchanged = live_app.client().get(
        "/api/admin/shop",
        headers={"Authorization": f"Bearer {make_session_token('third-shop.myshopify.com')}"},
    )
    assert exchanged.status_code == 200 and fake.calls["token_exchange"] == 1

    issued = [t.value for t in fake.tokens.values()]
    assert len(issued) >= 10  # access + refresh for every grant above

    dump = _dump_database(live_app.settings.database_url)
    leaked = [token for token in issued if token in dump]
    assert leaked == [], f"plaintext tokens found in the database: {leaked}"
    # The prefix alone never appears either (no partial or differently-encoded copy of a token).
    assert "shpat_" not in dump and "shprt_" not in dump

    # And yet they are all there, encrypted: every installed shop decrypts to its live token.
    cipher = TokenCipher([TEST_FERNET_KEY])
    for domain in ("first-shop.myshopify.com", "second-shop.myshopify.com", "third-shop.myshopify.com"):
        row = live_app.shop_row(domain)
        assert row is not None and row.access_token_enc and row.refresh_token_enc
        access = cipher.decrypt(row.access_token_enc)
        refresh = cipher.decrypt(row.refresh_token_enc)
        assert fake._valid_token(access, domain, "access") is not None
        assert fake._valid_token(refresh, domain, "refresh") is not None
