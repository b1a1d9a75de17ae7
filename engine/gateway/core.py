"""The gateway itself, in-process: a workspace's servers behind one set of tools, resources and
prompts, with secrets injected at connect time, roles checked and every tool call logged.

The MCP endpoint (engine.gateway.server) and the engine's `mcp_tool` / `agent_loop` nodes both
call `Gateway`, so flows get the same secrets, roles and log as editors.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from engine.gateway.calllog import Call, CallLog
from engine.gateway.fresh import Fresh
from engine.gateway.naming import aggregate, resource_uri, split_resource_uri
from engine.gateway.tokens import Forbidden, Member, Tokens, may_call
from engine.gateway.upstream import Upstream, UpstreamError, stdio_tree
from engine.gateway.vault import SecretNotFound, Vault
from engine.gateway.workspaces import NotFound, Workspaces
from engine.paths import data_dir, resources_dir
from engine.redaction import Redactor
from engine.tools import ToolInfo, ToolResult

if TYPE_CHECKING:
    import mcp_types as types

ServerConfig = Mapping[str, Any]
Result = TypeVar("Result", bound="types.Result")
FLOW_MEMBER_ROLE = "developer"  # what a flow's run may do: call any tool of its workspace


class ToolNotFound(LookupError):
    pass


def demo_servers() -> dict[str, dict[str, Any]]:
    """The built-in `demo` workspace: our demo servers over stdio (resources/servers), given
    the one file they share by name, as servers get nothing of our environment."""
    folder = resources_dir() / "servers"
    env = {"AEROSTUDIO_DEMO_DB": str(data_dir() / "demo" / "demo.sqlite")}
    return {
        name: {"command": sys.executable, "args": [str(folder / f"{name}.py")], "env": env}
        for name in ("errors", "orders", "tickets")
    }


Target = tuple[str, Callable[[], Any]]  # a fingerprint of how to connect, and the connect


@dataclass(frozen=True)
class _View:
    """What a call needs of a workspace from the database, kept while it is unchanged
    (engine.gateway.fresh): its enabled servers, how to connect to each (or why not), its
    switched-off tools and its secrets' redactor."""

    configs: Mapping[str, ServerConfig]
    targets: Mapping[str, Target | str]
    disabled: set[tuple[str, str]]
    redactor: Redactor


@dataclass(frozen=True)
class _Tool:
    name: str
    server: str
    upstream: str
    tool: types.Tool

    @property
    def read_only(self) -> bool:
        return bool(self.tool.annotations and self.tool.annotations.read_only_hint)

    @property
    def destructive(self) -> bool:
        return bool(self.tool.annotations and self.tool.annotations.destructive_hint)


