"""Boundaries that the import contracts (`lint-imports`, pyproject.toml) cannot state: what the
command line loads at start-up, and private names staying inside their module."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("engine", "studio")


def _parse(path: Path) -> ast.Module:
    """The module's syntax tree, with the garbage collector held off meanwhile: on CPython 3.11
    a finalizer run by a collection inside `ast.parse` (an asyncio task an earlier test left)
    breaks its recursion check ("AST constructor recursion depth mismatch")."""
    gc.collect()
    gc.disable()
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    finally:
        gc.enable()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(path: Path, root: Path = ROOT) -> list[str]:
    """`from engine.x import _name`, and `x._name` where `x` is an imported product module."""
    where = path.relative_to(root).as_posix()
    found: list[str] = []
    modules: set[str] = set()  # local names bound to product modules (or their members)
    tree = _parse(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] not in PRODUCT:
                continue
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{where}:{node.lineno} imports {node.module}.{alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PRODUCT:
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{where}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_a_private_name_of_another():
    """A leading underscore means "only this module relies on it": it can change freely."""
    offenders = [
        use
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        for use in _private_uses(path)
    ]
    assert offenders == []


def test_the_private_name_check_finds_both_forms(tmp_path):
    """The check above would pass on an empty list; it does see both ways of reaching in, and
    leaves a module's own private names and dunder names alone."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from engine import __version__, paths\n"
        "from engine.cli.flows import _hidden\n"
        "import json\n"
        "def _own(): return json._default_encoder, paths.data_dir\n"
        "paths._secret\n",
        encoding="utf-8",
    )
    assert _private_uses(probe, tmp_path) == [
        "probe.py:2 imports engine.cli.flows._hidden",
        "probe.py:5 uses paths._secret",
    ]


def test_the_command_line_imports_no_runtime_until_a_command_needs_it():
    """`aerostudio` builds its parser (every command registers) before opening the studio, so a
    module-level import of the runtime in any command module costs the studio's start."""
    script = (
        "import sys\n"
        "from engine.cli import build_parser\n"
        "build_parser()\n"
        "heavy = ('engine.run', 'engine.api.app', 'engine.gateway', 'dbos', 'sqlalchemy', 'mcp')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
