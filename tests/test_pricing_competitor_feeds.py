"""Competitor feeds by URL (issue 20), fetched from a real HTTP server on the loopback: timeouts, the size cap,
content types, redirects and in-network addresses; bad lines reported line by line and the valid ones kept;
matching by GTIN, SKU and title embedding (a suggestion until the merchant confirms it); undercut alerts,
recorded once and e-mailed to the merchant through a real SMTP server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.channels.email_loopback import LoopbackSmtp
from app.crypto import TokenCipher
from app.db import session_scope
from app.jobs.competitors import FetchError, fetch_feed, refresh_competitor_feed
from app.models.shop import Shop
from app.stores.channels import save_email_settings
from tests.email_support import SENDER
from tests.test_pricing_competitors import _token
from tests.webhook_support import deliver, run_jobs

DOMAIN = "market.myshopify.com"
FEED = (
    "id\ttitle\tprice\tsale_price\tgtin\tmpn\tlink\n"
    "R1\tArc floor lamp\t95.00 USD\t\t0012345678905\t\thttps://rival.test/r1\n"  # GTIN: our lamp, 5 % cheaper
    "R2\tCeramic mug\t9.50 USD\t\t\tMUG-1\t\n"  # SKU: our mug at 10.00
    "R3\tBroken\tcheap\t\t\t\t\n"  # line 4: bad price
    "R4\tWalnut serving board large\t30.00 USD\t\t\t\t\n"  # title only: our board at 40.00
    "R5\tBad gtin\t10.00 USD\t\t12ab\t\t\n"  # line 6: bad GTIN
)


class _Feeds(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self):  # noqa: N802
        status, headers, body = self.routes.get(self.path, (404, {"Content-Type": "text/plain"}, b"no"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers and self.path != "/unsized":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Feeds)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    _Feeds.routes = {
        "/feed.tsv": (200, {"Content-Type": "text/tab-separated-values; charset=utf-8"}, FEED.encode()),
        "/page": (200, {"Content-Type": "text/html"}, b"<html>shop</html>"),
        "/moved": (302, {"Location": "/feed.tsv"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/big": (200, {"Content-Type": "text/csv"}, b"id,price\n" + b"x,1.00\n" * 2000),
        "/unsized": (200, {"Content-Type": "text/csv"}, b"id,price\n" + b"x,1.00\n" * 2000),
        "/latin1": (200, {"Content-Type": "text/csv; charset=utf-8"}, "id,title,price\n1,Caf\xe9,2.00\n".encode("latin-1")),
    }  # fmt: skip
    yield base
    httpd.shutdown()
    httpd.server_close()


def test_fetching_checks_type_size_redirects_and_addresses(server):
    assert fetch_feed(f"{server}/feed.tsv", allow_private=True) == FEED
    assert fetch_feed(f"{server}/moved", allow_private=True) == FEED
    for path, words in (("/page", "text/html"), ("/missing", "HTTP 404"), ("/loop", "redirects"),
                        ("/latin1", "UTF-8")):  # fmt: skip
        with pytest.raises(FetchError, match=words):
            fetch_feed(f"{server}{path}", allow_private=True)
    with pytest.raises(FetchError, match="larger than"):
        fetch_feed(f"{server}/big", allow_private=True, max_bytes=4096)
    # a body without a declared length is cut off at the cap while it streams, never read whole
    with pytest.raises(FetchError, match="larger than"):
        fetch_feed(f"{server}/unsized", allow_private=True, max_bytes=4096)
    with pytest.raises(FetchError, match="not a public address"):
        fetch_feed(f"{server}/feed.tsv")  # production refuses the loopback
    for bad in ("ftp://x.test/feed", f"http://user:pw@127.0.0.1:{server.rsplit(':', 1)[1]}/feed.tsv"):
        with pytest.raises(FetchError):
            fetch_feed(bad, allow_private=True)
    # nothing listens here: a connection error is a reason, not a crash
    with pytest.raises(FetchError, match="could not be fetched"):
        fetch_feed("http://127.0.0.1:9/feed.tsv", allow_private=True)


@pytest.fixture
def shops(jobs_env):
    with session_scope(jobs_env.database_url) as s:
        rows = [
            Shop(domain=d, access_token_enc="x", installed_at=datetime.now(UTC))
            for d in (DOMAIN, "other.myshopify.com")
        ]
        s.add_all(rows)
        s.flush()
        return rows[0].id, rows[1].id


@pytest.fixture
def shop(jobs_env, client, shops):
    ids = shops
    products = [
        (
            42,
            "Arc floor lamp",
            [{"id": 4201, "price": "100.00", "barcode": "0012345678905", "sku": "LAMP-1"}],
        ),
        (43, "Ceramic mug", [{"id": 4301, "price": "10.00", "sku": "MUG-1"}]),
        (44, "Walnut serving board, large", [{"id": 4401, "price": "40.00", "sku": "BOARD-L"}]),
    ]
    for pid, title, variants in products:
        body = {"id": pid, "title": title, "handle": f"p{pid}", "status": "active", "updated_at": "2026-06-01T00:00:00Z",
                "created_at": "2026-05-01T00:00:00Z", "variants": [{**v, "product_id": pid, "title": "Default Title"} for v in variants]}  # fmt: skip
        assert deliver(client, "products/create", body, shop=DOMAIN).status_code == 200
    run_jobs(jobs_env.redis_url, ("webhooks",))
    return ids


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(DOMAIN)}"}


def test_a_feed_url_is_fetched_matched_confirmed_and_alerted_once(client, jobs_env, shop, server):
    shop_id, other_id = shop
    for body, status in (({"competitor": "Rival", "url": "ftp://x"}, 400), ({"competitor": "", "url": server}, 400),
                         ({"competitor": "Rival", "alert_pct": 101}, 400), ([1], 400),
                         ({"competitor": "Rival", "url": f"http://u:p@{server[7:]}/f"}, 400)):  # fmt: skip
        r = client.post("/api/admin/pricing/competitors/feeds", json=body, headers=_auth())
        assert r.status_code == status and r.get_json()["message"], body
    r = client.post("/api/admin/pricing/competitors/feeds", json={"competitor": "Rival", "url": f"{server}/feed.tsv",
                    "alert_pct": 8}, headers=_auth())  # fmt: skip
    assert r.status_code == 202, r.get_json()
    with LoopbackSmtp() as smtp:
        with session_scope(jobs_env.database_url) as s:
            save_email_settings(s, TokenCipher(jobs_env.encryption_keys), shop_id, {**SENDER, "reply_to": "boss@market.test"},
                                smtp.url)  # fmt: skip
        run_jobs(jobs_env.redis_url, ("low",))
        (feed,) = client.get("/api/admin/pricing/competitors/feeds", headers=_auth()).get_json()["feeds"]
        assert feed["last_status"] == "partial" and feed["last_report"]["stored"] == 3
        assert [(x["line"], "price" in x["reason"] or "gtin" in x["reason"]) for x in feed["last_report"]["rejected"]] == [
            (4, True), (6, True)]  # fmt: skip

        # the title match is a suggestion: not in the comparison yet
        matches = client.get(
            "/api/admin/pricing/competitors/matches?status=suggested", headers=_auth()
        ).get_json()
        (m,) = matches["matches"]
        assert (m["item_id"], m["variant_id"], m["status"]) == ("R4", 4401, "suggested") and m[
            "score"
        ] >= 0.75
        market = client.get("/api/admin/pricing/competitors?alert_pct=8", headers=_auth()).get_json()
        assert {v["variant_id"] for v in market["variants"]} == {4201, 4301}
        # the lamp is 5 % and the mug 5 % above the rival: under the 8 % threshold, no alert yet
        assert smtp.messages == []

        assert client.post(f"/api/admin/pricing/competitors/matches/{m['id']}", json={"decision": "maybe"},
                           headers=_auth()).status_code == 400  # fmt: skip
        assert client.post("/api/admin/pricing/competitors/matches/999999", json={"decision": "confirm"},
                           headers=_auth()).status_code == 404  # fmt: skip
        ok = client.post(
            f"/api/admin/pricing/competitors/matches/{m['id']}", json={"decision": "confirm"}, headers=_auth()
        )
        assert ok.status_code == 200 and ok.get_json()["status"] == "confirmed"
        run_jobs(jobs_env.redis_url, ("low",))
        market = client.get("/api/admin/pricing/competitors?alert_pct=8", headers=_auth()).get_json()
        board = next(v for v in market["variants"] if v["variant_id"] == 4401)
        assert (
            board["position"] == "above"
            and board["market_low"] == 30.0
            and board["gap"] == pytest.approx(0.3333, abs=1e-3)
        )
        # the board is undercut by 25 % (> 8 %): one alert, one e-mail
        (alert,) = client.get("/api/admin/pricing/competitors/alerts", headers=_auth()).get_json()["alerts"]
        assert (alert["variant_id"], alert["undercut"], alert["mailed"]) == (4401, 0.25, True)
        (mail,) = smtp.messages
        assert mail.rcpt_tos == ["boss@market.test"] and "undercut" in mail.message["Subject"]
        assert "Walnut serving board" in mail.message.get_body(("plain",)).get_content()

        # the nightly refresh of the same feed: the confirmation holds, no second alert or mail
        assert refresh_competitor_feed(shop_id, "Rival")["alerts"] == 0
        assert (
            len(client.get("/api/admin/pricing/competitors/alerts", headers=_auth()).get_json()["alerts"])
            == 1
        )
        assert len(smtp.messages) == 1
        # a further drop is news again
        _Feeds.routes["/feed.tsv"] = (200, {"Content-Type": "text/csv"},
                                      b"id,title,price\nR4,Walnut serving board large,28.00\n")  # fmt: skip
        assert refresh_competitor_feed(shop_id, "Rival")["alerts"] == 1 and len(smtp.messages) == 2

    # a rejected suggestion stays rejected and out of the comparison
    rejected = client.post(f"/api/admin/pricing/competitors/matches/{m['id']}", json={"decision": "reject"},
                           headers=_auth())  # fmt: skip
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected", rejected.get_json()
    refresh_competitor_feed(shop_id, "Rival")
    assert (
        client.get("/api/admin/pricing/competitors?alert_pct=8", headers=_auth()).get_json()["variants"] == []
    )
    # another shop sees none of it, and cannot decide this shop's match
    other = {"Authorization": f"Bearer {_token('other.myshopify.com')}"}
    assert client.get("/api/admin/pricing/competitors/feeds", headers=other).get_json()["feeds"] == []
    assert client.post(f"/api/admin/pricing/competitors/matches/{m['id']}", json={"decision": "confirm"},
                       headers=other).status_code == 404  # fmt: skip
    # an unreachable or wrong feed keeps the last good lines and says why
    _Feeds.routes["/feed.tsv"] = (200, {"Content-Type": "text/html"}, b"<html/>")
    assert refresh_competitor_feed(shop_id, "Rival")["status"] == "failed"
    (feed,) = client.get("/api/admin/pricing/competitors/feeds", headers=_auth()).get_json()["feeds"]
    assert feed["last_status"] == "failed" and "text/html" in feed["last_error"]
    assert client.delete("/api/admin/pricing/competitors/feeds/Rival", headers=_auth()).status_code == 200
    assert client.delete("/api/admin/pricing/competitors/feeds/Rival", headers=_auth()).status_code == 404
    assert other_id != shop_id


def test_the_nightly_refresh_queues_every_feed_url(jobs_env, shops):
    from redis import Redis
    from rq import Queue

    from app.jobs.competitors import refresh_all_competitor_feeds
    from app.stores.competitor_feeds import save_feed
    from app.worker import PERIODIC_JOBS

    shop_id, other_id = shops
    with session_scope(jobs_env.database_url) as s:
        save_feed(s, shop_id, "Rival", url="https://rival.test/feed.tsv")
        save_feed(s, shop_id, "Uploaded")  # a file the merchant uploads: nothing to fetch
        save_feed(s, other_id, "Other", url="https://other.test/feed.csv")
    Queue("low", connection=Redis.from_url(jobs_env.redis_url)).empty()
    assert refresh_all_competitor_feeds() == 2
    jobs = Queue("low", connection=Redis.from_url(jobs_env.redis_url)).get_jobs()
    assert sorted(j.args for j in jobs if j.func_name.endswith("refresh_competitor_feed")) == sorted(
        [(shop_id, "Rival"), (other_id, "Other")]
    )
    assert any(p[0] == "app.jobs.competitors.refresh_all_competitor_feeds" for p in PERIODIC_JOBS)