class Gateway:
    def __init__(
        self,
        engine: sa.Engine,
        vault: Vault,
        *,
        builtin: Mapping[str, Mapping[str, ServerConfig]] | None = None,
    ) -> None:
        self.engine = engine
        self.vault = vault
        self.workspaces = Workspaces(engine)
        self.tokens = Tokens(engine)
        self.log = CallLog(engine)
        self.fresh = Fresh(engine)
        self.builtin = {"demo": demo_servers(), **(builtin or {})}
        self._upstreams: dict[tuple[str, str], tuple[str, Upstream]] = {}
        self._listeners: list[Callable[[str], Awaitable[None]]] = []
        self._catalog: dict[str, dict[str, _Tool]] = {}  # each workspace's last listing
        self._unavailable: dict[tuple[str, str], str] = {}  # why a server's tools are missing

    # ------------------------------------------------------------------------------ servers

    def server_configs(self, workspace: str) -> dict[str, ServerConfig]:
        """The enabled servers of a workspace; a built-in workspace when the store has none."""
        stored = {s.name: s for s in self.workspaces.servers(workspace)}
        if not stored and workspace in self.builtin:
            try:
                self.workspaces.get(workspace)
            except NotFound:
                return dict(self.builtin[workspace])
        return {name: s.config for name, s in stored.items() if s.enabled}

    def _load_view(self, workspace: str) -> _View:
        """A workspace's view, read from the database (in a worker thread)."""
        configs = self.server_configs(workspace)
        redactor = self.vault.redactor(workspace)
        targets: dict[str, Target | str] = {}
        for name, config in configs.items():
            try:
                targets[name] = self._target(workspace, config, name, redactor)
            except Exception as exc:  # a missing or undecryptable secret: this server only
                targets[name] = str(exc)
        return _View(configs, targets, self.workspaces.disabled_tools(workspace), redactor)

    async def _view(self, workspace: str) -> _View:
        """The workspace's view as the database has it now: kept while nothing changed."""
        await self.fresh.check()
        return await self.fresh.get(("view", workspace), lambda: self._load_view(workspace))

    def _resolve(self, workspace: str, values: Mapping[str, Any]) -> dict[str, str]:
        resolved = {}
        for key, value in values.items():
            if isinstance(value, Mapping):
                try:
                    value = self.vault.get(workspace, str(value["secret"]))
                except SecretNotFound as exc:
                    raise UpstreamError(f"{key}: {exc}") from None
            resolved[key] = str(value)
        return resolved

    def _target(
        self, workspace: str, config: ServerConfig, server: str, redactor: Redactor
    ) -> Target:
        """How to connect (secrets filled in: a fresh `mcp.Client` target per call) and a
        fingerprint of it: when a secret is rotated or the config edited, the fingerprint
        changes and the session is reopened."""
        if "command" in config:
            from mcp import StdioServerParameters

            # Only the server's own env and the secrets it names; the SDK adds HOME, LOGNAME,
            # PATH, SHELL, TERM and USER of ours (a stdio server is a program an admin chose,
            # run as our user: where its home is, it could find anyway), nothing else.
            env = self._resolve(workspace, config.get("env") or {})
            stdio = StdioServerParameters(
                command=str(config["command"]),
                args=[str(a) for a in config.get("args") or []],
                env=env,
                cwd=config.get("cwd"),
            )
            shown: Any = ["stdio", stdio.command, stdio.args, env, stdio.cwd]
            redact = redactor.text

            def make() -> Any:
                return stdio_tree(stdio, redact, f"{workspace}/{server}")
        else:
            url, transport = str(config["url"]), str(config.get("transport", "http"))
            headers = self._resolve(workspace, config.get("headers") or {})
            shown = ["remote", url, transport, headers]

            def make() -> Any:
                return _remote(url, transport, headers)

        digest = hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode())
        return digest.hexdigest(), make

    async def upstream(self, workspace: str, server: str, view: _View | None = None) -> Upstream:
        """The server's warm session (reopened if its config or secrets changed)."""
        target = (view or await self._view(workspace)).targets.get(server)
        if target is None:
            raise ToolNotFound(f"workspace '{workspace}' has no enabled server '{server}'")
        if isinstance(target, str):
            raise UpstreamError(target)
        fingerprint, make = target
        known = self._upstreams.get((workspace, server))
        if known is not None and known[0] == fingerprint:
            return known[1]
        if known is not None:
            await known[1].close()

        async def connect() -> Any:
            return make()

        async def changed() -> None:
            await self.notify(workspace)

        upstream = Upstream(server, connect, on_changed=changed)
        self._upstreams[(workspace, server)] = (fingerprint, upstream)
        return upstream

    async def stop_server(self, workspace: str, server: str) -> None:
        """Close a server's session (and kill its processes), e.g. after it was disabled."""
        known = self._upstreams.pop((workspace, server), None)
        if known is not None:
            await known[1].close()
        await self.notify(workspace)

    # -------------------------------------------------------------------------------- tools

    async def _tools(self, workspace: str, view: _View | None = None) -> dict[str, _Tool]:
        """Aggregated name -> tool, over every enabled server answering in time; a server that
        fails or is slow is left out of the listing rather than holding up the others."""
        view = view or await self._view(workspace)
        servers = sorted(view.configs)

        async def listing(server: str) -> list[types.Tool]:
            try:
                tools = await (await self.upstream(workspace, server, view)).list_tools()
            except Exception as exc:
                self._unavailable[(workspace, server)] = str(exc)
                return []
            self._unavailable.pop((workspace, server), None)
            return tools

        listed = await asyncio.gather(*(listing(s) for s in servers))
        disabled = view.disabled
        found = {
            (server, tool.name): tool
            for server, tools in zip(servers, listed, strict=True)
            for tool in tools
            if (server, tool.name) not in disabled
        }
        names = aggregate(found)
        tools = {
            name: _Tool(name, server, upstream, found[(server, upstream)])
            for name, (server, upstream) in names.items()
        }
        self._catalog[workspace] = tools
        return tools

    def input_schema(self, workspace: str, tool: str) -> Mapping[str, Any] | None:
        """A tool's input schema as the workspace's last listing or call found it (None if
        neither has seen it yet): what the MCP endpoint checks `Mcp-Param-*` headers against
        without listing every tool again for each call."""
        found = self._catalog.get(workspace, {}).get(tool)
        return dict(found.tool.input_schema or {}) if found is not None else None

    def _unknown(self, workspace: str, tool: str, view: _View) -> str:
        """Why a tool name finds nothing: an unknown server, or a tool its server lacks."""
        servers = sorted(view.configs)
        server, _, name = tool.partition("__")
        if server not in servers:
            known = ", ".join(servers) or "none"
            return f"workspace '{workspace}' has no server '{server}' (its servers: {known})"
        return f"server '{server}' of workspace '{workspace}' has no tool '{name or tool}'"

    async def list_tools(self, workspace: str) -> list[ToolInfo]:
        return [
            ToolInfo(
                name=t.name,
                description=t.tool.description or "",
                input_schema=dict(t.tool.input_schema or {}),
                read_only=t.read_only,
                destructive=t.destructive,
                server=t.server,
            )
            for t in (await self._tools(workspace)).values()
        ]

    async def mcp_tools(self, workspace: str) -> list[types.Tool]:
        """The tools as MCP `Tool`s under their aggregated names."""
        return [
            t.tool.model_copy(update={"name": t.name})
            for t in (await self._tools(workspace)).values()
        ]

    async def call(
        self, workspace: str, tool: str, arguments: Mapping[str, Any], member: Member
    ) -> types.CallToolResult:
        """Call a tool as a member: role checked, secrets injected, the call logged."""
        started, clock = time.time(), time.perf_counter()
        view = await self._view(workspace)
        tools = await self._tools(workspace, view)
        found = tools.get(tool)
        server = found.server if found else tool.partition("__")[0]
        redactor = view.redactor

        def record(outcome: str, error: str | None = None) -> None:
            text = redactor.text(error) if error else None
            self.log.record(
                Call(
                    workspace,
                    server,
                    tool,
                    member.name,
                    started,
                    round((time.perf_counter() - clock) * 1000, 3),
                    outcome,
                    text,
                ),
                redactor,
            )

        if found is None:
            reason = self._unavailable.get((workspace, server))
            record("error", reason or "unknown tool")
            if reason is not None:
                raise UpstreamError(reason)
            raise ToolNotFound(self._unknown(workspace, tool, view))
        if not may_call(member, found.read_only):
            record("denied", f"role {member.role} may only call read-only tools")
            raise Forbidden(
                f"'{tool}' is not read-only; the {member.role} role may only call read-only tools"
            )
        try:
            upstream = await self.upstream(workspace, found.server, view)
            result = _redacted(await upstream.call_tool(found.upstream, arguments), redactor)
        except Exception as exc:
            record("error", str(exc))
            if redactor.text(str(exc)) != str(exc):
                raise UpstreamError(redactor.text(str(exc))) from None
            raise
        if result.is_error:
            record("tool_error", _text(result)[:2000])
        else:
            record("ok")
        return result

    async def call_tool(
        self, workspace: str, tool: str, arguments: dict[str, Any], *, caller: str | None = None
    ) -> ToolResult:
        """The engine's ToolGateway: a flow's run calls as a developer named after the run."""
        member = Member(workspace, caller or "flow", FLOW_MEMBER_ROLE, "")
        try:
            result = await self.call(workspace, tool, arguments, member)
        except UpstreamError as exc:
            raise LookupError(str(exc)) from None
        content = [item.model_dump(mode="json", exclude_none=True) for item in result.content]
        return ToolResult(
            text=_text(result),
            content=content,
            structured=result.structured_content,
            is_error=bool(result.is_error),
        )

    # ------------------------------------------------------------------ resources and prompts

    async def list_resources(self, workspace: str) -> list[types.Resource]:
        resources = []
        view = await self._view(workspace)
        for server in sorted(view.configs):
            try:
                listed = await (await self.upstream(workspace, server, view)).list_resources()
            except Exception:
                continue
            resources += [
                r.model_copy(
                    update={"uri": resource_uri(server, str(r.uri)), "name": f"{server}__{r.name}"}
                )
                for r in listed
            ]
        return resources

    async def read_resource(self, workspace: str, uri: str) -> types.ReadResourceResult:
        server, upstream_uri = split_resource_uri(uri)
        view = await self._view(workspace)
        result = await (await self.upstream(workspace, server, view)).read_resource(upstream_uri)
        result = _redacted(result, view.redactor)
        return result.model_copy(
            update={
                "contents": [
                    c.model_copy(update={"uri": resource_uri(server, str(c.uri))})
                    for c in result.contents
                ]
            }
        )

    async def _prompts(self, workspace: str) -> dict[str, tuple[str, types.Prompt]]:
        found: dict[tuple[str, str], types.Prompt] = {}
        view = await self._view(workspace)
        for server in sorted(view.configs):
            try:
                listed = await (await self.upstream(workspace, server, view)).list_prompts()
            except Exception:
                continue
            found.update({(server, p.name): p for p in listed})
        return {name: (pair[0], found[pair]) for name, pair in aggregate(found).items()}

    async def list_prompts(self, workspace: str) -> list[types.Prompt]:
        return [
            prompt.model_copy(update={"name": name})
            for name, (_, prompt) in (await self._prompts(workspace)).items()
        ]

    async def get_prompt(
        self, workspace: str, name: str, arguments: Mapping[str, str] | None
    ) -> types.GetPromptResult:
        prompts = await self._prompts(workspace)
        if name not in prompts:
            raise ToolNotFound(f"workspace '{workspace}' has no prompt '{name}'")
        server, prompt = prompts[name]
        view = await self._view(workspace)
        result = await (await self.upstream(workspace, server, view)).get_prompt(
            prompt.name, arguments
        )
        return _redacted(result, view.redactor)

    # ------------------------------------------------------------------------ notifications

    def on_changed(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Call `listener(workspace)` when a workspace's tools may have changed."""
        self._listeners.append(listener)

    async def notify(self, workspace: str) -> None:
        for listener in list(self._listeners):
            try:
                await listener(workspace)
            except Exception:
                continue

    async def watch(self, interval_s: float = 2.0) -> None:
        """Notify of workspaces whose servers or tools were changed by another process (the CLI,
        another runtime on the same database); runs until cancelled."""
        seen = await asyncio.to_thread(self.workspaces.revisions)
        while True:
            await asyncio.sleep(interval_s)
            try:
                now = await asyncio.to_thread(self.workspaces.revisions)
            except sa.exc.SQLAlchemyError:
                continue  # the database is busy or away for a moment: look again next time
            for slug in sorted(set(seen) | set(now)):
                if seen.get(slug) != now.get(slug):
                    await self._close_unlisted(slug)
                    await self.notify(slug)
            seen = now

    async def _close_unlisted(self, workspace: str) -> None:
        """Stop the sessions (and processes) of servers removed or disabled meanwhile."""
        enabled = (await self._view(workspace)).configs
        gone = [key for key in self._upstreams if key[0] == workspace and key[1] not in enabled]
        await asyncio.gather(*(self._upstreams.pop(key)[1].close() for key in gone))

    async def aclose(self) -> None:
        """Stop every upstream, and write the calls not yet in the log."""
        upstreams, self._upstreams = list(self._upstreams.values()), {}
        await asyncio.gather(*(u.close() for _, u in upstreams), return_exceptions=True)
        await asyncio.to_thread(self.log.flush)
        self.fresh.close()


def _redacted(result: Result, redactor: Redactor) -> Result:
    """An upstream's answer with the workspace's secret values redacted: whatever a server
    echoes (its environment, a header) reaches no client, flow or store."""
    if not redactor:
        return result
    dumped = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    cleaned = redactor.value(dumped)
    return result if cleaned == dumped else type(result).model_validate(cleaned)


def _text(result: types.CallToolResult) -> str:
    return "\n".join(getattr(item, "text", "") for item in result.content if item.type == "text")


@asynccontextmanager
async def _remote(url: str, transport: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    """A transport to a remote server with its headers (secrets already filled in)."""
    if transport == "sse":
        from mcp.client.sse import sse_client

        async with sse_client(url, headers=headers) as streams:
            yield streams
        return
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    timeout = httpx2.Timeout(30, read=300)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as client,
        streamable_http_client(url, http_client=client) as streams,
    ):
        yield streams
