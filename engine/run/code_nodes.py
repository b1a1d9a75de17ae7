"""Executors of `code_block` and `function_call`: Python in the sandbox (engine.run.sandbox)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.nodes.tools import CodeBlockConfig, FunctionCallConfig
from engine.paths import data_dir, resources_dir
from engine.run.context import NodeContext, Outcome
from engine.run.errors import NodeError
from engine.run.executors import executor
from engine.run.sandbox import run_python


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
    )
    return Outcome("out", result)


def function_path(workspace: str, name: str) -> Path:
    """A workspace function's file: in the data directory, or bundled for the demo workspace."""
    path = data_dir() / "workspaces" / workspace / "functions" / f"{name}.py"
    bundled = resources_dir() / "functions" / workspace / f"{name}.py"
    if not path.exists() and workspace == "demo" and bundled.exists():
        return bundled
    if not path.exists():
        raise NodeError(f"workspace '{workspace}' has no function '{name}' (expected {path})")
    return path


@executor("function_call")
async def run_function_call(ctx: NodeContext, config: FunctionCallConfig) -> Outcome:
    if config.function.startswith("@"):
        raise NodeError(
            f"{config.function}: the function registry is not available yet; "
            "use a workspace function"
        )
    workspace = ctx.workspace or "default"
    name = re.sub(r"[^a-z0-9_.-]", "", config.function)
    path = function_path(workspace, name)
    payload = {"input": _json_safe(ctx.render(config.input)), "vars": {}, "nodes": {}}
    result = await run_python(
        path.read_text(encoding="utf-8"),
        payload,
        timeout_s=30,
        memory_mb=256,
        network=False,
        function=True,
    )
    return Outcome("out", result)
