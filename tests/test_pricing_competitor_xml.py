"""Merchant Center XML feeds and the pinned feed connection (issue 20), against a real HTTP server on the loopback.

- RSS 2.0 and Atom 1.0 feeds with the ``g:`` namespace are read from a URL and as an upload; a bad item is
  reported with its number and line and the valid ones kept (207), none valid is 422, as for a CSV file.
- Hostile XML (billion laughs, an external entity reading a local file) is refused cleanly: 400 on upload, a
  failed refresh with the reason from a URL, and nothing of it stored.
- The host is resolved once per hop and the connection goes to that address with the name in the Host header:
  a resolver that answers differently the second time (DNS rebinding) is never asked again. In production a
  host resolving to an address inside the network is refused before any connection. (DNS cannot be served
  locally: ``socket.getaddrinfo`` is replaced for made-up ``.test`` names, the HTTP is real.)"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.agents.competitors import FeedError, parse_feed
from app.jobs.competitors import FetchError, fetch_feed, refresh_competitor_feed
from tests.test_pricing_competitor_feeds import DOMAIN, shop, shops  # noqa: F401  (fixtures)
from tests.test_pricing_competitors import _token

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">
  <channel>
    <title>Rival</title>
    <item>
      <g:id>R1</g:id><title>Arc floor lamp</title><link>https://rival.test/r1</link>
      <g:price>95.00 USD</g:price><g:gtin>0012345678905</g:gtin>
      <g:shipping><g:country>US</g:country><g:price>4.00 USD</g:price></g:shipping>
    </item>
    <item><g:id>R2</g:id><g:title>Ceramic mug</g:title><g:price>9.90 USD</g:price>
      <g:sale_price>9.50 USD</g:sale_price><g:mpn>MUG-1</g:mpn></item>
    <item><g:id>R3</g:id><g:title>Broken</g:title><g:price>cheap</g:price></item>
    <item><g:id>R5</g:id><g:price>10.00 USD</g:price><g:gtin>12ab</g:gtin></item>
  </channel>
</rss>
"""
ATOM = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
  <title>Rival</title>
  <entry><id>A1</id><title>Walnut serving board large</title><link href="https://rival.test/a1"/>
    <g:price>30.00 USD</g:price></entry>
  <entry><g:id></g:id><g:price>3.00 USD</g:price></entry>
</feed>
"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>&lol9;</g:id><g:price>1.00</g:price></item></channel></rss>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>X</g:id><g:title>&secret;</g:title>
<g:price>1.00</g:price></item></channel></rss>
"""


class _Feeds(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    seen: list[tuple[str, str | None]] = []

    def do_GET(self):  # noqa: N802
        self.seen.append((self.path, self.headers.get("Host")))
        status, headers, body = self.routes.get(self.path, (404, {"Content-Type": "text/plain"}, b"no"))
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Feeds)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    _Feeds.seen = []
    _Feeds.routes = {
        "/feed.xml": (200, {"Content-Type": "application/rss+xml; charset=utf-8"}, RSS.encode()),
        "/atom.xml": (200, {"Content-Type": "application/atom+xml"}, ATOM.encode()),
        "/laughs.xml": (200, {"Content-Type": "application/xml"}, LAUGHS.encode()),
        "/xxe.xml": (200, {"Content-Type": "text/xml"}, XXE.encode()),
        "/hop": (302, {"Location": f"http://feed.test:{port}/feed.xml"}, b""),
    }
    yield port
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dns(monkeypatch):
    """Made-up names answer from ``answers`` (a list per name: one answer per lookup, the last one repeats);
    every lookup of them is logged. Other names resolve as usual."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        ips = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, asked


def test_rss_and_atom_items_are_read_and_bad_items_reported(server):
    rows, rejected = parse_feed(fetch_feed(f"http://127.0.0.1:{server}/feed.xml", allow_private=True))
    assert [(r.item_id, r.price, r.currency, r.gtin, r.mpn, r.title) for r in rows] == [
        ("R1", 95.0, "USD", "0012345678905", None, "Arc floor lamp"),  # (the shipping price is not the price)
        ("R2", 9.5, "USD", None, "MUG-1", "Ceramic mug"),
    ]
    assert rows[0].link == "https://rival.test/r1"
    assert [(x["item"], x["line"], x["reason"].split(" ")[0]) for x in rejected] == [
        (3, 12, "price"),
        (4, 13, "gtin"),
    ]
    rows, rejected = parse_feed(fetch_feed(f"http://127.0.0.1:{server}/atom.xml", allow_private=True))
    assert [(r.item_id, r.price, r.title, r.link) for r in rows] == [
        ("A1", 30.0, "Walnut serving board large", "https://rival.test/a1")
    ]
    assert rejected == [{"item": 2, "line": 6, "reason": "id is empty"}]
    for bad, words in (
        ("<html><body>shop</body></html>", "RSS 2.0"),
        ("<rss><channel><item>", "unreadable XML"),
    ):
        with pytest.raises(FeedError, match=words):
            parse_feed(bad)


