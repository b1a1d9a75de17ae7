"""`aerostudio runs list|show|resume|cancel|prune|retention`: the runs in the runs database."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from engine.cli.errors import CliError, UsageError


def register(subparsers: Any) -> None:
    runs = subparsers.add_parser("runs", help="list, inspect, resume and cancel runs")
    runs.add_argument("--db", metavar="URL", help="runs database (default: the data directory)")
    verbs = runs.add_subparsers(dest="verb", metavar="VERB", required=True)

    listing = verbs.add_parser("list", help="recent runs")
    listing.add_argument("--flow", help="only runs of this flow id")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_runs)

    show = verbs.add_parser("show", help="a run's nodes: status, timings, outputs")
    show.add_argument("run_id", metavar="RUN")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_run)

    resume = verbs.add_parser("resume", help="answer a paused run and let it go on")
    resume.add_argument("run_id", metavar="RUN")
    answer = resume.add_mutually_exclusive_group(required=True)
    answer.add_argument("--decision", choices=["approve", "reject"], help="a review's decision")
    answer.add_argument("--code", help="the code an auth gate waits for")
    answer.add_argument("--fire", action="store_true", help="fire a waiting timer now (--node)")
    resume.add_argument("--comment")
    resume.add_argument("--reviewer", default="cli")
    resume.add_argument("--node", help="the paused node, when several wait at once")
    resume.add_argument("--json", action="store_true", help="print events as JSON lines")
    resume.set_defaults(handler=resume_run)

    recover = verbs.add_parser(
        "recover",
        help="go on with runs a crash or a kill interrupted",
        description="Go on with the runs a crash or a kill interrupted, each to its end or to a "
        "pause that waits for an answer; a run this process cannot make progress on is "
        "reported and skipped, never waited for.",
        epilog="Exit status: 0 every run recovered (succeeded, or left paused for an answer or "
        "a timer), 1 a run ended otherwise, 3 a run was skipped (see docs/durability.md).",
    )
    recover.add_argument("--json", action="store_true", help="print events as JSON lines")
    recover.set_defaults(handler=recover_runs)

    cancel = verbs.add_parser("cancel", help="cancel a run")
    cancel.add_argument("run_id", metavar="RUN")
    cancel.set_defaults(handler=cancel_run)

    prune = verbs.add_parser(
        "prune",
        help="delete old finished runs with their events",
        description="Delete finished runs beyond the limits given, or the saved retention's; "
        "running and paused runs are always kept.",
    )
    retention = verbs.add_parser(
        "retention",
        help="show or set how much run data runtimes keep",
        description="With no option, show the retention; runtimes apply it every hour.",
    )
    for verb in (prune, retention):
        verb.add_argument("--keep-days", type=float, metavar="N", help="keep N days of runs")
        verb.add_argument("--keep-runs", type=int, metavar="N", help="keep N runs per flow")
        verb.add_argument("--json", action="store_true")
    retention.add_argument("--off", action="store_true", help="keep every run")
    prune.set_defaults(handler=prune_runs)
    retention.set_defaults(handler=set_retention)


def _store(db: str | None) -> Any:
    from engine.run.durable import default_url
    from engine.run.store import RunStore
    from engine.store.db import create_engine

    return RunStore(create_engine(db or default_url()))


def _run_row(store: Any, run_id: str) -> dict[str, Any]:
    row = store.run(run_id)
    if row is None:
        raise CliError(f"no run '{run_id}'", hint="aerostudio runs list shows the recent ones")
    return dict(row)


def list_runs(args: argparse.Namespace) -> int:
    rows = _store(args.db).list_runs(args.limit, args.flow)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print_runs(rows)
    return 0


def print_runs(rows: list[dict[str, Any]]) -> None:
    """One line per run: id, start, status, time taken, flow (here or on a server)."""
    for row in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created_at"]))
        took = row["updated_at"] - row["created_at"]
        print(f"{row['run_id']}  {started}  {row['status']:<10} {took:8.2f} s  {row['flow_id']}")


def show_run(args: argparse.Namespace) -> int:
    from engine.run.events import node_table

    store = _store(args.db)
    run = _run_row(store, args.run_id)
    table = node_table(store.events(args.run_id))
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": args.run_id,
                    "flow_id": run["flow_id"],
                    "status": run["status"],
                    "output": run["output"],
                    "error": run["error"],
                    "nodes": table,
                },
                indent=2,
                default=str,
            )
        )
        return 0
    print_run(args.run_id, run, table)
    return 0


def print_run(run_id: str, run: dict[str, Any], table: dict[str, dict[str, Any]]) -> None:
    """A run's nodes (status, handle, time, output or error), then its output once over."""
    if run["status"] != "running":
        for row in table.values():
            if row["status"] in ("running", "paused"):
                row["status"] = "interrupted"
    print(f"run {run_id} of {run['flow_id']}: {run['status']}")
    for key, row in table.items():
        took = f"{row['duration_ms']:.1f} ms" if "duration_ms" in row else ""
        detail = row.get("error") or json.dumps(row.get("output"), default=str)[:80]
        print(f"  {key:<28} {row['status']:<10} {row.get('handle', ''):<10} {took:>10}  {detail}")
    if run["status"] != "running":
        print(json.dumps(run["output"], indent=2, default=str))


