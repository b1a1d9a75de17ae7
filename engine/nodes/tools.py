"""Tool and code nodes: mcp_tool, code_block, function_call."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from engine.nodes.spec import Category, NodeConfig, NodeSpec, capped, template

TOOL_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class McpToolConfig(NodeConfig):
    tool: str = Field(
        pattern=TOOL_PATTERN, description="Tool of the flow's workspace, named server__tool"
    )
    arguments: dict[str, Any] = template(
        default_factory=dict, description="Arguments; strings inside are templates"
    )


class CodeBlockConfig(NodeConfig):
    code: str = Field(description="Python defining main(input, vars, nodes); returns JSON")
    timeout_s: float = capped(10, 300, "Kill the code after this many seconds", ge=0.1)
    memory_mb: int = capped(256, 4096, "Memory limit in MiB", ge=16)
    network: bool = Field(False, description="Allow network access")


class FunctionCallConfig(NodeConfig):
    function: str = Field(
        pattern=r"^(@[a-z0-9_-]+/)?[a-z0-9_][a-z0-9_.-]{0,63}$",
        description="A workspace function, or @owner/name from the registry",
    )
    version: str | None = Field(None, description="Registry version (empty: the latest)")
    input: Any = template(default_factory=dict, description="Input; strings inside are templates")


SPECS = (
    NodeSpec(
        type="mcp_tool",
        title="MCP tool",
        description="Calls one tool of the workspace's MCP servers",
        category=Category.TOOLS,
        icon="wrench",
        config_model=McpToolConfig,
        outputs=("out", "error"),
        side_effect=True,
        output=(
            "`{text, content, structured, is_error}`; a result with `is_error` takes `error` "
            "when it is connected"
        ),
    ),
    NodeSpec(
        type="code_block",
        title="Code",
        description="Runs Python in a sandboxed process: JSON in, JSON out",
        category=Category.TOOLS,
        icon="code",
        config_model=CodeBlockConfig,
        outputs=("out", "error"),
        side_effect=True,
        output="The JSON value `main` returns; it runs in a sandbox (docs/security.md)",
    ),
    NodeSpec(
        type="function_call",
        title="Function",
        description="Calls a reusable function from the workspace or the registry",
        category=Category.TOOLS,
        icon="function",
        config_model=FunctionCallConfig,
        outputs=("out", "error"),
        side_effect=True,
        output="The function's return value",
    ),
)
