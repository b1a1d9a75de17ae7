"""`aerostudio gateway`, `bridge` and `workspace`: serving the MCP gateway and its workspaces,
with what the gateway commands share. Servers and secrets are in gateway_servers; tokens, usage,
the call log and editors' files in gateway_admin."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from engine.cli.errors import CliError, UsageError

if TYPE_CHECKING:
    from engine.gateway.core import Gateway

DEFAULT_PORT = 7410
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def register(subparsers: Any) -> None:
    from engine.cli import gateway_admin, gateway_servers

    serve = subparsers.add_parser(
        "gateway",
        help="serve the MCP gateway",
        description="Serve every workspace's tools at http://HOST:PORT/ws/<workspace>/mcp.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another Host name clients reach it by (repeatable)",
    )
    add_db(serve)
    serve.set_defaults(handler=serve_gateway)

    bridge = subparsers.add_parser(
        "bridge",
        help="reach a workspace's gateway over stdio",
        description="Serve a workspace's gateway endpoint over stdio, for stdio-only editors. "
        "The token is read from AEROSTUDIO_TOKEN.",
    )
    bridge.add_argument("--url", required=True, help="http://HOST:PORT/ws/<workspace>/mcp")
    bridge.set_defaults(handler=run_bridge)

    _register_workspace(subparsers)
    gateway_servers.register(subparsers)
    gateway_admin.register(subparsers)


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="URL", help="gateway database (default: the data directory's)"
    )


def add_workspace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", "-w", required=True, metavar="W", help="workspace slug")
    add_db(parser)


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_rate(parser: argparse.ArgumentParser, cleared: str) -> None:
    given = parser.add_mutually_exclusive_group()
    given.add_argument(
        "--calls-per-minute", type=int, metavar="N", help="tool calls a minute per token"
    )
    given.add_argument("--clear", action="store_true", help=f"back to {cleared}")


# ------------------------------------------------------------------------------------ helpers


def rate_value(args: argparse.Namespace) -> int | None:
    """The rate `add_rate`'s options give: a number, or None for --clear."""
    from engine.gateway.rates import check_rate

    if args.calls_per_minute is None and not args.clear:
        raise UsageError("give --calls-per-minute N, or --clear")
    with gateway_errors():
        return check_rate(None if args.clear else args.calls_per_minute, "--calls-per-minute")


def open_gateway(args: argparse.Namespace) -> Gateway:
    from engine.gateway import open_gateway as open_db

    with gateway_errors():
        return open_db(args.db)


def workspace_names(gateway: Gateway) -> list[str]:
    stored = [w.slug for w in gateway.workspaces.all()]
    return stored + [slug for slug in sorted(gateway.builtin) if slug not in stored]


def check_workspace(gateway: Gateway, slug: str) -> str:
    """The slug, if the workspace exists (stored or built in); else an error saying which do."""
    from engine.gateway.workspaces import NotFound

    try:
        gateway.workspaces.get(slug)
    except NotFound:
        if slug not in gateway.builtin:
            raise CliError(
                f"no workspace '{slug}'",
                hint=f"workspaces: {', '.join(workspace_names(gateway))}; "
                "aerostudio workspace create NAME makes one",
            ) from None
    return slug


@contextmanager
def gateway_errors(hint: str | None = None) -> Iterator[None]:
    """The gateway's errors (lookups, invalid values, unreadable files) as one-line CliErrors."""
    from engine.gateway.upstream import UpstreamError

    try:
        yield
    except (LookupError, ValueError, UpstreamError, OSError) as exc:
        raise CliError(str(exc), hint=hint) from None


def when(timestamp: float | None, empty: str = "-") -> str:
    if timestamp is None:
        return empty
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Aligned columns; the last column is left ragged."""
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        print("  ".join([*padded, row[-1]]).rstrip())


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def duration(text: str) -> float:
    """Seconds in `30d`, `12h`, `90m` or `3600s`."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dhms])\s*", text)
    if match is None:
        raise UsageError(f"duration '{text}' not understood", hint="e.g. 30d, 12h, 90m or 3600s")
    unit = {"d": 86400, "h": 3600, "m": 60, "s": 1}[match[2]]
    return float(match[1]) * unit


# ------------------------------------------------------------------------------ serve, bridge


def _listen(host: str, port: int) -> Any:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="another process may use the port; pass --port",
        ) from None
    sock.set_inheritable(True)
    return sock