def test_hostile_xml_is_refused_before_any_expansion(server):
    for path in ("/laughs.xml", "/xxe.xml"):
        with pytest.raises(FeedError, match="DOCTYPE"):
            parse_feed(fetch_feed(f"http://127.0.0.1:{server}{path}", allow_private=True))


def test_xml_from_a_url_and_as_an_upload(client, jobs_env, shop, server, hashing_embedder):  # noqa: F811
    auth = {"Authorization": f"Bearer {_token(DOMAIN)}"}
    for name, path in (("Rival", "/feed.xml"), ("Bomb", "/laughs.xml"), ("Spy", "/xxe.xml")):
        r = client.post("/api/admin/pricing/competitors/feeds", json={"competitor": name,
                        "url": f"http://127.0.0.1:{server}{path}"}, headers=auth)  # fmt: skip
        assert r.status_code == 202, r.get_json()
    assert refresh_competitor_feed(shop[0], "Rival")["status"] == "partial"
    for name in ("Bomb", "Spy"):
        out = refresh_competitor_feed(shop[0], name)
        assert out["status"] == "failed" and "DOCTYPE" in out["error"]
    feeds = {
        f["competitor"]: f
        for f in client.get("/api/admin/pricing/competitors/feeds", headers=auth).get_json()["feeds"]
    }
    assert feeds["Rival"]["last_report"]["stored"] == 2
    assert [x["item"] for x in feeds["Rival"]["last_report"]["rejected"]] == [3, 4]
    assert feeds["Bomb"]["last_status"] == "failed" and "DOCTYPE" in feeds["Bomb"]["last_error"]
    market = client.get("/api/admin/pricing/competitors?alert_pct=8", headers=auth).get_json()
    assert {v["variant_id"] for v in market["variants"]} == {4201, 4301}  # GTIN and SKU matches from the XML

    upload = {**auth, "Content-Type": "application/xml"}
    r = client.post("/api/admin/pricing/competitors/import?competitor=Atomic", data=ATOM, headers=upload)
    assert r.status_code == 207 and r.get_json()["rejected"] == [
        {"item": 2, "line": 6, "reason": "id is empty"}
    ]
    none_valid = RSS.replace("<g:id>R1</g:id>", "<g:id></g:id>").replace("<g:id>R2</g:id>", "<g:id></g:id>")
    r = client.post("/api/admin/pricing/competitors/import?competitor=Empty", data=none_valid, headers=upload)
    assert r.status_code == 422 and len(r.get_json()["rejected"]) == 4
    for body in (LAUGHS, XXE, "<rss><channel><item>"):
        r = client.post("/api/admin/pricing/competitors/import?competitor=Bad", data=body, headers=upload)
        assert r.status_code == 400 and r.get_json()["error"] == "invalid_file", r.get_json()
    assert "root:" not in str(client.get("/api/admin/pricing/competitors/feeds", headers=auth).get_json())


def test_the_connection_goes_to_the_address_checked(server, dns):
    answers, asked = dns
    # the first answer is the server; any later lookup would send the fetch elsewhere (nothing listens there)
    answers["feed.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    answers["hop.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    assert parse_feed(fetch_feed(f"http://feed.test:{server}/feed.xml", allow_private=True))[0]
    assert asked == ["feed.test"] and _Feeds.seen == [("/feed.xml", f"feed.test:{server}")]
    # each redirect target is resolved (once), checked and pinned like the first
    answers["feed.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    asked.clear()
    _Feeds.seen.clear()
    assert fetch_feed(f"http://hop.test:{server}/hop", allow_private=True) == RSS
    assert asked == ["hop.test", "feed.test"]
    assert _Feeds.seen == [("/hop", f"hop.test:{server}"), ("/feed.xml", f"feed.test:{server}")]


def test_production_refuses_a_host_resolving_inside_the_network(server, dns):
    answers, _ = dns
    answers["inside.test"] = [["10.0.0.7"]]
    answers["mixed.test"] = [["93.184.216.34", "127.0.0.1"]]
    answers["shared.test"] = [["100.64.0.1"]]  # carrier-grade NAT: not global either
    for host in ("inside.test", "mixed.test", "shared.test", "127.0.0.1"):
        with pytest.raises(FetchError, match="not a public address"):
            fetch_feed(f"http://{host}:{server}/feed.xml")
    assert _Feeds.seen == []  # refused before any connection
