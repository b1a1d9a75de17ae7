"""`aerostudio run FLOW`: run a flow here, printing its events as they happen."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.cli.errors import CliError, UsageError

PAUSED = 3
"""Exit status of `aerostudio run` when the run waits for an answer standard input cannot give."""


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="run a flow",
        description="Run a flow, printing its events and its output.",
        epilog="Exit status: 0 the run succeeded, 1 it failed or was cancelled, 2 bad arguments, "
        f"{PAUSED} it is paused for an answer standard input cannot give (no terminal: a script, "
        "CI, nohup); it stays paused, and the command to answer it (aerostudio runs resume RUN "
        "...) is printed on standard error.",
    )
    run.add_argument("flow", type=Path, metavar="FLOW", help="a *.flow.json file")
    run.add_argument(
        "--input",
        default="{}",
        metavar="JSON|@FILE",
        help="the trigger's input, as JSON or @file.json (default: {})",
    )
    run.add_argument("--trigger", metavar="NODE", help="the trigger to start from")
    run.add_argument(
        "--break",
        dest="breakpoints",
        action="append",
        default=[],
        metavar="NODE",
        help="pause before NODE (repeatable); asks on the terminal (with none, goes on)",
    )
    run.add_argument(
        "--db",
        metavar="URL",
        help="runs database (default: SQLite in the data directory; postgresql://... for a server)",
    )
    run.add_argument("--json", action="store_true", help="print events as JSON lines")
    run.set_defaults(handler=run_flow)

    from engine.cli import run_commands

    run_commands.register(subparsers)


def _read_input(value: str) -> Any:
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--input {value}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--input is not JSON: {exc.msg} at column {exc.colno}",
            hint='quote it for the shell, e.g. --input \'{"text": "hi"}\'',
        ) from None


def describe(event: dict[str, Any]) -> str:
    """One readable line per event."""
    kind, node = event["type"], event.get("node_id", "")
    if kind == "run_started":
        return f"▶ run {event['run_id'][:8]} of {event['flow_id']} from {event['trigger']}"
    if kind == "node_started":
        attempt = f" (attempt {event['attempt']})" if event.get("attempt", 1) > 1 else ""
        return f"  {node} … {event['node_type']}{attempt}"
    if kind == "node_finished":
        output = json.dumps(event["output"], ensure_ascii=False, default=str)
        short = output if len(output) <= 100 else output[:97] + "..."
        pinned = " (pinned)" if event.get("pinned") else ""
        return f"  {node} → {event['handle']} in {event['duration_ms']:g} ms{pinned}: {short}"
    if kind == "node_failed":
        retry = ", retrying" if event["will_retry"] else ""
        return f"  {node} ✗ {event['error']['message']}{retry}"
    if kind == "node_skipped":
        return f"  {node} skipped"
    if kind == "run_paused":
        return f"⏸ {event['kind']}: {event['prompt']}"
    if kind == "run_resumed":
        return f"⏵ resumed ({event['kind']})"
    if kind == "message":
        to = f"→ {event['platform']} {event['to']}: " if event.get("to") else ""
        return f"💬 {to}{event['text']}"
    if kind == "run_finished":
        return f"■ {event['status']}"
    if kind == "tool_call":
        arguments = json.dumps(event.get("arguments"), ensure_ascii=False, default=str)
        return f"  {node} 🔧 {event['tool']} {arguments[:80]}"
    if kind in ("node_delta", "tool_result"):
        return ""  # the node's output shows the whole text and the tool results
    return f"  {kind} {node}".rstrip()


PROMPTS = {
    "breakpoint": "[s]tep, [c]ontinue? ",
    "approval": "approve? [y/n] ",
    "auth": "code: ",
    "timer": "press Enter to fire the timer now ",
}


def resume_command(run_id: str, kind: str, db: str | None) -> str:
    """The `runs resume` command that answers a pause of this kind."""
    from engine.cli.errors import shown_url

    answer = {"approval": " --decision approve", "auth": " --code CODE"}.get(kind, "")
    where = f" --db '{shown_url(db)}'" if db else ""
    return f"aerostudio runs resume {run_id}{answer}{where}"


def _read_answer() -> str:
    """A line of standard input; EOFError when there is none to read (at its end, closed, or
    not there at all: `<&-`)."""
    if sys.stdin is None or sys.stdin.closed:
        raise EOFError
    try:
        return input()
    except (OSError, RuntimeError, ValueError) as exc:
        raise EOFError from exc


async def _answer_pauses(
    handle: Any, event: dict[str, Any], detached: asyncio.Event, db: str | None
) -> None:
    """Ask on standard input how to go on from a pause. With nothing to read there (a script,
    CI, nohup), a timer just runs its course, a breakpoint goes on, and any other pause is left
    waiting, durably: `detached` tells the command to stop here and say how to answer later."""
    kind = event["kind"]
    print(PROMPTS[kind], end="", file=sys.stderr, flush=True)  # stdout may be JSON lines
    try:
        answer = await asyncio.get_running_loop().run_in_executor(None, _read_answer)
    except EOFError:
        print(file=sys.stderr)
        if kind == "breakpoint":
            handle.debugger.resume()
        elif kind != "timer" and not detached.is_set():
            detached.set()
            print(
                f"aerostudio: run {handle.run_id} is paused ({kind}) and standard input has no "
                f"answer; it stays paused. Answer it with: "
                f"{resume_command(handle.run_id, kind, db)}",
                file=sys.stderr,
            )
        return
    choice = answer.strip().lower()
    if kind == "breakpoint":
        handle.debugger.step() if choice.startswith("s") else handle.debugger.resume()
    elif kind == "approval":
        handle.resume("approve" if choice.startswith("y") else "reject", reviewer="terminal")
    elif kind == "auth":
        handle.resume(None, event["node_id"], code=answer.strip())
    else:
        handle.resume("fire", event["node_id"])


def local_services(folders: Iterable[Path] = (), gateway_url: str | None = None) -> Any:
    """What runs started from this machine use: the workspace gateway (the data directory's
    unless `gateway_url`: tools, and its vault for secrets), flows to delegate to from
    `folders`, the data directory's `flows/` and the examples; mail kept in the data
    directory's `outbox/`."""
    from engine.cli.gateway import gateway_errors
    from engine.gateway import open_gateway
    from engine.paths import data_dir, examples_dir
    from engine.run import Services
    from engine.run.library import FlowLibrary
    from engine.run.mail import Outbox

    with gateway_errors():
        gateway = open_gateway(gateway_url)
    library = FlowLibrary([*folders, data_dir() / "flows", examples_dir()])
    return Services(
        tools=gateway,
        secrets=gateway.vault,
        flows=library,
        mail=Outbox(data_dir() / "outbox"),
    )


