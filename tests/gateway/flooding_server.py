"""An MCP server over stdio that floods what the gateway reads, for the upstream limit tests.

Tools: `hello`; `line` (one stdout line of `mib` MiB, written 1 MiB at a time, never held
whole); `noise` (`mib` MiB of stdout lines that are not JSON-RPC); `log` (`mib` MiB of stderr
lines). Each flood ends early if the gateway closes the pipe.
"""

from __future__ import annotations

import os

from mcp.server import MCPServer

server = MCPServer("flooding")
MIB = 1024 * 1024
WIRE = os.dup(1)  # the SDK points fd 1 at stderr while it serves: this is still the pipe


def _write(fd: int, piece: bytes, times: int) -> None:
    try:
        for _ in range(times):
            os.write(fd, piece)
    except BrokenPipeError:
        os._exit(0)


@server.tool()
def hello() -> str:
    """A plain answer."""
    return "hi"


@server.tool()
def line(mib: int) -> str:
    """One stdout line of `mib` MiB."""
    _write(WIRE, b"x" * MIB, mib)
    _write(WIRE, b"\n", 1)
    return "written"


@server.tool()
def noise(mib: int) -> str:
    """`mib` MiB of stdout lines that are not JSON-RPC."""
    _write(WIRE, b"this is not JSON-RPC\n" * (MIB // 21), mib)
    return "written"


@server.tool()
def log(mib: int) -> str:
    """`mib` MiB of stderr lines."""
    _write(2, b"a log line from the flooding server\n" * (MIB // 36), mib)
    return "logged"


if __name__ == "__main__":
    server.run()
