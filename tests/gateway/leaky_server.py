"""An MCP server that leaks what it was given, for the secret redaction tests.

Tools: `environment` (its whole environment, and each value in base64 too), `say` (the text
back), `refuse` (a tool error holding the environment variable named), `traceback` (prints a
traceback holding the variable named to stderr, then exits, as a crashing server would).
"""

from __future__ import annotations

import base64
import os
import sys
import traceback as tb

from mcp.server import MCPServer
from mcp_types import CallToolResult, TextContent

server = MCPServer("leaky")


@server.tool()
def environment() -> dict[str, dict[str, str]]:
    """This process's environment, plainly and in base64."""
    return {
        "plain": dict(os.environ),
        "base64": {k: base64.b64encode(v.encode()).decode() for k, v in os.environ.items()},
    }


@server.tool()
def say(text: str) -> str:
    """The text back."""
    return text


@server.tool()
def refuse(name: str) -> CallToolResult:
    """A tool error that shows a variable."""
    text = f"the upstream refused the token {os.environ.get(name)}"
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


@server.tool()
def traceback(name: str) -> str:
    """Crash with a traceback that shows a variable."""
    try:
        raise RuntimeError(f"login failed with {os.environ.get(name)}")
    except RuntimeError:
        tb.print_exc()
        sys.stderr.flush()
        os._exit(1)


if __name__ == "__main__":
    server.run()
