"""The stdio bridge: a local MCP server that forwards every request to a workspace's gateway
endpoint, so editors that only launch stdio servers (Claude Desktop) reach the gateway.

`aerostudio bridge --url URL` with the token in the `AEROSTUDIO_TOKEN` environment variable,
never on the command line (where other users of the machine could read it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

TOKEN_VARIABLE = "AEROSTUDIO_TOKEN"

logger = logging.getLogger(__name__)

_ResultT = TypeVar("_ResultT")
_Context = ServerRequestContext[Any]


async def run_bridge(url: str, token: str) -> None:
    """Serve MCP on stdin/stdout, forwarding to the streamable-HTTP endpoint at `url`.

    A gateway that cannot be reached or refuses the token does not stop the bridge: every
    request is answered with an MCP error saying why, which the editor shows to its user.
    """
    status = _ErrorStatus()
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30.0, read=300.0),
        event_hooks={"response": [status.record]},
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(http)
        remote = Client(streamable_http_client(url, http_client=http), cache=None)
        try:
            client: Client | None = await stack.enter_async_context(remote)
            problem = None
        except Exception as exc:
            client, problem = None, _explain(exc, status.code, url, token)
            logger.error("%s", problem)
        server = _bridge_server(_Forwarder(client, problem, url, token))
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def main(argv: Sequence[str] | None = None) -> int:
    """`aerostudio bridge --url URL`; the token comes from the environment only."""
    parser = argparse.ArgumentParser(
        prog="aerostudio bridge",
        description="Serve a workspace's gateway endpoint over stdio, for stdio-only editors. "
        f"The bearer token is read from {TOKEN_VARIABLE}.",
    )
    parser.add_argument("--url", required=True, help="http://HOST:PORT/ws/<workspace>/mcp")
    args = parser.parse_args(argv)
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        print(f"aerostudio bridge: set {TOKEN_VARIABLE} to the workspace token", file=sys.stderr)
        return 2
    logging.basicConfig(format="aerostudio bridge: %(message)s", stream=sys.stderr)
    anyio.run(run_bridge, args.url, token)
    return 0


class _ErrorStatus:
    """The last HTTP error status of the gateway, to explain a refused connection."""

    def __init__(self) -> None:
        self.code: int | None = None

    async def record(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.code = response.status_code


class _Forwarder:
    """The handlers of the bridge: each request sent on to the gateway, its answer sent back."""

    def __init__(self, client: Client | None, problem: str | None, url: str, token: str) -> None:
        self._client = client
        self._problem = problem
        self._url = url
        self._token = token

    @property
    def capabilities(self) -> types.ServerCapabilities | None:
        """The gateway's capabilities; None when it is not connected (then all are offered)."""
        return None if self._client is None else self._client.server_capabilities

    @property
    def instructions(self) -> str | None:
        return None if self._client is None else self._client.instructions

    async def _forward(self, request: Callable[[Client], Awaitable[_ResultT]]) -> _ResultT:
        if self._client is None:
            raise MCPError(code=types.INTERNAL_ERROR, message=self._problem or "not connected")
        try:
            return await request(self._client)
        except MCPError as exc:
            raise MCPError(
                code=exc.code, message=_redact(exc.message, self._token), data=exc.data
            ) from None
        except Exception as exc:
            message = _explain(exc, None, self._url, self._token)
            raise MCPError(code=types.INTERNAL_ERROR, message=message) from None

    async def list_tools(
        self, ctx: _Context, params: types.PaginatedRequestParams
    ) -> types.ListToolsResult:
        return await self._forward(lambda c: c.session.list_tools(params=_page(params)))

    async def call_tool(
        self, ctx: _Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        return await self._forward(
            lambda c: c.session.call_tool(
                params.name,
                params.arguments,
                input_responses=params.input_responses,
                request_state=params.request_state,
                allow_input_required=True,
            )
        )

    async def list_resources(
        self, ctx: _Context, params: types.PaginatedRequestParams
    ) -> types.ListResourcesResult:
        return await self._forward(lambda c: c.session.list_resources(params=_page(params)))

    async def list_resource_templates(
        self, ctx: _Context, params: types.PaginatedRequestParams
    ) -> types.ListResourceTemplatesResult:
        return await self._forward(
            lambda c: c.session.list_resource_templates(params=_page(params))
        )

    async def read_resource(
        self, ctx: _Context, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        return await self._forward(
            lambda c: c.session.read_resource(
                params.uri,
                input_responses=params.input_responses,
                request_state=params.request_state,
                allow_input_required=True,
            )
        )

    async def list_prompts(
        self, ctx: _Context, params: types.PaginatedRequestParams
    ) -> types.ListPromptsResult:
        return await self._forward(lambda c: c.session.list_prompts(params=_page(params)))

    async def get_prompt(
        self, ctx: _Context, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        return await self._forward(
            lambda c: c.session.get_prompt(
                params.name,
                params.arguments,
                input_responses=params.input_responses,
                request_state=params.request_state,
                allow_input_required=True,
            )
        )


def _bridge_server(forwarder: _Forwarder) -> Server[Any]:
    """A stdio server offering what the gateway offers (everything, if it is not connected)."""
    capabilities = forwarder.capabilities
    server: Server[Any] = Server("aerostudio-bridge", instructions=forwarder.instructions)
    page = types.PaginatedRequestParams
    if capabilities is None or capabilities.tools is not None:
        server.add_request_handler("tools/list", page, forwarder.list_tools)
        server.add_request_handler("tools/call", types.CallToolRequestParams, forwarder.call_tool)
    if capabilities is None or capabilities.resources is not None:
        server.add_request_handler("resources/list", page, forwarder.list_resources)
        server.add_request_handler(
            "resources/templates/list", page, forwarder.list_resource_templates
        )
        server.add_request_handler(
            "resources/read", types.ReadResourceRequestParams, forwarder.read_resource
        )
    if capabilities is None or capabilities.prompts is not None:
        server.add_request_handler("prompts/list", page, forwarder.list_prompts)
        server.add_request_handler(
            "prompts/get", types.GetPromptRequestParams, forwarder.get_prompt
        )
    return server


def _page(params: types.PaginatedRequestParams) -> types.PaginatedRequestParams | None:
    """The client's cursor, passed on (its `_meta` belongs to this hop, not the next)."""
    return None if params.cursor is None else types.PaginatedRequestParams(cursor=params.cursor)


def _explain(exc: BaseException, status: int | None, url: str, token: str) -> str:
    """A message a user can act on for a failure to reach the gateway; never the token."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if status in (401, 403):
        message = (
            f"the Aerostudio gateway at {url} refused the token (HTTP {status}): "
            f"check {TOKEN_VARIABLE}"
        )
    elif status == 404:
        message = f"no MCP endpoint at {url} (HTTP 404): check the workspace name in the URL"
    elif isinstance(exc, httpx2.TransportError | OSError):
        message = f"cannot reach the Aerostudio gateway at {url}: {exc or type(exc).__name__}"
    elif status is not None:
        message = f"the Aerostudio gateway at {url} answered HTTP {status}: {exc}"
    else:
        message = f"the Aerostudio gateway at {url} failed: {exc or type(exc).__name__}"
    return _redact(message, token)


def _redact(message: str, token: str) -> str:
    return message.replace(token, "***") if token else message
