"""Executors of `code_block` and `function_call`: Python in the sandbox (engine.run.sandbox)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.nodes.tools import CodeBlockConfig, FunctionCallConfig
from engine.paths import data_dir, resources_dir
from engine.run.context import NodeContext, Outcome
from engine.run.errors import NodeError
from engine.run.executors import executor
from engine.run.sandbox import run_python

FUNCTION_NAME = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,63}")  # as the flow schema has it
WORKSPACE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _warning(ctx: NodeContext) -> Callable[[str], None]:
    """Shows a sandbox warning in the run's events (and so in the studio and the CLI)."""
    return lambda text: ctx.emit("message", key=ctx.key, text=text, level="warning")


def _json_safe(value: Any) -> Any:
    """The scope as plain JSON (what the child process receives)."""
    import json

    return json.loads(json.dumps(value, default=str))


@executor("code_block")
async def run_code_block(ctx: NodeContext, config: CodeBlockConfig) -> Outcome:
    payload = {
        "input": _json_safe(ctx.scope.get("input")),
        "vars": _json_safe(dict(ctx.scope.get("vars") or {})),
        "nodes": _json_safe(dict(ctx.scope.get("nodes") or {})),
    }
    result = await run_python(
        config.code,
        payload,
        timeout_s=config.timeout_s,
        memory_mb=config.memory_mb,
        network=config.network,
        warn=_warning(ctx),
    )
    return Outcome("out", result)


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path`, links followed, is a file inside `folder`."""
    return path.is_file() and path.resolve().is_relative_to(folder.resolve())


def function_path(workspace: str, name: str) -> Path:
    """A workspace function's file: in the data directory, or bundled for the demo workspace.
    Names are checked first: a workspace or function name never leads out of its folder."""
    if not WORKSPACE.fullmatch(workspace):
        raise NodeError(
            f"workspace '{workspace}' is not a workspace slug (lower-case letters, digits, "
            "'-' and '_'): its functions cannot be looked up"
        )
    if not FUNCTION_NAME.fullmatch(name):
        raise NodeError(
            f"function '{name}' is not a function name (lower-case letters, digits, '_', "
            "'-' and '.', at most 64; no '/')"
        )
    folder = data_dir() / "workspaces" / workspace / "functions"
    path = folder / f"{name}.py"
    if _inside(path, folder):
        return path
    bundled_folder = resources_dir() / "functions" / workspace
    bundled = bundled_folder / f"{name}.py"
    if workspace == "demo" and _inside(bundled, bundled_folder):
        return bundled
    raise NodeError(f"workspace '{workspace}' has no function '{name}' (expected {path})")


@executor("function_call")
async def run_function_call(ctx: NodeContext, config: FunctionCallConfig) -> Outcome:
    if config.function.startswith("@"):
        raise NodeError(
            f"{config.function}: the function registry is not available yet; "
            "use a workspace function"
        )
    workspace = ctx.workspace or "default"
    path = function_path(workspace, config.function)
    payload = {"input": _json_safe(ctx.render(config.input)), "vars": {}, "nodes": {}}
    result = await run_python(
        path.read_text(encoding="utf-8"),
        payload,
        timeout_s=30,
        memory_mb=256,
        network=False,
        function=True,
        warn=_warning(ctx),
    )
    return Outcome("out", result)
