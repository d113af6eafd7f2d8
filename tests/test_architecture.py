"""The layering rules of ARCHITECTURE.md, checked on the source (imports only; cheap and exact)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE_DOMAIN = ["app/modelling", "app/recommend", "app/identity", "app/agents"]
FORBIDDEN_IN_DOMAIN = {
    "flask",
    "rq",
    "requests",
    "redis",
    "sqlmodel",
    "sqlalchemy",
    "werkzeug",
    "app.web",
    "app.jobs",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _py_files(*roots: str) -> list[Path]:
    return [p for r in roots for p in (ROOT / r).rglob("*.py") if (ROOT / r).exists()]


def test_shopify_library_is_imported_only_inside_app_shopify():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _py_files("app", "webhooks", "tests", "migrations")
        if any(n == "shopify" or n.startswith("shopify.") for n in _imports(p))
        and not p.is_relative_to(ROOT / "app" / "shopify")
    ]
    assert offenders == []


def test_domain_code_is_plain_python():
    offenders = []
    for path in _py_files(*PURE_DOMAIN):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_DOMAIN):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_the_served_list_log_flushes_without_the_serving_cache():
    """A worker moving the served-list log into its table loads none of the web-only read path."""
    script = "import sys, app.storefront.served_log; print(*sys.modules)"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
        ).stdout.split()
    )
    assert "app.storefront.served_log" in loaded
    assert "app.storefront.cache" not in loaded and "app.storefront.lists" not in loaded


def test_the_catalogue_never_imports_the_storefront():
    """Stock and search are catalogue facts; the storefront reads them, never the other way round."""
    offenders = [
        f"{p.relative_to(ROOT)} imports {n}"
        for p in _py_files("app/catalog")
        for n in _imports(p)
        if n == "app.storefront" or n.startswith("app.storefront.")
    ]
    assert offenders == []
