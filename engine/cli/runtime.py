"""`aerostudio runtime`: serve the engine API and the gateway on loopback for the studio."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any


def register(subparsers: Any) -> None:
    runtime = subparsers.add_parser(
        "runtime",
        help="run the local runtime (engine API + gateway) for the studio",
        description="Serve the engine API and the workspace gateway on loopback; the address "
        "and the admin token are written to the data directory (runtime.json).",
    )
    runtime.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    runtime.add_argument("--db", metavar="URL", help="runs database (default: the data directory)")
    runtime.set_defaults(handler=run_runtime)


def run_runtime(args: argparse.Namespace) -> int:
    from engine.api.serve import serve

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.db, "127.0.0.1", args.port))
    return 0