def open_runtime(
    db: str | None,
    folders: Iterable[Path] = (),
    *,
    gateway_url: str | None = None,
    executor_id: str = "local",
    workers: int | None = None,
) -> Any:
    """A launched durable runtime, or a clear error when another process holds the database."""
    from engine.run.durable import DurableRuntime, RuntimeBusy

    services = local_services(folders, gateway_url)
    runtime = DurableRuntime(db, services=services, executor_id=executor_id, workers=workers)
    try:
        runtime.launch()
    except RuntimeBusy as exc:
        raise CliError(str(exc), hint="wait for it, stop it, or pass --db") from None
    return runtime


async def _run(args: argparse.Namespace, payload: Any) -> int:
    from engine.flow import FlowLoadError, load
    from engine.run import FlowInvalid

    try:
        flow = load(args.flow)
    except FlowLoadError as exc:
        raise CliError(str(exc)) from None
    pending: list[asyncio.Task[None]] = []
    detached = asyncio.Event()

    def show(event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, default=str) if args.json else describe(event)
        if line:
            print(line, flush=True)
        if event["type"] == "run_paused" and event["kind"] in PROMPTS:
            answer = _answer_pauses(handle, event, detached, args.db)
            pending.append(asyncio.ensure_future(answer))

    runtime = open_runtime(args.db, [args.flow.resolve().parent])
    try:
        try:
            handle = await runtime.start(
                flow, payload, trigger=args.trigger, breakpoints=args.breakpoints
            )
        except FlowInvalid as exc:
            raise CliError(
                f"{args.flow}: {exc}", hint=f"aerostudio validate {args.flow} lists every issue"
            ) from None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if await _until_detached(_show_stored(runtime, handle, show), detached):
            # Closing the runtime stops the run's task here; the run itself stays paused.
            handle.done.add_done_callback(lambda done: done.cancelled() or done.exception())
            return PAUSED
        result = await handle.result()
    finally:
        for task in pending:
            task.cancel()
        await runtime.aclose()
    if not args.json:
        print(json.dumps(result.output, indent=2, ensure_ascii=False, default=str))
        if result.error:
            print(f"error: {result.error['message']}", file=sys.stderr)
    return 0 if result.status == "succeeded" else 1


async def _show_stored(runtime: Any, handle: Any, show: Any) -> None:
    """Show the run's events as the store has written them (as the API streams them), so a
    `seq` printed here is never given to another event after a kill; until the run ends, or its
    body fails (`handle.result()` then raises why)."""
    async with contextlib.aclosing(runtime.follow(handle.run_id, beat_s=1)) as events:
        async for event in events:
            if event is not None:
                show(event)
            elif handle.done.done():
                return


async def _until_detached(showing: Any, detached: asyncio.Event) -> bool:
    """Show the run's events until it ends (False) or a pause is left for later (True)."""
    shown = asyncio.ensure_future(showing)
    left = asyncio.ensure_future(detached.wait())
    await asyncio.wait((shown, left), return_when=asyncio.FIRST_COMPLETED)
    for task in (shown, left):
        task.cancel()
    await asyncio.gather(shown, left, return_exceptions=True)
    if detached.is_set():
        return True
    shown.result()
    return False


def run_flow(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args, _read_input(args.input)))
