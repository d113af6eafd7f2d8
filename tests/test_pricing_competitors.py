"""Competitor monitoring (issue 20): a Merchant Center style feed read line by line (bad lines reported with
their number and reason, the good ones kept: 200 / 207 / 422 like the review import's per-row errors),
matched by GTIN (the barcode from product webhooks) or SKU, and compared in the admin (above / below the
market, undercut alerts); each shop sees only its own."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from app.agents.competitors import FeedError, parse_feed
from app.db import session_scope
from app.models.shop import Shop
from tests.conftest import TEST_API_KEY, TEST_API_SECRET
from tests.webhook_support import deliver, run_jobs

DOMAIN = "rivals.myshopify.com"
FEED = """id\ttitle\tprice\tsale_price\tgtin\tmpn\tlink
A1\tLamp\t95.00 USD\t\t0012345678905\t\thttps://rival.test/a1
A2\tMug\t11.00 USD\t9.50 USD\t\tMUG-1\thttps://rival.test/a2
A3\tBroken\tcheap\t\t\t\t
A4\tBad gtin\t10.00 USD\t\t12ab\t\t
A5\tNobody\t5.00 USD\t\t\tNOPE\t
"""


def _token(domain: str) -> str:
    import time

    now = int(time.time())
    claims = {"iss": f"https://{domain}/admin", "dest": f"https://{domain}", "aud": TEST_API_KEY, "sub": "1",
              "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "j", "sid": "s"}  # fmt: skip
    return jwt.encode(claims, TEST_API_SECRET, algorithm="HS256")


def test_feed_lines_are_checked_one_by_one():
    rows, rejected = parse_feed(FEED)
    assert [r.item_id for r in rows] == ["A1", "A2", "A5"]
    assert rows[1].price == 9.5 and rows[1].currency == "USD"  # the sale price when lower
    assert [r["line"] for r in rejected] == [4, 5]
    assert "price" in rejected[0]["reason"] and "gtin" in rejected[1]["reason"]
    for bad in ("", "title,link\nx,y\n"):
        with pytest.raises(FeedError):
            parse_feed(bad)
    comma, _ = parse_feed("id,price\nB1,3.50\n")
    assert comma[0].price == 3.5 and comma[0].currency is None


@pytest.fixture
def shop(jobs_env):
    with session_scope(jobs_env.database_url) as s:
        shops = [
            Shop(domain=d, access_token_enc="x", installed_at=datetime.now(UTC))
            for d in (DOMAIN, "b.myshopify.com")
        ]
        s.add_all(shops)
        s.flush()
        return shops[0].id


def test_import_match_and_compare(client, jobs_env, shop):
    product = {"id": 42, "title": "Lamp", "handle": "lamp", "status": "active", "updated_at": "2026-06-01T00:00:00Z",
               "created_at": "2026-05-01T00:00:00Z",
               "variants": [{"id": 4201, "product_id": 42, "price": "100.00", "barcode": "0012345678905", "sku": "LAMP-1"},
                            {"id": 4202, "product_id": 42, "price": "9.00", "sku": "MUG-1"}]}  # fmt: skip
    assert deliver(client, "products/create", product, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    auth = {"Authorization": f"Bearer {_token(DOMAIN)}", "Content-Type": "text/csv"}
    r = client.post("/api/admin/pricing/competitors/import?competitor=Rival", data=FEED, headers=auth)
    assert r.status_code == 207, r.get_json()
    body = r.get_json()
    assert body["stored"] == 3 and body["matched"] == 2 and [x["line"] for x in body["rejected"]] == [4, 5]
    clean = client.post("/api/admin/pricing/competitors/import?competitor=Other", data="id\tprice\tmpn\nZ\t8.00 USD\tMUG-1\n",
                        headers=auth)  # fmt: skip
    assert clean.status_code == 200 and clean.get_json()["matched"] == 1
    none = client.post(
        "/api/admin/pricing/competitors/import?competitor=Rival2", data="id,price\nX,free\n", headers=auth
    )
    assert none.status_code == 422 and none.get_json()["rejected"][0]["line"] == 2
    assert (
        client.post("/api/admin/pricing/competitors/import?competitor=", data=FEED, headers=auth).status_code
        == 400
    )
    assert (
        client.post(
            "/api/admin/pricing/competitors/import?competitor=R", data=b"\xff\xfe", headers=auth
        ).status_code
        == 400
    )
    assert (
        client.post("/api/admin/pricing/competitors/import?competitor=R", data="", headers=auth).status_code
        == 400
    )
    got = client.get("/api/admin/pricing/competitors?alert_pct=4", headers=auth).get_json()
    by = {v["variant_id"]: v for v in got["variants"]}
    assert (
        by[4201]["position"] == "above" and by[4201]["market_low"] == 95.0 and by[4201]["alert"]
    )  # 5.3 % above
    assert (
        by[4202]["market_low"] == 8.0 and by[4202]["competitor"] == "Other" and by[4202]["competitors"] == 2
    )
    assert got["alerts"] == 2
    assert client.get("/api/admin/pricing/competitors?alert_pct=x", headers=auth).status_code == 400
    # a re-import replaces that competitor's lines
    again = client.post("/api/admin/pricing/competitors/import?competitor=Rival", data="id,price,gtin\nA1,120.00,0012345678905\n",
                        headers=auth)  # fmt: skip
    assert again.status_code == 200
    after = {
        v["variant_id"]: v
        for v in client.get("/api/admin/pricing/competitors", headers=auth).get_json()["variants"]
    }
    assert after[4201]["position"] == "below" and not after[4201]["alert"]
    other = {"Authorization": f"Bearer {_token('b.myshopify.com')}"}
    assert client.get("/api/admin/pricing/competitors", headers=other).get_json()["variants"] == []
