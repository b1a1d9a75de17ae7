"""`aerostudio server` and `secret`: the MCP servers of a workspace and the secrets they use."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.errors import CliError, UsageError
from engine.cli.gateway import (
    add_db,
    add_json,
    add_workspace,
    check_workspace,
    gateway_errors,
    open_gateway,
    print_json,
    print_table,
    when,
)

if TYPE_CHECKING:
    from engine.gateway.core import Gateway


def register(subparsers: Any) -> None:
    _register_server(subparsers)
    _register_secret(subparsers)


def _key_values(pairs: Sequence[str], option: str) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise UsageError(f"{option} {pair}: expected KEY=VALUE")
        values[key.strip()] = value
    return values


# ------------------------------------------------------------------------------------ server


def _register_server(subparsers: Any) -> None:
    server = subparsers.add_parser("server", help="the MCP servers of a workspace")
    verbs = server.add_subparsers(dest="verb", metavar="VERB", required=True)

    add = verbs.add_parser(
        "add",
        help="add a stdio (--command) or remote (--url) server",
        epilog="an argument starting with '-' is given as --arg=-y",
    )
    add.add_argument("name", metavar="NAME")
    add_workspace(add)
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--command", metavar="CMD", help="program of a stdio server")
    target.add_argument("--url", help="endpoint of a remote server")
    add.add_argument("--arg", action="append", default=[], metavar="A", help="(repeatable)")
    add.add_argument("--env", action="append", default=[], metavar="K=V")
    add.add_argument(
        "--env-secret",
        action="append",
        default=[],
        metavar="K=SECRET_NAME",
        help="set K to a secret of the vault",
    )
    add.add_argument("--cwd", metavar="DIR")
    add.add_argument("--transport", choices=["http", "sse"], help="remote only (default: http)")
    add.add_argument("--header", action="append", default=[], metavar="K=V")
    add.add_argument("--header-secret", action="append", default=[], metavar="K=SECRET_NAME")
    add_json(add)
    add.set_defaults(handler=add_server)

    listing = verbs.add_parser("list", help="the servers with their state")
    add_workspace(listing)
    add_json(listing)
    listing.set_defaults(handler=list_servers)

    remove = verbs.add_parser("remove", help="remove a server")
    remove.add_argument("name", metavar="NAME")
    add_workspace(remove)
    remove.set_defaults(handler=remove_server)

    for verb in ("enable", "disable"):
        switch = verbs.add_parser(verb, help=f"{verb} a server, or one of its tools")
        switch.add_argument("name", metavar="NAME")
        switch.add_argument("--tool", metavar="TOOL", help="only this tool (its upstream name)")
        add_workspace(switch)
        switch.set_defaults(handler=switch_server, enabled=verb == "enable")

    tools = verbs.add_parser("tools", help="start a server and list its tools")
    tools.add_argument("name", metavar="NAME")
    add_workspace(tools)
    add_json(tools)
    tools.set_defaults(handler=server_tools)


def _server_config(args: argparse.Namespace) -> dict[str, Any]:
    def references(pairs: Sequence[str], option: str) -> dict[str, Any]:
        return {k: {"secret": v} for k, v in _key_values(pairs, option).items()}

    if args.command is not None:
        misplaced = [o for o in ("transport", "header", "header_secret") if getattr(args, o)]
        if misplaced:
            option = "--" + misplaced[0].replace("_", "-")
            raise UsageError(f"{option} is for a remote server (--url), not --command")
        env = {**_key_values(args.env, "--env"), **references(args.env_secret, "--env-secret")}
        return {"command": args.command, "args": args.arg, "env": env, "cwd": args.cwd}
    misplaced = [o for o in ("arg", "env", "env_secret", "cwd") if getattr(args, o)]
    if misplaced:
        option = "--" + misplaced[0].replace("_", "-")
        raise UsageError(f"{option} is for a stdio server (--command), not --url")
    headers = {
        **_key_values(args.header, "--header"),
        **references(args.header_secret, "--header-secret"),
    }
    return {"url": args.url, "transport": args.transport or "http", "headers": headers}


def secret_references(config: Any) -> list[str]:
    values = config.get("env" if "command" in config else "headers") or {}
    return [str(v["secret"]) for v in values.values() if isinstance(v, dict)]


def missing_secrets(gateway: Gateway, workspace: str, names: Sequence[str]) -> list[str]:
    stored = {info.name for info in gateway.vault.entries(workspace)}
    return sorted({name for name in names if name not in stored})


def _server_record(server: Any, disabled: set[tuple[str, str]]) -> dict[str, Any]:
    return {
        "name": server.name,
        "kind": server.kind,
        "enabled": server.enabled,
        "config": dict(server.config),
        "disabled_tools": sorted(tool for name, tool in disabled if name == server.name),
    }


def add_server(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    config = _server_config(args)
    with gateway_errors():
        server = gateway.workspaces.add_server(workspace, args.name, config)
    missing = missing_secrets(gateway, workspace, secret_references(server.config))
    if args.json:
        print_json({**_server_record(server, set()), "missing_secrets": missing})
        return 0
    print(f"added {server.kind} server '{server.name}' to workspace {workspace}")
    for name in missing:
        print(f"secret {name} is not set yet: aerostudio secret set {name} --workspace {workspace}")
    return 0


def _describe(config: Any) -> str:
    if "command" in config:
        target = " ".join([str(config["command"]), *map(str, config.get("args") or [])])
        values = config.get("env") or {}
    else:
        target, values = str(config["url"]), config.get("headers") or {}
    shown = [f"{k}=<secret {v['secret']}>" if isinstance(v, dict) else k for k, v in values.items()]
    return target + (f"  [{', '.join(shown)}]" if shown else "")


def list_servers(args: argparse.Namespace) -> int:
    from engine.gateway.workspaces import Server

    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    servers = gateway.workspaces.servers(workspace)
    if not servers and workspace in gateway.builtin:
        builtin = gateway.builtin[workspace]
        servers = [Server(workspace, n, c, True) for n, c in sorted(builtin.items())]
    disabled = gateway.workspaces.disabled_tools(workspace)
    records = [_server_record(s, disabled) for s in servers]
    if args.json:
        print_json(records)
        return 0
    rows = [
        [
            r["name"],
            r["kind"],
            "on" if r["enabled"] else "off",
            ", ".join(r["disabled_tools"]) or "-",
            _describe(r["config"]),
        ]
        for r in records
    ]
    print_table(["NAME", "KIND", "STATE", "TOOLS OFF", "TARGET"], rows)
    return 0


def remove_server(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    with gateway_errors(hint=f"aerostudio server list --workspace {workspace}"):
        gateway.workspaces.remove_server(workspace, args.name)
    print(f"removed server '{args.name}' from workspace {workspace}")
    return 0


def switch_server(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    state = "enabled" if args.enabled else "disabled"
    with gateway_errors(hint=f"aerostudio server list --workspace {workspace}"):
        if args.tool:
            gateway.workspaces.set_tool_enabled(workspace, args.name, args.tool, args.enabled)
            print(f"{state} tool '{args.tool}' of server '{args.name}' in workspace {workspace}")
        else:
            gateway.workspaces.set_enabled(workspace, args.name, args.enabled)
            print(f"{state} server '{args.name}' in workspace {workspace}")
    return 0


async def _upstream_tools(gateway: Gateway, workspace: str, name: str) -> list[Any]:
    try:
        upstream = await gateway.upstream(workspace, name)
        return await upstream.list_tools()
    finally:
        await gateway.aclose()


def server_tools(args: argparse.Namespace) -> int:
    from engine.gateway.upstream import UpstreamError

    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    config = gateway.server_configs(workspace).get(args.name)
    if config is None:
        with gateway_errors(hint=f"aerostudio server list --workspace {workspace}"):
            gateway.workspaces.server(workspace, args.name)
        raise CliError(
            f"server '{args.name}' of workspace {workspace} is disabled",
            hint=f"aerostudio server enable {args.name} --workspace {workspace}",
        )
    print(f"starting {args.name}...", file=sys.stderr, flush=True)
    try:
        tools = asyncio.run(_upstream_tools(gateway, workspace, args.name))
    except (LookupError, UpstreamError) as exc:
        message = str(exc) if str(exc).startswith("server '") else f"server '{args.name}': {exc}"
        raise CliError(
            f"workspace {workspace}: {message}",
            hint=f"check its command and secrets: aerostudio server list --workspace {workspace}",
        ) from None
    disabled = {t for s, t in gateway.workspaces.disabled_tools(workspace) if s == args.name}
    records = [
        {
            "name": t.name,
            "description": (t.description or "").strip().split("\n")[0],
            "read_only": bool(t.annotations and t.annotations.read_only_hint),
            "destructive": bool(t.annotations and t.annotations.destructive_hint),
            "disabled": t.name in disabled,
        }
        for t in tools
    ]
    if args.json:
        print_json(records)
        return 0
    rows = [
        [
            r["name"],
            ", ".join(
                flag
                for flag, on in (("read-only", r["read_only"]), ("destructive", r["destructive"]))
                if on
            )
            or "-",
            "off" if r["disabled"] else "on",
            r["description"],
        ]
        for r in records
    ]
    print_table(["TOOL", "ANNOTATIONS", "STATE", "DESCRIPTION"], rows)
    return 0


# ------------------------------------------------------------------------------------ secret


def _register_secret(subparsers: Any) -> None:
    secret = subparsers.add_parser("secret", help="the vault of a workspace (values never shown)")
    verbs = secret.add_subparsers(dest="verb", metavar="VERB", required=True)

    store = verbs.add_parser(
        "set",
        help="create or replace a secret",
        description="The value is read from standard input, or asked for without echo on a "
        "terminal; never from the command line.",
    )
    store.add_argument("name", metavar="NAME")
    add_workspace(store)
    store.set_defaults(handler=set_secret)

    listing = verbs.add_parser("list", help="secret names and dates")
    add_workspace(listing)
    add_json(listing)
    listing.set_defaults(handler=list_secrets)

    delete = verbs.add_parser("delete", help="delete a secret")
    delete.add_argument("name", metavar="NAME")
    add_workspace(delete)
    delete.set_defaults(handler=delete_secret)

    export = verbs.add_parser(
        "export-key",
        help="write the vault's master key to a key file, for servers sharing the database",
        description="Write the master key (of every workspace's secrets) to a new file of mode "
        "0600. Give it to each server that shares this database as AEROSTUDIO_MASTER_KEY_FILE.",
    )
    export.add_argument("output", type=Path, metavar="FILE", help="the key file to create")
    add_db(export)
    export.set_defaults(handler=export_key)


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"value of {name} (not shown): ")
    else:
        value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise UsageError(f"secret {name}: the value is empty", hint="give the value on stdin")
    return value


def set_secret(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    existed = args.name in {info.name for info in gateway.vault.entries(workspace)}
    value = _read_value(args.name)
    with gateway_errors():
        gateway.vault.set(workspace, args.name, value)
    print(f"{'replaced' if existed else 'stored'} secret {args.name} in workspace {workspace}")
    return 0


def list_secrets(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    records: list[dict[str, Any]] = [
        {"name": i.name, "created_at": i.created_at, "updated_at": i.updated_at}
        for i in gateway.vault.entries(workspace)
    ]
    if args.json:
        print_json(records)
        return 0
    rows = [[r["name"], when(r["created_at"]), when(r["updated_at"])] for r in records]
    print_table(["NAME", "CREATED", "UPDATED"], rows)
    return 0


def export_key(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    with gateway_errors(hint="choose a new file name; an existing file is never overwritten"):
        gateway.vault.export_key(args.output)
    print(f"wrote the master key to {args.output} (mode 600): keep it as secret as the secrets")
    return 0


def delete_secret(args: argparse.Namespace) -> int:
    gateway = open_gateway(args)
    workspace = check_workspace(gateway, args.workspace)
    with gateway_errors(hint=f"aerostudio secret list --workspace {workspace}"):
        gateway.vault.delete(workspace, args.name)
    print(f"deleted secret {args.name} from workspace {workspace}")
    users = [
        s.name
        for s in gateway.workspaces.servers(workspace)
        if args.name in secret_references(s.config)
    ]
    if users:
        print(f"note: still used by {', '.join(users)}", file=sys.stderr)
    return 0
