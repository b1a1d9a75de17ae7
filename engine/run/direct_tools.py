"""A `ToolGateway` straight over `mcp.Client`, per workspace: what flows use until the workspace
gateway (engine.gateway) serves them in-process with its vault, roles and call log.

A workspace's servers come from `<data dir>/workspaces/<name>.json`, e.g.
`{"servers": {"time": {"command": "mcp-server-time", "args": []}, "docs": {"url": "..."}}}`;
env values may be `{"secret": NAME}`. The `demo` workspace is built in: our demo servers.
Sessions are kept warm, one owner task per server (MCP sessions live in anyio task groups).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from engine.paths import data_dir, resources_dir
from engine.tools import SecretLookup, ToolInfo, ToolResult

ServerConfig = Mapping[str, Any]


class ToolNotFound(LookupError):
    pass


def workspace_servers(workspace: str) -> dict[str, ServerConfig]:
    """The servers of a workspace, from its file; the `demo` workspace has our demo servers."""
    path = data_dir() / "workspaces" / f"{workspace}.json"
    if path.exists():
        servers = json.loads(path.read_text(encoding="utf-8")).get("servers", {})
        return dict(servers)
    if workspace == "demo":
        folder = resources_dir() / "servers"
        return {
            name: {"command": sys.executable, "args": [str(folder / f"{name}.py")]}
            for name in ("errors", "orders", "tickets")
        }
    raise ToolNotFound(f"workspace '{workspace}' has no servers: create {path}")


class _Session:
    """One warm MCP session, opened and closed by its own task."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self._ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._task = asyncio.ensure_future(self._own())

    async def _own(self) -> None:
        from mcp import Client

        try:
            async with Client(self._server) as client:
                self._ready.set_result(client)
                await self._stop.wait()
        except Exception as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)

    async def client(self) -> Any:
        return await self._ready

    async def close(self) -> None:
        self._stop.set()
        await asyncio.gather(self._task, return_exceptions=True)


class DirectToolGateway:
    def __init__(
        self,
        secrets: SecretLookup | None = None,
        servers: Mapping[str, Mapping[str, ServerConfig]] | None = None,
    ) -> None:
        self._secrets = secrets
        self._configured = dict(servers or {})
        self._sessions: dict[tuple[str, str], _Session] = {}

    def _servers(self, workspace: str) -> Mapping[str, ServerConfig]:
        return self._configured.get(workspace) or workspace_servers(workspace)

    async def _params(self, workspace: str, config: ServerConfig) -> Any:
        from mcp import StdioServerParameters

        if "url" in config:
            return str(config["url"])
        env = {"PATH": os.environ.get("PATH", ""), "AEROSTUDIO_HOME": str(data_dir())}
        for name, value in dict(config.get("env") or {}).items():
            if isinstance(value, Mapping) and "secret" in value:
                if self._secrets is None:
                    raise LookupError(f"server env {name} needs a vault secret; there is none")
                value = await self._secrets.get_secret(workspace, str(value["secret"]))
            env[name] = str(value)
        return StdioServerParameters(
            command=str(config["command"]),
            args=[str(a) for a in config.get("args", [])],
            env=env,
            cwd=config.get("cwd"),
        )

    async def _client(self, workspace: str, server: str) -> Any:
        key = (workspace, server)
        if key not in self._sessions:
            config = self._servers(workspace).get(server)
            if config is None:
                raise ToolNotFound(f"workspace '{workspace}' has no server '{server}'")
            self._sessions[key] = _Session(await self._params(workspace, config))
        try:
            return await self._sessions[key].client()
        except Exception:
            self._sessions.pop(key)
            raise

    async def list_tools(self, workspace: str) -> list[ToolInfo]:
        """Every server's tools, the servers started and asked at once."""
        servers = sorted(self._servers(workspace))
        clients = await asyncio.gather(*(self._client(workspace, s) for s in servers))
        listed = await asyncio.gather(*(c.list_tools() for c in clients))
        tools = []
        for server, listing in zip(servers, listed, strict=True):
            for tool in listing.tools:
                hints = tool.annotations
                tools.append(
                    ToolInfo(
                        name=f"{server}__{tool.name}",
                        description=tool.description or "",
                        input_schema=dict(tool.input_schema or {}),
                        server=server,
                        read_only=bool(hints and hints.read_only_hint),
                        destructive=bool(hints and hints.destructive_hint),
                    )
                )
        return tools

    async def call_tool(
        self, workspace: str, tool: str, arguments: dict[str, Any], *, caller: str | None = None
    ) -> ToolResult:
        server, _, name = tool.partition("__")
        if not name:
            raise ToolNotFound(f"'{tool}' is not a server__tool name")
        client = await self._client(workspace, server)
        result = await client.call_tool(name, arguments)
        content = [item.model_dump(mode="json", exclude_none=True) for item in result.content]
        text = "\n".join(item.get("text", "") for item in content if item.get("type") == "text")
        return ToolResult(
            text=text,
            content=content,
            structured=result.structured_content,
            is_error=bool(result.is_error),
        )

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
