"""A small MCP server for gateway tests, over stdio or streamable HTTP.

Tools: `echo` (read-only), `env` (returns an environment variable: shows what the gateway
injected), `env_sha256` (the variable's SHA-256: proves a value arrived without showing it),
`crash` (exits the process at once), `slow` (sleeps), `fail` (a tool error), `spawn` (starts a
child process), `wipe` (destructive). A resource and a prompt too. Over HTTP (`--http PORT`),
every request must carry `X-Api-Key` equal to the `ECHO_API_KEY` environment variable, and `key`
returns the key the last request carried.
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server import MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("echo")
seen: dict[str, str] = {}


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> str:
    """Say it back."""
    return text


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def env(name: str) -> str:
    """An environment variable of this server process."""
    return os.environ.get(name, "<unset>")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def env_sha256(name: str) -> str:
    """The SHA-256 (hex) of an environment variable of this server process, or "<unset>"."""
    import hashlib

    value = os.environ.get(name)
    return "<unset>" if value is None else hashlib.sha256(value.encode()).hexdigest()


@server.tool()
def crash() -> str:
    """Exit the process at once."""
    os._exit(3)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def slow(seconds: float) -> str:
    """Answer after a while."""
    await asyncio.sleep(seconds)
    return "late"


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
def wipe() -> str:
    """Pretend to delete everything."""
    return "wiped"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def fail(text: str) -> str:
    """Fail with this text."""
    raise ValueError(text)


@server.tool()
def spawn() -> list[int]:
    """Start a long-lived child process; the pids of this server and of the child."""
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    return [os.getpid(), child.pid]


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def key() -> str:
    """The API key the current HTTP request carried."""
    return seen.get("key", "")


@server.resource("notes://today")
def today() -> str:
    """Today's note."""
    return "remember the milk"


@server.prompt()
def greet(name: str) -> str:
    """A greeting prompt."""
    return f"Say hello to {name}"


def _http(port: int) -> None:
    import uvicorn
    from starlette.responses import JSONResponse

    app = server.streamable_http_app()

    async def checked(scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            if headers.get("x-api-key") != os.environ["ECHO_API_KEY"]:
                await JSONResponse({"error": "bad key"}, status_code=401)(scope, receive, send)
                return
            seen["key"] = headers["x-api-key"]
        await app(scope, receive, send)

    uvicorn.run(checked, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--http":
        _http(int(sys.argv[2]))
    else:
        server.run()