async def _resume(args: argparse.Namespace) -> int:
    from engine.cli.runs import describe, local_services
    from engine.run.durable import DurableRuntime, RuntimeBusy
    from engine.run.store import FINISHED

    if args.fire and not args.node:
        raise UsageError("--fire needs --node: the node whose timer to fire")
    run = _run_row(_store(args.db), args.run_id)
    if run["status"] in FINISHED:  # its run_finished is stored: following would wait forever
        raise CliError(
            f"run {args.run_id} has already finished ({run['status']}): there is nothing to resume",
            hint=f"aerostudio runs show {args.run_id} shows how it ended",
        )
    runtime = DurableRuntime(args.db, services=local_services())
    seen = len(runtime.store.events(args.run_id))
    message = (
        {"code": args.code}
        if args.code is not None
        else {
            "decision": args.decision or "fire",
            "reviewer": args.reviewer,
            "comment": args.comment,
        }
    )
    runtime.post(args.run_id, message, args.node)
    try:
        runtime.launch()  # recovers the run if no other process is running it
        launched = True
    except RuntimeBusy:
        launched = False
    try:
        return await _follow(runtime, args, seen, describe)
    finally:
        if launched:
            await runtime.aclose()


async def _follow(runtime: Any, args: argparse.Namespace, seen: int, describe: Any) -> int:
    """Print the run's events until it finishes, or waits for an answer nobody has given yet.
    A run whose row is finished ends the follow even without a stored run_finished (a run
    ended by recovery), so this never waits for an event that cannot come."""
    from engine.cli.recover import unanswered
    from engine.run.store import FINISHED

    waiting = 0
    while True:
        if args.run_id in runtime.handles:
            runtime.flush(args.run_id)
        # The status first: a run's last events are committed with its final status.
        status = (runtime.store.run(args.run_id) or {}).get("status")
        for event in runtime.store.events(args.run_id, seen):
            line = json.dumps(event, default=str) if args.json else describe(event)
            if line:
                print(line, flush=True)
            seen = event["seq"]
            if event["type"] == "run_finished":
                return 0 if event["status"] == "succeeded" else 1
            if event["type"] == "run_paused" and event["kind"] != "timer":
                waiting += 1
            elif event["type"] == "run_resumed" and event["kind"] != "timer":
                waiting -= 1
        if status in FINISHED:
            print(f"run {args.run_id} {status}", flush=True)
            return 0 if status == "succeeded" else 1
        if waiting > 0 and await unanswered(runtime, args.run_id):
            return 0
        await asyncio.sleep(0.1)


def recover_runs(args: argparse.Namespace) -> int:
    from engine.cli.recover import recover

    return asyncio.run(recover(args))


def resume_run(args: argparse.Namespace) -> int:
    return asyncio.run(_resume(args))


def cancel_run(args: argparse.Namespace) -> int:
    from engine.run.store import FINISHED

    store = _store(args.db)
    run = _run_row(store, args.run_id)
    if run["status"] in FINISHED:
        raise CliError(f"run {args.run_id} is already {run['status']}")
    store.request_cancel(args.run_id)
    print(
        f"cancel requested for run {args.run_id}: the process running it ends it; a run no "
        "process runs (one `aerostudio run` left paused) ends at the next aerostudio runs recover"
    )
    return 0


def _retention(args: argparse.Namespace) -> Any:
    """The limits given on the command line."""
    from engine.run.retention import Retention

    try:
        return Retention(args.keep_days, args.keep_runs)
    except ValueError as exc:
        raise UsageError(f"--{str(exc).replace('_', '-', 1)}") from None


def _settings(db: str | None) -> Any:
    """The database holding the retention setting: --db's (a server keeps all its data in
    one), else the data directory's gateway database."""
    from engine.gateway import default_url
    from engine.store import create_engine, migrate

    engine = create_engine(db or default_url())
    migrate(engine)
    return engine


def _described(policy: Any) -> str:
    kept = [
        *([f"the last {policy.keep_days:g} days"] if policy.keep_days is not None else []),
        *([f"the newest {policy.keep_runs} per flow"] if policy.keep_runs is not None else []),
    ]
    return " and ".join(kept) if kept else "every run"


def prune_runs(args: argparse.Namespace) -> int:

    from engine.run import retention
    from engine.run.durable import DurableRuntime

    policy = _retention(args)
    if not policy.limited:
        policy = retention.load(_settings(args.db))
    if not policy.limited:
        raise UsageError(
            "no retention to apply",
            hint="give --keep-days or --keep-runs, or save them with aerostudio runs retention",
        )
    runtime = DurableRuntime(args.db)  # not launched: its runs store and DBOS database only
    pruned = runtime.prune(policy)
    if args.json:
        print(json.dumps({"pruned": pruned}))
    else:
        print(f"finished runs pruned: {len(pruned)} (kept: {_described(policy)})")
    return 0


def set_retention(args: argparse.Namespace) -> int:
    from engine.run import retention

    engine = _settings(args.db)
    policy = _retention(args)
    if args.off and policy.limited:
        raise UsageError("--off keeps every run: give it without --keep-days or --keep-runs")
    if args.off or policy.limited:
        retention.save(engine, policy)
    else:
        policy = retention.load(engine)
    if args.json:
        print(json.dumps(policy.to_setting()))
    else:
        print(f"runs kept: {_described(policy)}")
    return 0
