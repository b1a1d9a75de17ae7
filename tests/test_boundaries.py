"""Import boundaries of DESIGN.md: the engine never imports the studio or Qt."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def _imported_modules(path: Path) -> set[str]:
    tree = _parse(path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_engine_never_imports_the_studio_or_qt():
    offenders = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for module in _imported_modules(path):
            top = module.split(".")[0]
            if top in {"studio", "PySide6", "shiboken6", "qasync"}:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_flow_and_node_specs_stay_light():
    """The studio imports engine.flow and engine.nodes: no servers, databases or SDKs there."""
    heavy = {"dbos", "sqlalchemy", "mcp", "httpx2", "anthropic", "starlette", "uvicorn"}
    offenders = []
    for package in ("flow", "nodes"):
        for path in sorted((ROOT / "engine" / package).rglob("*.py")):
            for module in _imported_modules(path):
                if module.split(".")[0] in heavy:
                    offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_studio_imports_only_the_document_specs_and_its_client():
    allowed_engine = {
        "engine.flow",
        "engine.nodes",
        "engine.paths",
        "engine.cli.errors",
        "engine.api.client",
    }
    offenders = []
    for path in sorted((ROOT / "studio").rglob("*.py")):
        for module in _imported_modules(path):
            top = module.split(".")[0]
            if top == "engine" and not any(
                module == allowed or module.startswith(allowed + ".") for allowed in allowed_engine
            ):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
            if top in {"dbos", "sqlalchemy", "mcp", "anthropic"}:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


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
