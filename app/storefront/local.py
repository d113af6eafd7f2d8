"""A local storefront on loopback that plays Shopify's part around the theme extension.

It serves a home page (products, the cart, a switch to browse as a known shopper or anonymously:
``app.storefront.local_home``), product and cart pages rendered from the extension's Liquid, the extension's assets, a stand-in
AJAX Cart API (``POST /cart/add.js`` records what was posted), and the app proxy: ``/apps/attune/*`` is
signed exactly as Shopify signs it (shop, ``logged_in_customer_id``, ``path_prefix``, ``timestamp``,
``signature``) and handed to the real Flask app's ``/proxy/*``. ``proxy_mode`` makes that proxy fail or be
slow, to prove the widgets then render nothing.

Extension assets are served the way Shopify's CDN serves them: from memory, gzip-compressed when the
browser accepts it, with a strong ``ETag`` and HTTP caching (``Cache-Control``, ``304 Not Modified``). The
server answers each connection on its own thread with ``TCP_NODELAY`` (as CDN edges and nginx do, so a
small response is never held back by Nagle's algorithm) and writes no log line per request.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_currency
from flask import Flask
from sqlmodel import Session, select
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from app.catalog.stock import variant_availability
from app.db import get_engine
from app.models.commerce import Customer, Product, ProductVariant
from app.shopify.verify import proxy_signature
from app.storefront.local_cart import CART_PATHS, LocalCart
from app.storefront.local_home import (
    ANONYMOUS,
    SHOPPER_COOKIE,
    home_content,
    home_products,
    is_known,
    known_shoppers,
    shop_id_of,
)
from app.storefront.render import ASSET_PREFIX, EXTENSION_DIR, Theme, render_page
from app.stores.catalog import DEFAULT_CURRENCY, shop_currency

PROXY_PREFIX = "/apps/attune"
ALL_BLOCKS = [("recommended", {}), ("fbt", {}), ("buy-again", {})]
# the theme embed's shipping notice, as the sandbox merchant wrote it, in the shop's currency
FREE_SHIPPING_OVER = 50
ASSET_CACHE_CONTROL = "public, max-age=3600"


class _Handler(WSGIRequestHandler):
    """Werkzeug's threaded handler, with TCP_NODELAY and without a log line per request."""

    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass(frozen=True)
class _Asset:
    body: bytes
    gzipped: bytes
    etag: str
    mimetype: str


def _load_assets() -> dict[str, _Asset]:
    out = {}
    for file in sorted((EXTENSION_DIR / "assets").iterdir()):
        if file.is_file():
            body = file.read_bytes()
            out[file.name] = _Asset(
                body,
                gzip.compress(body, 9, mtime=0),
                '"' + hashlib.sha256(body).hexdigest()[:20] + '"',
                mimetypes.guess_type(file.name)[0] or "application/octet-stream",
            )
    return out


