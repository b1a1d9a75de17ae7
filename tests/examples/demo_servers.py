"""Start the demo MCP servers of resources/servers over stdio, as a workspace would."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from engine.paths import resources_dir

SERVERS = ("tickets", "errors", "orders")


def server_params(name: str, env: dict[str, str]) -> StdioServerParameters:
    script = resources_dir() / "servers" / f"{name}.py"
    return StdioServerParameters(command=sys.executable, args=[str(script)], env=env)


@asynccontextmanager
async def demo_client(
    name: str, db: Path, env: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """A client of one demo server on database `db` (or on what `env` says instead)."""
    params = server_params(name, {"AEROSTUDIO_DEMO_DB": str(db)} if env is None else env)
    async with Client(params, read_timeout_seconds=30) as client:
        yield client


async def _catalog(db: Path) -> dict[str, dict[str, Any]]:
    catalog: dict[str, dict[str, Any]] = {}
    for name in SERVERS:
        async with demo_client(name, db) as client:
            for tool in (await client.list_tools()).tools:
                catalog[f"{name}__{tool.name}"] = tool.input_schema
    return catalog


def tool_catalog(db: Path) -> dict[str, dict[str, Any]]:
    """`server__tool` -> input schema, listed from the running demo servers."""
    return anyio.run(_catalog, db)
