"""`aerostudio token`, `usage`, `log`, `import-config` and `client-config`: who may reach a
workspace, what they did there, and the editors' side of it."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.cli.errors import UsageError
from engine.cli.gateway import (
    DEFAULT_PORT,
    add_json,
    add_workspace,
    check_workspace,
    duration,
    gateway_errors,
    open_gateway,
    print_json,
    print_table,
    when,
)
from engine.cli.gateway_rates import rate_text, register_token
from engine.cli.gateway_servers import missing_secrets, secret_references

ROLES = ("admin", "developer", "viewer")
CLIENTS = ("cursor", "vscode", "claude", "windsurf")


def register(subparsers: Any) -> None:
    _register_token(subparsers)

    usage = subparsers.add_parser("usage", help="tool calls per member, tool and server")
    add_workspace(usage)
    usage.add_argument("--since", metavar="D", help="only the last D: 24h, 7d, 90m...")
    add_json(usage)
    usage.set_defaults(handler=show_usage)

    log = subparsers.add_parser("log", help="the latest tool calls, newest first")
    add_workspace(log)
    log.add_argument("--tool", metavar="T", help="a tool's gateway name (server__tool)")
    log.add_argument("--server", metavar="S")
    log.add_argument("--member", metavar="M")
    log.add_argument("--since", metavar="D", help="only the last D: 24h, 7d, 90m...")
    log.add_argument("--limit", type=int, default=50, metavar="N")
    add_json(log)
    log.set_defaults(handler=show_log)

    imports = subparsers.add_parser(
        "import-config",
        help="add the servers of an editor's MCP file",
        description="Add the servers of a Claude Desktop, Cursor, VS Code or Windsurf MCP file "
        "to a workspace; env and header values go into the vault.",
    )
    imports.add_argument("path", type=Path, metavar="PATH")
    add_workspace(imports)
    add_json(imports)
    imports.set_defaults(handler=import_config)

    client = subparsers.add_parser(
        "client-config",
        help="print an editor's entry for a workspace",
        description="Print the JSON entry an editor needs to reach a workspace's gateway.",
    )
    client.add_argument("client", choices=CLIENTS, metavar="|".join(CLIENTS))
    add_workspace(client)
    client.add_argument(
        "--url", metavar="BASE", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="the gateway"
    )
    token = client.add_mutually_exclusive_group()
    token.add_argument("--token", metavar="T", help="a token of the workspace")
    token.add_argument("--create-token", action="store_true", help="create one (--member)")
    client.add_argument("--member", metavar="M", help="with --create-token")
    client.add_argument("--role", choices=ROLES, default="developer", help="with --create-token")
    client.set_defaults(handler=print_client_config)


# ------------------------------------------------------------------------------------- token


def _register_token(subparsers: Any) -> None:
    token = subparsers.add_parser("token", help="members' tokens for a workspace")
    verbs = token.add_subparsers(dest="verb", metavar="VERB", required=True)

    create = verbs.add_parser("create", help="a new token (shown once)")
    add_workspace(create)
    create.add_argument("--member", required=True, metavar="M", help="who it is for")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--expires", metavar="D", help="e.g. 30d, 12h, 90m, 3600s (default never)")
    create.add_argument(
        "--rate",
        type=int,
        metavar="N",
        help="its own tool calls a minute (default: the workspace's)",
    )
    add_json(create)
    create.set_defaults(handler=create_token)

    listing = verbs.add_parser("list", help="the tokens and their state")
    add_workspace(listing)
    add_json(listing)
    listing.set_defaults(handler=list_tokens)

    revoke = verbs.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token_id", metavar="ID")
    add_workspace(revoke)
    revoke.set_defaults(handler=revoke_token)

    register_token(verbs)


def _token_record(info: Any, now: float, workspace_rate: int | None) -> dict[str, Any]:
    from engine.gateway.rates import effective

    return {
        "id": info.id,
        "member": info.member,
        "role": info.role,
        "state": info.state(now),
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "revoked_at": info.revoked_at,
        "last_used_at": info.last_used_at,
        "rate_per_minute": info.rate_per_minute,
        "effective_rate_per_minute": effective(info.rate_per_minute, workspace_rate),
        "rate": rate_text(info.rate_per_minute, workspace_rate),
    }


def create_token(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    from engine.gateway.rates import Rates, check_rate

    expires = duration(args.expires) if args.expires else None
    rates = Rates(gateway.engine)
    with gateway_errors():
        rate = check_rate(args.rate, "--rate")
        info, token = gateway.tokens.create(workspace, args.member, args.role, expires)
        if rate is not None:
            rates.set_token(workspace, info.id, rate)
            info = replace(info, rate_per_minute=rate)
    record = _token_record(info, time.time(), rates.workspace(workspace))
    if args.json:
        print_json({**record, "workspace": workspace, "token": token})
        return 0
    until = when(info.expires_at, "never")
    print(
        f"token {info.id} for {info.member} ({info.role}) in {workspace}, expires {until}, "
        f"rate {record['rate']}:"
    )
    print(token)
    print("it is not shown again: copy it now", file=sys.stderr)
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    from engine.gateway.rates import Rates

    now = time.time()
    workspace_rate = Rates(gateway.engine).workspace(workspace)
    records = [_token_record(info, now, workspace_rate) for info in gateway.tokens.all(workspace)]
    if args.json:
        print_json(records)
        return 0
    rows = [
        [
            r["id"],
            r["member"],
            r["role"],
            r["state"],
            when(r["created_at"]),
            when(r["expires_at"], "never"),
            when(r["last_used_at"], "never"),
            r["rate"],
        ]
        for r in records
    ]
    headers = ["ID", "MEMBER", "ROLE", "STATE", "CREATED", "EXPIRES", "LAST USED", "RATE"]
    print_table(headers, rows)
    return 0


def revoke_token(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    with gateway_errors(hint=f"aerostudio token list --workspace {workspace}"):
        gateway.tokens.revoke(workspace, args.token_id)
    print(f"revoked token {args.token_id} of workspace {workspace}")
    return 0


# -------------------------------------------------------------------------------- usage, log


def _since(text: str | None) -> float | None:
    return None if text is None else time.time() - duration(text)


def show_usage(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    report = gateway.log.usage(workspace, _since(args.since))
    if args.json:
        print_json({"workspace": workspace, "since": args.since, **report})
        return 0
    period = f"the last {args.since}" if args.since else "all logged calls"
    if not report["member"]:
        print(f"no tool calls in workspace {workspace} ({period})")
        return 0
    print(f"tool calls in workspace {workspace} ({period})")
    for dimension in ("member", "tool", "server"):
        print()
        rows = [
            [
                line[dimension],
                line["calls"],
                f"{line['error_rate']:.0%}",
                f"{line['p50_ms']:g} ms",
                f"{line['p95_ms']:g} ms",
            ]
            for line in report[dimension]
        ]
        print_table([dimension.upper(), "CALLS", "ERRORS", "P50", "P95"], rows)
    return 0


def show_log(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    if args.limit < 1:
        raise UsageError(f"--limit {args.limit}: at least 1")
    calls = gateway.log.entries(
        workspace,
        since=_since(args.since),
        tool=args.tool,
        server=args.server,
        member=args.member,
        limit=args.limit,
    )
    records = [dict(call.__dict__) for call in calls]
    if args.json:
        print_json(records)
        return 0
    rows = [
        [
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started_at"])),
            r["member"],
            r["tool"],
            r["outcome"],
            f"{r['latency_ms']:.1f} ms",
            (r["error"] or "").replace("\n", " ")[:80],
        ]
        for r in records
    ]
    print_table(["TIME", "MEMBER", "TOOL", "OUTCOME", "LATENCY", "ERROR"], rows)
    return 0


# ------------------------------------------------------------------------- editors' files


def import_config(args: argparse.Namespace) -> int:
    from engine.gateway.editors import read_config

    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    with gateway_errors(hint="give a Claude Desktop, Cursor, VS Code or Windsurf MCP file"):
        imported = read_config(args.path)
    existing = {s.name for s in gateway.workspaces.servers(workspace)}
    added: list[str] = []
    skipped: list[str] = []
    stored: list[str] = []
    wanted: list[str] = []
    for server in imported:
        if server.name in existing:
            skipped.append(server.name)
            continue
        with gateway_errors(hint=f"{args.path}: server '{server.name}'"):
            gateway.workspaces.add_server(workspace, server.name, server.config)
            for name, value in server.secrets.items():
                gateway.vault.set(workspace, name, value)
        added.append(server.name)
        stored += [name for name in server.secrets if name not in stored]
        wanted += secret_references(server.config)
    missing = missing_secrets(gateway, workspace, wanted)
    if args.json:
        print_json({"added": added, "skipped": skipped, "secrets": stored, "missing": missing})
        return 0
    for name in skipped:
        print(f"skipped {name}: workspace {workspace} already has a server '{name}'")
    for name in added:
        print(f"added server {name}")
    if stored:
        print(f"stored {len(stored)} secret(s) in the vault: {', '.join(stored)}")
    if missing:
        print("secrets still missing; set each with:")
        for name in missing:
            print(f"  aerostudio secret set {name} --workspace {workspace}")
    return 0


def print_client_config(args: argparse.Namespace) -> int:
    from engine.gateway.editors import WHERE_TO_PASTE, client_config

    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    url = f"{args.url.rstrip('/')}/ws/{workspace}/mcp"
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url {args.url}: expected http://HOST:PORT")
    token = args.token
    if args.create_token:
        if not args.member:
            raise UsageError("--create-token needs --member: who the token is for")
        with gateway_errors():
            info, token = gateway.tokens.create(workspace, args.member, args.role)
        print(
            f"created token {info.id} for {info.member} ({info.role}); "
            "it is in this entry and not shown again",
            file=sys.stderr,
        )
    elif args.member:
        raise UsageError("--member is for --create-token")
    if token is None:
        token = "<TOKEN>"
        print(
            f"replace <TOKEN> with a token: aerostudio token create --workspace {workspace} "
            "--member NAME --role developer",
            file=sys.stderr,
        )
    with gateway_errors():
        entry = client_config(args.client, url, token, workspace)
    print_json(entry)
    print(f"paste it into {WHERE_TO_PASTE[args.client]}", file=sys.stderr)
    return 0