@dataclass
class LocalStorefront:
    """``with LocalStorefront(app, shop, …) as sf: page.goto(sf.url + "/products/<handle>")``."""

    app: Flask
    shop: str
    database_url: str
    secret: str
    customer_id: int | None = None
    widgets: bool = True
    locale: str = "en"
    proxy_mode: str = "ok"  # ok | fail | slow
    slow_seconds: float = 3.0
    rescue: bool = False  # the in-session rescue embed on every page, with a stand-in cart (``local_cart``)
    extra_blocks: list[tuple[str, dict[str, Any]]] = field(
        default_factory=list
    )  # more blocks on product pages
    cart_posts: list[list[dict[str, Any]]] = field(default_factory=list)
    proxied: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.theme = Theme(locale=self.locale)
        self._client = Client(self.app)
        self._lock = threading.Lock()
        self._pages: dict[tuple[str, Any], str] = {}
        self._assets = _load_assets()
        self._server = None
        self._thread: threading.Thread | None = None
        self._shop_pk: int | None = None
        self.cart = LocalCart(self.database_url, self.shop)
        self.url = ""

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> LocalStorefront:
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True, request_handler=_Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- pages --------------------------------------------------------------------------------

    def _shop_id(self, s: Session) -> int | None:
        if self._shop_pk is None:
            self._shop_pk = shop_id_of(s, self.shop)
        return self._shop_pk

    def product_context(self, handle: str) -> dict[str, Any] | None:
        with Session(get_engine(self.database_url)) as s:
            product = s.exec(
                select(Product).where(
                    Product.shop_id == self._shop_id(s),
                    Product.handle == handle,
                    Product.deleted_at.is_(None),
                )
            ).first()
            if product is None:
                return None
            variants = s.exec(
                select(ProductVariant)
                .where(
                    ProductVariant.shop_id == product.shop_id,
                    ProductVariant.product_shopify_id == product.shopify_id,
                )
                .order_by(ProductVariant.position)
            ).all()
            sellable = variant_availability(s, product.shop_id, variants)
        variant = next((v for v in variants if sellable.get(v.shopify_id)), variants[0] if variants else None)
        price = int(round(float(variant.price or 0) * 100)) if variant else 0
        return {
            "id": product.shopify_id,
            "title": product.title,
            "handle": product.handle,
            "description": product.body_html and product.body_html.replace("<p>", "").replace("</p>", ""),
            "selected_or_first_available_variant": {
                "id": variant.shopify_id if variant else None,
                "price": price,
            },
            "available": any(sellable.values()),
            "variants": [
                {
                    "id": v.shopify_id,
                    "title": v.title or "Default Title",
                    "available": sellable.get(v.shopify_id),
                }
                for v in variants
            ],
        }

    def page(self, template: str, product: dict[str, Any] | None, customer_id: int | None = None) -> str:
        """The rendered page, cached: Shopify renders Liquid on its side, so page loads measure the browser."""
        key = (template, (product or {}).get("id"), customer_id)
        with self._lock:
            cached = self._pages.get(key)
        if cached is None:
            cached = self._render(template, product, customer_id)
            with self._lock:
                self._pages[key] = cached
        return cached

    def _render(
        self,
        template: str,
        product: dict[str, Any] | None,
        customer_id: int | None,
        content: str | None = None,
        title: str | None = None,
    ) -> str:
        customer = {"id": customer_id, "email": self._customer_email(customer_id)} if customer_id else None
        blocks = (
            [*ALL_BLOCKS, *self.extra_blocks]
            if template == "product"
            else [("recommended", {}), ("buy-again", {})]
        )
        return render_page(
            self.theme,
            template=template,
            shop=self.shop,
            product=product,
            customer=customer,
            blocks=blocks if self.widgets else [],
            embed=self._embed() if self.widgets else None,
            content=content,
            title=title,
            rescue=self.rescue,
        )

    def _embed(self) -> dict[str, str]:
        """The theme embed's settings: the shipping notice in the shop's own currency (a GBP shop says £50)."""
        with Session(get_engine(self.database_url)) as s:
            shop_id = self._shop_id(s)
            currency = shop_currency(s, shop_id) if shop_id is not None else DEFAULT_CURRENCY
        amount = format_currency(FREE_SHIPPING_OVER, currency, "¤#,##0", locale="en", currency_digits=False)
        return {"shipping_notice": f"Free shipping on orders over {amount}"}

    def _customer_email(self, customer_id: int) -> str | None:
        """Liquid's ``customer.email``: the signed-in customer's address as the shop's mirror has it."""
        with Session(get_engine(self.database_url)) as s:
            return s.exec(
                select(Customer.email).where(
                    Customer.shop_id == self._shop_id(s), Customer.shopify_id == customer_id
                )
            ).first()

    # --- who is browsing ------------------------------------------------------------------------

    def shopper(self, request: Request) -> int | None:
        """The shopper this browser chose on the home page (a cookie), else the storefront's default."""
        chosen = request.cookies.get(SHOPPER_COOKIE)
        if chosen is None:
            return self.customer_id
        if chosen == ANONYMOUS or not chosen.isdigit():
            return None
        with Session(get_engine(self.database_url)) as s:
            shop_id = self._shop_id(s)
            return int(chosen) if shop_id is not None and is_known(s, shop_id, int(chosen)) else None

    def home(self, request: Request) -> Response:
        chosen = request.args.get("as")
        if chosen is not None:  # the switch: remember the choice, then show the page without the query
            response = Response(status=302, headers={"Location": "/"})
            value = ANONYMOUS if chosen == ANONYMOUS or not chosen.isdigit() else chosen
            response.set_cookie(SHOPPER_COOKIE, value, httponly=True, samesite="Lax")
            return response
        customer_id = self.shopper(request)
        with Session(get_engine(self.database_url)) as s:
            shop_id = self._shop_id(s)
            if shop_id is None:
                return Response("not found", status=404)
            content = home_content(
                home_products(s, shop_id), known_shoppers(s, shop_id), customer_id, shop_currency(s, shop_id)
            )
        page = self._render("index", None, customer_id, content=content, title="Home")
        return Response(page, mimetype="text/html", headers={"Cache-Control": "no-store"})

    # --- WSGI ---------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith(PROXY_PREFIX + "/"):
            return self.proxy(request)
        if path.startswith(ASSET_PREFIX):
            return self.asset(path[len(ASSET_PREFIX) :], request)
        if self.rescue and path in CART_PATHS:
            return self.cart.answer(path, request)
        if path == "/cart/add.js" and request.method == "POST":
            return self.cart_add(request)
        if path == "/":
            return self.home(request)
        if path.startswith("/products/"):
            product = self.product_context(path.split("/", 2)[2])
            if product is None:
                return Response("not found", status=404)
            return Response(self.page("product", product, self.shopper(request)), mimetype="text/html")
        if path == "/cart":
            return Response(self.page("cart", None, self.shopper(request)), mimetype="text/html")
        if path.startswith("/cart/"):  # a cart permalink: what a one-click reorder opens
            with self._lock:
                self.cart_posts.append(
                    [
                        {"id": int(v), "quantity": int(q)}
                        for v, q in (p.split(":") for p in path[6:].split(","))
                    ]
                )
            return Response(status=302, headers={"Location": "/cart"})
        if path == "/favicon.ico":
            return Response(status=204)
        return Response("not found", status=404)

    def asset(self, name: str, request: Request | None = None) -> Response:
        found = self._assets.get(name)
        if found is None:
            return Response("not found", status=404)
        headers = {"Cache-Control": ASSET_CACHE_CONTROL, "ETag": found.etag, "Vary": "Accept-Encoding"}
        if request is not None and found.etag in request.headers.get("If-None-Match", ""):
            return Response(status=304, headers=headers)
        if request is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(found.gzipped, mimetype=found.mimetype, headers=headers)
        return Response(found.body, mimetype=found.mimetype, headers=headers)

    def cart_add(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        items = body.get("items") if isinstance(body, dict) else None
        if (
            not isinstance(items, list)
            or not items
            or not all(
                isinstance(i, dict) and isinstance(i.get("id"), int) and isinstance(i.get("quantity"), int)
                for i in items
            )
        ):
            return Response(
                json.dumps({"status": 422, "description": "items must be [{id, quantity}]"}),
                status=422,
                mimetype="application/json",
            )
        with self._lock:
            self.cart_posts.append(items)
        return Response(json.dumps({"items": items}), mimetype="application/json")

    def signed_query(self, request: Request) -> str:
        pairs = [(k, v) for k, v in request.args.items(multi=True) if k not in ("signature",)]
        pairs += [
            ("shop", self.shop),
            ("logged_in_customer_id", str(self.shopper(request) or "")),
            ("path_prefix", PROXY_PREFIX),
            ("timestamp", str(int(time.time()))),
        ]
        pairs.append(("signature", proxy_signature(pairs, self.secret)))
        return urlencode(pairs)

    def proxy(self, request: Request) -> Response:
        with self._lock:
            self.proxied.append(request.full_path)
        if self.proxy_mode == "fail":
            return Response("upstream error", status=502)
        if self.proxy_mode == "slow":
            time.sleep(self.slow_seconds)
        target = "/proxy" + request.path[len(PROXY_PREFIX) :]
        upstream = self._client.open(
            target,
            method=request.method,
            query_string=self.signed_query(request),
            data=request.get_data(),
            content_type=request.content_type,
        )
        return Response(
            upstream.get_data(),
            status=upstream.status_code,
            headers=[(k, v) for k, v in upstream.headers.items() if k.lower() != "content-length"],
        )