def serve_gateway(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.gateway.server import GatewayApp
    from engine.httpguard import LOCAL_HOSTS

    host = args.host.strip("[]")
    shown = f"[{host}]" if ":" in host else host
    hosts = [*LOCAL_HOSTS, *(h.lower() for h in args.allow_host)]
    if host not in LOOPBACK:
        hosts.append(shown.lower())
    sock = _listen(host, args.port)
    try:
        app = GatewayApp(open_gateway(args), hosts=hosts)
        port = sock.getsockname()[1]
        print(f"gateway at http://{shown}:{port}/ws/<workspace>/mcp", flush=True)
        server = uvicorn.Server(uvicorn.Config(app.app, log_level="warning", lifespan="on"))
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def run_bridge(args: argparse.Namespace) -> int:
    from engine.gateway.bridge import main

    return main(["--url", args.url])


# --------------------------------------------------------------------------------- workspace


def _register_workspace(subparsers: Any) -> None:
    workspace = subparsers.add_parser("workspace", help="create, list, rename, delete workspaces")
    verbs = workspace.add_subparsers(dest="verb", metavar="VERB", required=True)

    create = verbs.add_parser("create", help="a new workspace (its slug comes from NAME)")
    create.add_argument("name", metavar="NAME")
    add_db(create)
    add_json(create)
    create.set_defaults(handler=create_workspace)

    listing = verbs.add_parser("list", help="the workspaces")
    add_db(listing)
    add_json(listing)
    listing.set_defaults(handler=list_workspaces)

    rename = verbs.add_parser("rename", help="a new name (the slug stays)")
    rename.add_argument("slug", metavar="SLUG")
    rename.add_argument("name", metavar="NAME")
    add_db(rename)
    add_json(rename)
    rename.set_defaults(handler=rename_workspace)

    delete = verbs.add_parser("delete", help="a workspace with its servers, secrets, tokens")
    delete.add_argument("slug", metavar="SLUG")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    add_db(delete)
    delete.set_defaults(handler=delete_workspace)

    limit = verbs.add_parser(
        "rate-limit",
        help="tool calls a minute per token in a workspace (shown when no value is given)",
    )
    add_workspace(limit)
    add_rate(limit, "the gateway's default")
    add_json(limit)
    limit.set_defaults(handler=workspace_rate_limit)


def _workspace_record(workspace: Any) -> dict[str, Any]:
    return {"slug": workspace.slug, "name": workspace.name, "created_at": workspace.created_at}


def create_workspace(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    with gateway_errors():
        workspace = gateway.workspaces.create(args.name)
    if args.json:
        print_json(_workspace_record(workspace))
    else:
        print(f"created workspace '{workspace.name}' (slug {workspace.slug})")
    return 0


def list_workspaces(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    records = [
        {
            **_workspace_record(w),
            "builtin": False,
            "servers": len(gateway.workspaces.servers(w.slug)),
        }
        for w in gateway.workspaces.all()
    ]
    stored = {r["slug"] for r in records}
    records += [
        {"slug": slug, "name": slug, "created_at": None, "builtin": True, "servers": len(servers)}
        for slug, servers in sorted(gateway.builtin.items())
        if slug not in stored
    ]
    if args.json:
        print_json(records)
        return 0
    rows = [
        [r["slug"], r["name"], r["servers"], "built in" if r["builtin"] else when(r["created_at"])]
        for r in records
    ]
    print_table(["SLUG", "NAME", "SERVERS", "CREATED"], rows)
    return 0


def rename_workspace(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    check_workspace(gateway, args.slug)
    with gateway_errors():
        workspace = gateway.workspaces.rename(args.slug, args.name)
    if args.json:
        print_json(_workspace_record(workspace))
    else:
        print(f"renamed workspace {workspace.slug} to '{workspace.name}'")
    return 0


def delete_workspace(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    slug = args.slug
    with gateway_errors(hint="aerostudio workspace list shows the workspaces"):
        gateway.workspaces.get(slug)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"deleting workspace '{slug}' needs a confirmation and there is no terminal",
                hint="add --yes",
            )
        what = (
            f"{len(gateway.workspaces.servers(slug))} servers, "
            f"{len(gateway.vault.entries(slug))} secrets, {len(gateway.tokens.all(slug))} tokens"
        )
        answer = input(f"delete workspace '{slug}' with its {what}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    with gateway_errors():
        gateway.workspaces.delete(slug)
    print(f"deleted workspace {slug}")
    return 0


def workspace_rate_limit(args: argparse.Namespace) -> int:
    """Set (or clear) a workspace's rate limit per token, and show it."""
    from engine.gateway.rates import Rates, effective

    gateway = open_gateway(args)
    slug = check_workspace(gateway, args.workspace)
    rates = Rates(gateway.engine)
    if args.calls_per_minute is not None or args.clear:
        value = rate_value(args)
        with gateway_errors(hint="a built-in workspace keeps the default"):
            rates.set_workspace(slug, value)
    own = rates.workspace(slug)
    rate = effective(None, own)
    if args.json:
        print_json({"workspace": slug, "rate_per_minute": own, "effective_rate_per_minute": rate})
    else:
        source = "the default" if own is None else "set for the workspace"
        print(f"workspace {slug}: {rate} tool calls a minute per token ({source})")
    return 0
