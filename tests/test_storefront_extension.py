"""The theme app extension itself: layout, sizes, block schemas, locales."""

from __future__ import annotations

import gzip
import json
import re

from app.storefront.render import EXTENSION_DIR, Theme, block_schema, render_page

ALLOWED = {
    "assets": {".js", ".css", ".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".woff", ".woff2"},
    "blocks": {".liquid"},
    "snippets": {".liquid"},
    "locales": {".json"},
}
SETTING_TYPES = {
    "text",
    "textarea",
    "range",
    "color",
    "checkbox",
    "select",
    "number",
    "richtext",
    "url",
    "image_picker",
    "product",
    "collection",
    "header",
    "paragraph",
}


def _lookup(tree: dict, key: str):
    node = tree
    for part in key.split("."):
        assert isinstance(node, dict) and part in node, f"missing translation {key}"
        node = node[part]
    return node


def _keys(tree: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in tree.items():
        out |= _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return out


def test_only_allowed_folders_and_file_types():
    for path in EXTENSION_DIR.rglob("*"):
        rel = path.relative_to(EXTENSION_DIR)
        if path.is_dir():
            assert len(rel.parts) == 1 and rel.parts[0] in ALLOWED, f"unexpected folder {rel}"
            continue
        if len(rel.parts) == 1:
            assert rel.name == "shopify.extension.toml", f"unexpected top-level file {rel}"
            continue
        assert len(rel.parts) == 2 and path.suffix in ALLOWED[rel.parts[0]], f"not allowed: {rel}"
    toml = (EXTENSION_DIR / "shopify.extension.toml").read_text()
    assert re.search(r'^type\s*=\s*"theme"', toml, re.M)


def test_liquid_and_script_budgets():
    liquid = sum(p.stat().st_size for p in EXTENSION_DIR.rglob("*.liquid"))
    assert liquid <= 500 * 1024
    scripts = list((EXTENSION_DIR / "assets").glob("*.js"))
    assert len(scripts) == 6
    for script in scripts:
        assert len(gzip.compress(script.read_bytes(), 9)) <= 10 * 1024, script.name
        text = script.read_text()
        assert "http://" not in text and "https://" not in text, f"{script.name} must only call the app proxy"
        assert "1500" in text and "AbortController" in text


def test_block_schemas_are_valid_and_translated():
    en = json.loads((EXTENSION_DIR / "locales" / "en.default.schema.json").read_text())
    fr = json.loads((EXTENSION_DIR / "locales" / "fr.schema.json").read_text())
    targets, loaders = {}, {}
    for block in sorted((EXTENSION_DIR / "blocks").glob("*.liquid")):
        schema = block_schema(block.read_text())
        targets[block.stem] = schema["target"]
        assert schema["target"] in {"section", "body", "head"}
        # No schema javascript/stylesheet: Shopify would inject them as a deferred script and a render-blocking
        # <link>, both of which delay the page's load event. Each block loads its own script after it instead.
        assert "javascript" not in schema and "stylesheet" not in schema, block.name
        scripts = re.findall(r"render 'attune-loader', script: '([\w.-]+)'", block.read_text())
        assert len(scripts) == 1 and (EXTENSION_DIR / "assets" / scripts[0]).is_file(), block.name
        loaders[block.stem] = scripts[0]
        labels = [schema["name"]]
        ids = [s["id"] for s in schema["settings"] if "id" in s]
        assert len(ids) == len(set(ids)), f"duplicate setting ids in {block.name}"
        assert {"accent", "text", "background"} <= set(ids)
        for s in schema["settings"]:
            assert s["type"] in SETTING_TYPES
            labels.append(s["label"])
            if s["type"] == "range":
                assert s["min"] <= s["default"] <= s["max"] and (s["max"] - s["min"]) / s["step"] <= 101
            if s["type"] == "color":
                assert re.fullmatch(r"#[0-9a-f]{6}", s["default"])
            if s["type"] == "select":
                assert s["default"] in {o["value"] for o in s["options"]}
                labels += [o["label"] for o in s["options"]]
        for label in labels:
            assert label.startswith("t:")
            assert _lookup(en, label[2:]) and _lookup(fr, label[2:])
        assert len(_lookup(en, schema["name"][2:])) <= 25
    assert len(set(loaders.values())) == 6  # each block type has its own script
    assert targets == {
        "assistant": "body",
        "rescue": "body",
        "recommended": "section",
        "fbt": "section",
        "buy-again": "section",
        "back-in-stock": "section",
    }
    assert {"heading"} <= {
        s["id"] for s in block_schema((EXTENSION_DIR / "blocks" / "fbt.liquid").read_text())["settings"]
    }


def test_locales_cover_every_string_in_both_languages():
    en = json.loads((EXTENSION_DIR / "locales" / "en.default.json").read_text())
    fr = json.loads((EXTENSION_DIR / "locales" / "fr.json").read_text())
    assert _keys(en) == _keys(fr)
    used = set()
    for path in EXTENSION_DIR.rglob("*.liquid"):
        used |= set(re.findall(r"'([a-z_.]+)'\s*\|\s*t\b", path.read_text()))
    assert used and used <= _keys(en)


def test_blocks_render_with_merchant_settings_and_translations():
    product = {"id": 7, "title": "Tent", "selected_or_first_available_variant": {"id": 71, "price": 1000}}
    html = render_page(
        Theme(locale="fr"),
        template="product",
        shop="s.myshopify.com",
        product=product,
        customer={"id": 1},
        blocks=[("recommended", {"heading": "Pour vous", "count": 3}), ("fbt", {}), ("buy-again", {})],
        embed={},
    )
    assert "Pour vous" in html and "Tout ajouter au panier" in html and "translation missing" not in html
    assert html.count("attune-card attune-skeleton") == 3 + 3 + 4  # space reserved for every card
    head = html.split("</head>", 1)[0]
    assert "/assets/attune/" not in head and 'rel="stylesheet"' not in head  # nothing render-blocking
    for script in ("attune-recommended.js", "attune-fbt.js", "attune-buy-again.js", "attune-assistant.js"):
        assert html.count(f'"/assets/attune/{script}"') == 1  # loaded after the load event
    assert html.count("w.addEventListener('load'") == 4
    body = html.split("<body>", 1)[1]
    assert "<style>.attune-block{" in body  # block styles inline: the skeleton is laid out in the first paint
    assert "<template data-attune-ui>" in body and "<style>.attune-assistant{" in body
    anonymous = render_page(
        Theme(),
        template="product",
        shop="s.myshopify.com",
        product=product,
        customer=None,
        blocks=[("buy-again", {})],
        embed={},
    )
    assert "data-attune-again" not in anonymous  # buy it again only for a signed-in customer
