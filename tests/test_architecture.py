"""The layering of docs/architecture.md, checked on the source: import-linter's contracts (and a proof that
they bite), no import cycles, function-level imports only where allowed, every module in a layer, module size,
and ``shopify`` only inside ``app/shopify``."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "webhooks")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# Composition roots and the command line's tools: they wire everything together and may import lazily.
COMPOSITION_ROOTS = (
    "app",
    "app.__main__",
    "app.cli",
    "app.commands",
    "app.worker",
    "app.gunicorn_conf",
    "app.wsgi",
    "app.demo",
    "app.bench",
    "app.backtest",
)
MAX_LINES = 400
SIZE_REASON = re.compile(r"longer than (about )?400 lines", re.IGNORECASE)


def _py_files(*roots: str) -> list[Path]:
    return sorted(p for r in roots for p in (ROOT / r).rglob("*.py") if "__pycache__" not in p.parts)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _within(module: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(cwd / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- import-linter -------------------------------------------------------------------------------


def test_import_linter_contracts_are_kept():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower() or " 0 broken" in result.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """A copy of the code and the contracts that import-linter finds clean."""
    root = tmp_path_factory.mktemp("tree")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "data", "static", "templates")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    clean = _lint_imports(root)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    return root


@pytest.mark.parametrize(
    ("probe_module", "source", "contract"),
    [
        ("app/recommend/probe_wrong.py", "import flask\n", "domain is plain Python"),
        (
            "app/profiles/probe_wrong.py",
            "from app.models.profiles import CustomerProfile\n",
            "domain is plain",
        ),
        ("app/web/probe_wrong.py", "from app.jobs import recommendations\n", "Requests never call job code"),
        ("app/stores/probe_wrong.py", "from app.jobs import profiles\n", "Layers"),
        ("app/web/probe_admin.py", "from app.shopify.admin import AdminClient\n", "Admin API"),
    ],
)
def test_a_wrong_import_breaks_a_contract(tree_copy, probe_module, source, contract):
    """The contracts bite: the clean copy with one deliberately wrong import fails import-linter, naming
    the module and the contract."""
    probe = tree_copy / probe_module
    probe.write_text(f'"""A deliberately wrong import."""\n\n{source}')
    try:
        broken = _lint_imports(tree_copy)
    finally:
        probe.unlink()
    assert broken.returncode != 0
    name = probe_module.removesuffix(".py").replace("/", ".")
    assert name in broken.stdout and contract.lower() in broken.stdout.lower(), broken.stdout


# --- the graph -----------------------------------------------------------------------------------


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycles():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("x.a", "x.b", "x.c"):
        graph.add_module(module)
    graph.add_import(importer="x.a", imported="x.b")
    graph.add_import(importer="x.b", imported="x.a")
    graph.add_import(importer="x.c", imported="x.a")
    assert _cycles(graph) == [["x.a", "x.b"]]


def _function_level_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, imported module, the source line) of every import inside a function or method."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = path.read_text().splitlines()
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                out += [(node.lineno, a.name, lines[node.lineno - 1]) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                out.append((node.lineno, "." * node.level + (node.module or ""), lines[node.lineno - 1]))
    return sorted(set(out))


def test_function_level_imports_only_in_composition_roots_or_for_heavy_dependencies():
    """Elsewhere an import inside a function hides a dependency (and, once, hid five cycles). Allowed: in a
    composition root, or of an optional heavy third-party package with its reason on the line (``# heavy:``)."""
    offenders = []
    for path in _py_files(*PACKAGES):
        module = _module(path)
        if (module == "app" or _within(module, COMPOSITION_ROOTS[1:])) and module != "app.commands._lazy":
            continue
        for line, imported, text in _function_level_imports(path):
            own = imported.startswith(".") or _within(imported, PACKAGES)
            if own or "# heavy:" not in text:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert offenders == []


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [m.strip() for layer in layers["layers"] for m in re.split(r"[:|]", layer)]


def test_every_module_belongs_to_a_layer():
    placed = _layers()
    missing = []
    for path in _py_files(*PACKAGES):
        module = _module(path)
        bare = ast.get_docstring(tree := ast.parse(path.read_text())) is not None and len(tree.body) == 1
        if module in ("app", "app.__main__", "webhooks") or (path.name == "__init__.py" and bare):
            continue  # the package roots (create_app is a composition root) and docstring-only packages
        if not _within(module, placed):
            missing.append(module)
    assert missing == []


def test_modules_stay_small_or_say_why():
    """Past 400 lines a module says in its docstring why it is longer than about 400 lines."""
    offenders = []
    for path in _py_files(*PACKAGES):
        text = path.read_text()
        if text.count("\n") > MAX_LINES and not SIZE_REASON.search(ast.get_docstring(ast.parse(text)) or ""):
            offenders.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert offenders == []


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_shopify_library_is_imported_only_inside_app_shopify():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _py_files("app", "webhooks", "tests", "migrations")
        if any(n == "shopify" or n.startswith("shopify.") for n in _imports(p))
        and not p.is_relative_to(ROOT / "app" / "shopify")
    ]
    assert offenders == []


def test_the_served_list_log_flushes_without_the_storefront():
    """The worker moving the served-list log into its table loads none of the web-only read path."""
    script = "import sys, app.jobs.served_log; print(*sys.modules)"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
        ).stdout.split()
    )
    assert "app.jobs.served_log" in loaded
    assert not any(m.startswith("app.storefront") for m in loaded)
