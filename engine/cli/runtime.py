"""`aerostudio runtime` (the studio's, on loopback), `aerostudio serve` (a server, with members),
`aerostudio admin-token` and `aerostudio member-token` (a new admin's token for a server, or a
developer's or viewer's in some workspaces, minted on its host)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine
from typing import Any, NoReturn

DB_HELP = "database: runs, workspaces, members (default: SQLite in the data directory)"
STDIO_ENV = "AEROSTUDIO_ALLOW_STDIO_SERVERS"


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

    serve = subparsers.add_parser(
        "serve",
        help="run a server: the engine API, deployed flows and the gateway, for members",
        description="Serve the engine API, deployed flows' endpoints and webhooks, and each "
        "workspace's gateway. Every route but health, public endpoints and signed webhooks "
        "needs a member's token; the first start creates an admin and prints its token once.",
    )
    serve.add_argument("--db", metavar="URL", help=DB_HELP + "; postgresql://... to share one")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (8080; 0 for any free one)")
    serve.add_argument(
        "--executor-id",
        metavar="ID",
        help="this process's name for its runs, kept across restarts (default: from the host)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="most queued runs one process executes at once, paused ones included (100); on "
        "PostgreSQL a setting of the shared runs queue: the process started last sets it",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host header to answer besides loopback and this machine's name (repeatable)",
    )
    serve.add_argument(
        "--allow-stdio-servers",
        action="store_true",
        default=os.environ.get(STDIO_ENV) == "1",
        help="let admins add and change stdio servers (commands run on this host) over the "
        f"API; off by default ({STDIO_ENV}=1 sets it too)",
    )
    serve.set_defaults(handler=run_serve)

    admin_token = subparsers.add_parser(
        "admin-token",
        help="mint a new admin token for the server (on its host)",
        description="Create an admin member's token in the server's database and print it "
        "once: for a lost token, or another admin.",
    )
    admin_token.add_argument("--db", metavar="URL", help=DB_HELP)
    admin_token.add_argument("--member", default="admin", help="the member's name (admin)")
    admin_token.set_defaults(handler=run_admin_token)

    member_token = subparsers.add_parser(
        "member-token",
        help="mint a token for a developer or viewer of the server (on its host)",
        description="Create a member's token in the server's database, in the workspaces "
        "given, and print it once (the API's POST /api/members does the same for admins).",
    )
    member_token.add_argument("--db", metavar="URL", help=DB_HELP)
    member_token.add_argument("--member", required=True, help="the member's name")
    member_token.add_argument("--role", choices=["developer", "viewer"], default="developer")
    member_token.add_argument(
        "--workspace",
        "--workspaces",
        dest="workspaces",
        action="append",
        default=[],
        metavar="W",
        help="a workspace the member works in (repeatable; commas separate several too)",
    )
    member_token.set_defaults(handler=run_member_token)


def _interrupt(_signal: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _until_stopped(main: Coroutine[Any, Any, None]) -> int:
    """Run a server until Ctrl-C or SIGTERM, either one a clean stop (uvicorn raises the signal
    it caught again once it has shut down: without this, SIGTERM would then kill the process
    before the runtime closes)."""
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main)
    return 0


def run_runtime(args: argparse.Namespace) -> int:
    from engine.api.serve import serve

    return _until_stopped(serve(args.db, "127.0.0.1", args.port))


def run_serve(args: argparse.Namespace) -> int:
    from engine.api.serve import default_executor_id, serve_server

    if args.workers is not None and args.workers < 1:
        from engine.cli.errors import UsageError

        raise UsageError(f"--workers: at least 1 run at a time (got {args.workers})")
    executor_id = args.executor_id or default_executor_id()
    return _until_stopped(
        serve_server(
            args.db,
            args.host,
            args.port,
            executor_id,
            tuple(args.allow_host),
            args.workers,
            allow_stdio_servers=args.allow_stdio_servers,
        )
    )


def run_admin_token(args: argparse.Namespace) -> int:
    from engine.api.members import Members
    from engine.cli.errors import UsageError
    from engine.cli.gateway import open_gateway
    from engine.gateway.tokens import ServerTokens

    gateway = open_gateway(args)
    try:
        token = Members(ServerTokens(gateway.engine)).mint_admin(args.member)
    except ValueError as exc:
        raise UsageError(f"--member: {exc}") from None
    print(f"admin token: {token}")
    return 0


def run_member_token(args: argparse.Namespace) -> int:
    from engine.api.members import SERVER
    from engine.cli.errors import UsageError
    from engine.cli.gateway import check_workspace, open_gateway
    from engine.gateway.tokens import ServerTokens

    gateway = open_gateway(args)
    slugs = [s.strip() for given in args.workspaces for s in given.split(",") if s.strip()]
    workspaces = [check_workspace(gateway, slug) for slug in slugs]
    try:
        info, token = ServerTokens(gateway.engine).create(
            SERVER, args.member, args.role, workspaces=workspaces
        )
    except ValueError as exc:
        raise UsageError(f"--member: {exc}") from None
    where = ", ".join(info.workspaces or ()) or "no workspace yet"
    print(f"{info.role} token for {info.member} ({where}): {token}")
    return 0
