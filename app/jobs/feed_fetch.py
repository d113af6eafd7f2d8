"""Fetching a competitor's feed from the URL the merchant gave (issue 20), with ``requests``.

- connect and read timeouts, at most ``MAX_FEED`` bytes (a larger one is refused, not cut), a text or XML
  content type (an HTML page is refused with the reason), at most ``MAX_REDIRECTS`` redirects;
- in production, never an address inside the network (loopback, private, link-local, shared, reserved: any
  address that is not global). The host is resolved **once** per hop (``resolve``), every address it has is
  checked, and the connection goes to the first checked address (``PinnedAdapter``): ``requests`` never
  resolves the name again, so a DNS answer that changes between the check and the connection (DNS rebinding)
  cannot reach inside. The Host header, TLS SNI and certificate check still use the name. Each redirect target
  is resolved, checked and pinned the same way. Proxies from the environment are not used (a proxy would
  resolve the name itself)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_FEED = 5 * 1024 * 1024
MAX_REDIRECTS = 3
TIMEOUT = (5, 30)  # connect, read (between bytes)
FEED_TYPES = (
    "text/csv",
    "text/tab-separated-values",
    "text/plain",
    "application/csv",
    "application/octet-stream",
    "application/xml",
    "text/xml",
    "application/rss+xml",
    "application/atom+xml",
)
ACCEPT = "text/csv, text/tab-separated-values, application/rss+xml, application/atom+xml, application/xml, text/plain"


class FetchError(ValueError):
    """A feed that could not be fetched, with the reason the merchant sees."""


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses (one DNS lookup; an IP literal is itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"the host {host} cannot be resolved") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise FetchError(f"the host {host} cannot be resolved")
    return addresses


def _inside(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_target(url: str, allow_private: bool) -> str:
    """The address to connect to for ``url``, or ``FetchError``: resolved once, every address checked."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("the feed URL must be an http(s) address")
    if parts.username or parts.password:
        raise FetchError("the feed URL must not carry a user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError("the feed URL's port is not a number") from exc
    addresses = resolve(parts.hostname, port)
    if not allow_private and any(_inside(a) for a in addresses):
        raise FetchError(f"the host {parts.hostname} is not a public address")
    return addresses[0]


def _pinned(base: type[HTTPConnection], address: str) -> type[HTTPConnection]:
    class Pinned(base):  # type: ignore[valid-type, misc]
        def _new_conn(self) -> socket.socket:
            # connect to the checked address; ``host`` (Host header, SNI, certificate) keeps the name
            name, self._dns_host = self._dns_host, address
            try:
                return super()._new_conn()
            finally:
                self._dns_host = name

    return Pinned


class PinnedAdapter(HTTPAdapter):
    """Every connection of this adapter goes to ``address``, whatever the URL's host resolves to."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.address = address
        super().__init__(max_retries=0, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http = type(
            "PinnedPool", (HTTPConnectionPool,), {"ConnectionCls": _pinned(HTTPConnection, self.address)}
        )
        https = type(
            "PinnedTLSPool", (HTTPSConnectionPool,), {"ConnectionCls": _pinned(HTTPSConnection, self.address)}
        )
        self.poolmanager.pool_classes_by_scheme = {"http": http, "https": https}


def _get(url: str, address: str) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # no proxy, no .netrc
        adapter = PinnedAdapter(address)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            return session.get(url, timeout=TIMEOUT, stream=True, allow_redirects=False,
                               headers={"User-Agent": "Attune competitor feed", "Accept": ACCEPT})  # fmt: skip
        except requests.RequestException as exc:
            raise FetchError(f"the feed could not be fetched: {exc.__class__.__name__}") from exc


def _charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"'):
            return value.strip().strip('"')
    return None


def fetch_feed(url: str, *, allow_private: bool = False, max_bytes: int = MAX_FEED) -> str:
    """The feed's text, or ``FetchError`` with why not."""
    for _ in range(MAX_REDIRECTS + 1):
        response = _get(url, check_target(url, allow_private))
        with response:
            if response.is_redirect and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                continue
            if response.status_code != 200:
                raise FetchError(f"the feed URL answered HTTP {response.status_code}")
            kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind and kind not in FEED_TYPES:
                raise FetchError(f"the feed is {kind}, not a CSV, tab-separated or XML (RSS, Atom) feed")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"the feed is larger than {max_bytes} bytes")
            body = bytearray()
            try:
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"the feed is larger than {max_bytes} bytes")
            except requests.RequestException as exc:
                raise FetchError(f"the feed could not be read: {exc.__class__.__name__}") from exc
            try:
                # the declared charset, else UTF-8 (requests' ISO-8859-1 default for text/* would garble it)
                return bytes(body).decode(_charset(response.headers.get("Content-Type")) or "utf-8-sig")
            except (UnicodeDecodeError, LookupError) as exc:
                raise FetchError("the feed is not UTF-8 text") from exc
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")
