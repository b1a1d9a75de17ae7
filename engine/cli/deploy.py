"""`aerostudio deploy FLOW --server URL` and `aerostudio remote runs list|show|resume|cancel`:
flows deployed to a runtime server and their runs, through the API client the studio uses too.

The token comes from `--token`, else `AEROSTUDIO_TOKEN`, else the keyring entry the studio's
Deploy dialog saved for that server; it is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.cli.errors import CliError, UsageError

if TYPE_CHECKING:
    from engine.api.client import ApiClient, ApiError

TOKEN_HINT = (
    "pass --token T, set AEROSTUDIO_TOKEN, or save the server in the studio's Deploy dialog"
)
RUNS_HINT = "aerostudio remote runs list --server URL shows the recent runs"
FINISHED = ("succeeded", "failed", "cancelled")
ShownField = Literal["run_id", "flow_id", "status", "output", "error", "nodes"]
SHOWN: tuple[ShownField, ...] = ("run_id", "flow_id", "status", "output", "error", "nodes")


def register(subparsers: Any) -> None:
    deploy = subparsers.add_parser(
        "deploy",
        help="deploy a flow to a runtime server",
        description="Upload a flow as a new immutable version (unless unchanged) and make it the "
        "active one; print its version, what changed, and the URLs it answers on.",
    )
    deploy.add_argument("flow", type=Path, metavar="FLOW", help="a *.flow.json file")
    _add_server(deploy)
    deploy.add_argument(
        "--activate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="make the version the active one (default); --no-activate only uploads it",
    )
    deploy.add_argument(
        "--yes",
        action="store_true",
        help="deploy even if anyone who finds its URL can start it (a webhook without a "
        "signing secret, a public endpoint); without it the server refuses such a flow",
    )
    deploy.add_argument("--diff", action="store_true", help="print the whole diff, not a summary")
    deploy.add_argument("--json", action="store_true", help="print JSON")
    deploy.set_defaults(handler=deploy_flow)

    remote = subparsers.add_parser("remote", help="runs on a runtime server")
    nouns = remote.add_subparsers(dest="noun", metavar="NOUN", required=True)
    runs = nouns.add_parser("runs", help="list, inspect, resume and cancel a server's runs")
    verbs = runs.add_subparsers(dest="verb", metavar="VERB", required=True)

    listing = verbs.add_parser("list", help="recent runs, newest first")
    listing.add_argument("--flow", help="only runs of this flow id")
    listing.add_argument("--limit", type=int, default=20)
    show = verbs.add_parser("show", help="a run's nodes: status, timings, outputs")
    show.add_argument("run_id", metavar="RUN")
    resume = verbs.add_parser("resume", help="answer a paused run and follow it")
    resume.add_argument("run_id", metavar="RUN")
    answer = resume.add_mutually_exclusive_group(required=True)
    answer.add_argument("--decision", choices=["approve", "reject"], help="a review's decision")
    answer.add_argument("--code", help="the code an auth gate waits for")
    answer.add_argument("--fire", action="store_true", help="fire a waiting timer now")
    resume.add_argument("--comment")
    resume.add_argument("--reviewer", default="cli")
    resume.add_argument("--node", help="the paused node, when several wait at once")
    cancel = verbs.add_parser("cancel", help="cancel a run")
    cancel.add_argument("run_id", metavar="RUN")
    for parser, handler in (
        (listing, list_remote_runs),
        (show, show_remote_run),
        (resume, resume_remote_run),
        (cancel, cancel_remote_run),
    ):
        _add_server(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=handler)


def _add_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, metavar="URL", help="e.g. https://flows.example")
    parser.add_argument(
        "--token", metavar="T", help="a member token (rather AEROSTUDIO_TOKEN: argv is visible)"
    )


# ------------------------------------------------------------------------------ connecting


def connect(args: argparse.Namespace) -> ApiClient:
    """A client of `--server` with the first token found (option, environment, keyring)."""
    from engine.api.client import ApiClient, saved_token

    url = str(args.server).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(
            f"--server {args.server}: not an http(s) URL", hint="e.g. http://host:8080"
        )
    token = args.token or os.environ.get("AEROSTUDIO_TOKEN") or saved_token(url)
    if not token:
        raise CliError(f"no token for {url}", hint=TOKEN_HINT)
    return ApiClient(url, token)


def explain(exc: ApiError, url: str, not_found_hint: str | None = None) -> CliError:
    """A refusal or failure of the server as one line with what to do about it."""
    if exc.status == 0:
        return CliError(
            f"cannot reach {url}", hint="check the URL, and that `aerostudio serve` runs there"
        )
    if exc.status == 401:
        return CliError(f"{url} refused the token: {exc.message}", hint=TOKEN_HINT)
    if exc.status == 403:
        return CliError(
            f"{url}: {exc.message}", hint="ask an admin of the server for a token with that role"
        )
    if exc.status == 404:
        return CliError(f"{url}: {exc.message}", hint=not_found_hint)
    return CliError(f"{url}: {exc.message} (HTTP {exc.status})")


@contextmanager
def server_errors(url: str, not_found_hint: str | None = RUNS_HINT) -> Iterator[None]:
    from engine.api.client import ApiError

    try:
        yield
    except ApiError as exc:
        raise explain(exc, url, not_found_hint) from None


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


# ---------------------------------------------------------------------------------- deploy


def _urls(base: str, paths: list[str]) -> dict[str, str]:
    """`/api/run/<slug>` and `/hooks/<flow>` as full URLs, named endpoint and webhook."""
    return {
        f"{'webhook' if path.startswith('/hooks/') else 'endpoint'} {path}": base + path
        for path in paths
    }


def _print_refusal(path: Path, exc: ApiError) -> None:
    from engine.cli.flows import issue_at

    issues = (exc.body or {}).get("issues") if isinstance(exc.body, dict) else None
    print(f"aerostudio: the server refused {path}: {exc.message}", file=sys.stderr)
    for issue in issues or []:
        print(f"{path}: {issue_at(issue)}: {issue['severity']} {issue['code']}: {issue['message']}")


async def _deploy(args: argparse.Namespace) -> int:
    from engine.api.client import ApiError, diff_summary
    from engine.flow import FlowLoadError, load, to_document

    try:
        flow = load(args.flow)
    except FlowLoadError as exc:
        raise CliError(str(exc)) from None
    async with connect(args) as client:
        with server_errors(client.base_url, "is it the address of `aerostudio serve`?"):
            try:
                result = await client.deploy(
                    to_document(flow), activate=args.activate, confirm=args.yes
                )
            except ApiError as exc:
                if exc.status not in (409, 422):
                    raise
                _print_refusal(args.flow, exc)
                return 1
            version = result["version"]
            diff = ""
            if result["created"] and version > 1:
                diff = await client.deployment_diff(flow.id, version - 1, version)
    urls = _urls(client.base_url, result.get("endpoints", []))
    if args.json:
        _print_json({**result, "diff": diff, "urls": list(urls.values())})
        return 0
    state = "active" if result["active"] else "not active (--no-activate)"
    if result["created"]:
        print(f"deployed {flow.id} v{version} to {client.base_url}: {state}")
    else:
        print(f"{flow.id} is unchanged: v{version} on {client.base_url} has this content; {state}")
    print(f"  hash      {result['hash'][:16]}")
    if diff:
        print(f"  changes   since v{version - 1}: {diff_summary(diff)}")
    for name, url in urls.items():
        print(f"  {name.split()[0]:<9} {url}")
    if args.diff and diff:
        print(diff, end="")
    return 0


def deploy_flow(args: argparse.Namespace) -> int:
    return asyncio.run(_deploy(args))


# ------------------------------------------------------------------------------ remote runs


async def _list(args: argparse.Namespace) -> int:
    from engine.cli.run_commands import print_runs

    async with connect(args) as client:
        with server_errors(client.base_url):
            rows = await client.runs(args.flow, args.limit)
    if args.json:
        _print_json(rows)
    else:
        print_runs([dict(row) for row in rows])
    return 0


async def _show(args: argparse.Namespace) -> int:
    from engine.cli.run_commands import print_run

    async with connect(args) as client:
        with server_errors(client.base_url):
            detail = await client.run(args.run_id)
    run: dict[str, Any] = {k: detail[k] for k in SHOWN}
    if args.json:
        _print_json(run)
    else:
        print_run(args.run_id, run, run["nodes"])
    return 0


def _answer(args: argparse.Namespace) -> dict[str, Any]:
    if args.code is not None:
        return {"code": args.code}
    if args.fire:
        return {"fire": True}
    return {"decision": args.decision, "reviewer": args.reviewer, "comment": args.comment}


async def _resume(args: argparse.Namespace) -> int:
    from engine.cli.runs import describe

    async with connect(args) as client:
        with server_errors(client.base_url):
            run = await client.run(args.run_id)
            if run["status"] in FINISHED:
                raise CliError(f"run {args.run_id} is already {run['status']}")
            waiting = sorted(
                {r["node_id"] for r in run["nodes"].values() if r["status"] == "paused"}
            )
            if args.node is None and len(waiting) > 1:
                raise UsageError(f"{len(waiting)} nodes wait ({', '.join(waiting)}): give --node")
            node = args.node or (waiting[0] if waiting else None)
            if node not in waiting:
                where = f"at {node}" if node else "for an answer"
                raise CliError(f"run {args.run_id} is not waiting {where}")
            await client.resume(args.run_id, node, **_answer(args))
            async for event in client.events(args.run_id, after=run["last_seq"]):
                line = json.dumps(event, default=str) if args.json else describe(event)
                if line:
                    print(line, flush=True)
                if event["type"] == "run_finished":
                    return 0 if event["status"] == "succeeded" else 1
                if event["type"] == "run_paused" and event["kind"] != "timer":
                    return 0  # waiting for another answer
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    async with connect(args) as client:
        with server_errors(client.base_url):
            await client.cancel(args.run_id)
    if args.json:
        _print_json({"run_id": args.run_id, "cancel_requested": True})
    else:
        print(f"cancel requested for run {args.run_id} on {client.base_url}")
    return 0


def list_remote_runs(args: argparse.Namespace) -> int:
    return asyncio.run(_list(args))


def show_remote_run(args: argparse.Namespace) -> int:
    return asyncio.run(_show(args))


def resume_remote_run(args: argparse.Namespace) -> int:
    return asyncio.run(_resume(args))


def cancel_remote_run(args: argparse.Namespace) -> int:
    return asyncio.run(_cancel(args))
