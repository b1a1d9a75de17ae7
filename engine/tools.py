"""The interface between flows and MCP tools.

The interpreter's `mcp_tool` and `agent_loop` nodes call tools only through a `ToolGateway`, so
the workspace gateway (secrets, roles, call log) applies to flows exactly as to editors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolInfo:
    """A tool as a workspace exposes it: `name` is the aggregated `server__tool` name."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(default_factory=dict)
    read_only: bool = False
    destructive: bool = False
    server: str = ""


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call, in the shape of the `mcp_tool` node's output."""

    text: str
    content: list[dict[str, Any]] = field(default_factory=list)
    structured: Any = None
    is_error: bool = False


class ToolGateway(Protocol):
    """Lists and calls the tools of a workspace on behalf of a caller (a member or a run)."""

    async def list_tools(self, workspace: str) -> list[ToolInfo]: ...

    async def call_tool(
        self, workspace: str, tool: str, arguments: dict[str, Any], *, caller: str | None = None
    ) -> ToolResult: ...

    async def aclose(self) -> None:
        """Close the sessions it opened (and the servers it started)."""


class SecretLookup(Protocol):
    """Resolves `{"secret": NAME}` references from a workspace's vault at the moment of use."""

    async def get_secret(self, workspace: str, name: str) -> str: ...
