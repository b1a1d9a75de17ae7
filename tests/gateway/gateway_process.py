"""The gateway served alone in a process of its own, for tests that stop it the hard way: on the
database named by argv[1], on a free loopback port it prints first, its rate limit lifted so a
burst of calls is not cut short (the vault's key from AEROSTUDIO_MASTER_KEY_FILE)."""

from __future__ import annotations

import socket
import sys

import uvicorn

from engine.gateway import open_gateway
from engine.gateway.server import GatewayApp


def main() -> None:
    app = GatewayApp(open_gateway(sys.argv[1]), rate_per_minute=10**9)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(app.app, log_level="warning", lifespan="on"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
