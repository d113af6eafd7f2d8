"""Render the theme app extension's Liquid (python-liquid) into a local storefront page.

Shopify's storefront renderer is emulated just enough to run the real blocks: ``{% schema %}``,
``{% javascript %}`` and ``{% stylesheet %}`` are parsed out, each block's schema ``javascript`` and
``stylesheet`` are injected the way Shopify injects them (deferred script, stylesheet link), ``t`` reads the
extension's locale files, ``render`` reads its snippets, and block settings start from the schema defaults.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from liquid import CachingFileSystemLoader, Environment
from liquid.builtin.tags.comment_tag import CommentNode, CommentTag
from liquid.exceptions import LiquidSyntaxError
from liquid.stream import TokenStream
from liquid.token import TOKEN_EOF, TOKEN_TAG

EXTENSION_DIR = Path(__file__).resolve().parents[2] / "extensions" / "attune-theme"
ASSET_PREFIX = "/assets/attune/"
_SCHEMA_RE = re.compile(r"{%-?\s*schema\s*-?%}(.*?){%-?\s*endschema\s*-?%}", re.S)


def _swallow(tag_name: str) -> type[CommentTag]:
    """A block tag whose body is kept out of the output (like Shopify's schema/javascript/stylesheet)."""
    end = f"end{tag_name}"

    def parse(self: CommentTag, stream: TokenStream) -> CommentNode:
        token = stream.eat(TOKEN_TAG)
        text: list[str] = []
        while not (stream.current.kind == TOKEN_TAG and stream.current.value == end):
            if stream.current.kind == TOKEN_EOF:
                raise LiquidSyntaxError(f"{tag_name} tag was never closed", token=token)
            text.append(stream.current.value)
            next(stream)
        return CommentNode(token, text="".join(text))

    return type(f"{tag_name.title()}Tag", (CommentTag,), {"name": tag_name, "end": end, "parse": parse})


def block_schema(source: str) -> dict[str, Any]:
    """The JSON inside a block's ``{% schema %}`` tag."""
    match = _SCHEMA_RE.search(source)
    if not match:
        raise ValueError("block has no {% schema %}")
    return json.loads(match.group(1))


def setting_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in schema.get("settings", []):
        if "id" in s:
            out[s["id"]] = s.get("default", False if s.get("type") == "checkbox" else "")
    return out


@dataclass
class RenderedBlock:
    name: str
    html: str
    schema: dict[str, Any]


@dataclass
class Theme:
    """The extension loaded for one locale."""

    extension_dir: Path = EXTENSION_DIR
    locale: str = "en"
    translations: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        base = json.loads((self.extension_dir / "locales" / "en.default.json").read_text("utf-8"))
        local = self.extension_dir / "locales" / f"{self.locale}.json"
        self.translations = base if self.locale == "en" or not local.exists() else _merge(base, local)

    @cached_property
    def env(self) -> Environment:
        env = Environment(loader=CachingFileSystemLoader(self.extension_dir / "snippets", ext=".liquid"))
        for name in ("schema", "javascript", "stylesheet"):
            env.add_tag(_swallow(name))
        env.add_filter("t", self.translate)
        env.add_filter("asset_url", lambda name: ASSET_PREFIX + str(name))
        env.add_filter("json", lambda value: json.dumps(value))
        return env

    def translate(self, key: object, **_: object) -> str:
        node: Any = self.translations
        for part in str(key).split("."):
            if not isinstance(node, dict) or part not in node:
                return f"translation missing: {self.locale}.{key}"
            node = node[part]
        return str(node)

    def render_block(
        self, name: str, context: dict[str, Any], settings: dict[str, Any] | None = None, block_id: str = ""
    ) -> RenderedBlock:
        source = (self.extension_dir / "blocks" / f"{name}.liquid").read_text("utf-8")
        schema = block_schema(source)
        block = {"id": block_id or name, "settings": {**setting_defaults(schema), **(settings or {})}}
        out = self.env.from_string(source).render(**context, block=block)
        return RenderedBlock(name, out, schema)


def _merge(base: dict[str, Any], path: Path) -> dict[str, Any]:
    extra = json.loads(path.read_text("utf-8"))

    def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
        return out

    return merge(base, extra)


# --- the page ---------------------------------------------------------------------------------

LAYOUT = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<style>
body{{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1a1a1a}}
header{{padding:16px 24px;border-bottom:1px solid #eee;font-weight:700}}
main{{max-width:1200px;margin:0 auto;padding:24px}}
.theme-product{{display:grid;grid-template-columns:1fr 1fr;gap:32px;margin-bottom:32px}}
.theme-media{{aspect-ratio:1/1;background:#e9efe9;border-radius:8px}}
.theme-price{{font-size:1.4rem}}
.theme-add{{height:48px;padding:0 24px;border:0;border-radius:6px;background:#222;color:#fff;font:inherit}}
footer{{padding:48px 24px;color:#777;border-top:1px solid #eee;margin-top:48px}}
</style>
{head}
<script>
// Stand-in for the Shopify storefront globals the blocks may use; records published custom events.
window.__attuneEvents = [];
// customerPrivacy: consent is given unless a test sets window.__attuneConsent = false before the page loads.
window.Shopify = window.Shopify || {{shop: {shop}, locale: {lang_json}, country: "US", currency: {{active: {currency}}},
  analytics: {{publish: function (name, data) {{ window.__attuneEvents.push({{name: name, data: data}}); }}}},
  customerPrivacy: {{analyticsProcessingAllowed: function () {{ return window.__attuneConsent !== false; }}}}}};
</script>
</head>
<body>
<header><a href="/" style="color:inherit;text-decoration:none">{shop_name}</a>
 <a href="/cart" style="float:right;font-weight:400">Cart</a></header>
<main>
{content}
{blocks}
</main>
<footer>Local storefront rendered by Attune for tests, the demo and benchmarks.</footer>
{body_end}
</body>
</html>
"""


def product_section(product: dict[str, Any]) -> str:
    variant = product.get("selected_or_first_available_variant") or {}
    price = variant.get("price")
    shown = f"{price / 100:.2f}" if isinstance(price, int) else ""
    return (
        '<section class="theme-product"><div class="theme-media"></div><div>'
        f"<h1>{html.escape(str(product.get('title', '')))}</h1>"
        f'<p class="theme-price">{shown}</p>'
        f'<form action="/cart/add" method="post"><input type="hidden" name="id" value="{variant.get("id", "")}">'
        '<button class="theme-add" type="submit">Add to cart</button></form>'
        f'<div class="theme-description">{html.escape(str(product.get("description", "")))}</div>'
        "</div></section>"
    )


def render_page(
    theme: Theme,
    *,
    template: str,
    shop: str,
    product: dict[str, Any] | None = None,
    customer: dict[str, Any] | None = None,
    blocks: list[tuple[str, dict[str, Any]]] | None = None,
    embed: dict[str, Any] | None = None,
    currency: str = "USD",
    content: str | None = None,
    title: str | None = None,
    rescue: bool = False,
) -> str:
    """A full storefront page: a plain theme plus the given app blocks and (optionally) the app embeds.

    ``blocks`` is ``[(block name, merchant settings)]``; ``embed`` the assistant's settings (None: off);
    ``rescue`` turns on the in-session rescue embed.
    """
    context: dict[str, Any] = {
        "product": product,
        "customer": customer,
        "template": {"name": template},
        "routes": {"cart_add_url": "/cart/add", "root_url": "/"},
        "shop": {"permanent_domain": shop},
        "request": {"locale": {"iso_code": theme.locale}},
    }
    rendered = [
        theme.render_block(name, context, settings, f"b{i}")
        for i, (name, settings) in enumerate(blocks or [])
    ]
    body_end = ""
    if embed is not None:
        assistant = theme.render_block("assistant", context, embed, "embed")
        rendered_embed = [assistant]
        body_end = assistant.html
    else:
        rendered_embed = []
    if rescue:
        nudge = theme.render_block("rescue", context, {}, "rescue")
        rendered_embed.append(nudge)
        body_end += nudge.html
    head: list[str] = []
    seen: set[str] = set()
    for block in rendered + rendered_embed:
        css, js = block.schema.get("stylesheet"), block.schema.get("javascript")
        if css and css not in seen:
            seen.add(css)
            head.append(f'<link rel="stylesheet" href="{ASSET_PREFIX}{css}">')
        if js and js not in seen:
            seen.add(js)
            head.append(f'<script src="{ASSET_PREFIX}{js}" defer></script>')
    if content is None:
        content = product_section(product) if product else "<h1>Your cart</h1>"
    return LAYOUT.format(
        lang=theme.locale,
        lang_json=json.dumps(theme.locale),
        title=html.escape(title or str((product or {}).get("title", "Cart"))),
        head="\n".join(head),
        shop=json.dumps(shop),
        currency=json.dumps(currency),
        shop_name=html.escape(shop),
        content=content,
        blocks="\n".join(b.html for b in rendered),
        body_end=body_end,
    )
