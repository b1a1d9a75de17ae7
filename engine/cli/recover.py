"""`aerostudio runs recover`: carry on with the runs a crash or a kill interrupted.

Each interrupted run is followed to its end, to a pause that waits for an answer, or to a timer
due more than LATER_S later (see docs/durability.md). Nothing is waited for forever: a run this
process cannot make progress on (another live process or version runs it, it does not start
here, its body fails) is reported and skipped. Exit codes: 0 every run recovered (succeeded, or
left paused), 1 a run ended otherwise, SKIPPED (3) a run was skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

SKIPPED = 3
START_S = 30.0  # how long an interrupted run may take to start executing in this process
LATER_S = 60.0  # a run whose next timer is due later than this is left paused


async def recover(args: argparse.Namespace) -> int:
    from engine.cli.runs import describe, open_runtime

    runtime = open_runtime(args.db)
    try:
        reconciled = await runtime.reconciled()
        codes = []
        for run_id in reconciled.failed:
            print(f"run {run_id}: failed, its workflow had ended without recording the run's end")
            codes.append(1)
        for run_id, why in reconciled.elsewhere.items():
            print(f"run {run_id}: skipped, {why}")
            codes.append(SKIPPED)
        unfinished = await asyncio.to_thread(runtime.store.unfinished_runs)
        interrupted = [r["run_id"] for r in unfinished if r["run_id"] not in reconciled.elsewhere]
        if not interrupted and not codes:
            print("no interrupted runs")
            return 0
        for run_id in interrupted:
            print(f"recovering run {run_id}")
            codes.append(await _recover_run(runtime, run_id, args.json, describe))
        return max(codes)
    finally:
        await runtime.aclose()


async def _recover_run(runtime: Any, run_id: str, as_json: bool, describe: Any) -> int:
    """Follow one run, executing in this process, until it ends or waits for an answer."""
    stored = await asyncio.to_thread(runtime.store.events, run_id)
    seen = stored[-1]["seq"] if stored else 0
    if not await _started_here(runtime, run_id):
        print(
            f"run {run_id}: skipped, it did not start in this process within {START_S:g} s "
            "(another process may be running it)"
        )
        return SKIPPED
    if (failure := _failure(runtime, run_id)) is not None:
        print(f"run {run_id}: skipped, it failed to run here: {failure}")
        return SKIPPED
    waiting = timers = 0  # pauses for an answer; timers set
    async with contextlib.aclosing(runtime.follow(run_id, seen, beat_s=1)) as events:
        async for event in events:
            if event is None and (failure := _failure(runtime, run_id)) is not None:
                print(f"run {run_id}: skipped, it failed to run here: {failure}")
                return SKIPPED
            if event is not None:
                line = json.dumps(event, default=str) if as_json else describe(event)
                if line:
                    print(line, flush=True)
                if event["type"] == "run_finished":
                    return 0 if event["status"] == "succeeded" else 1
                if event["type"] in ("run_paused", "run_resumed"):
                    step = 1 if event["type"] == "run_paused" else -1
                    if event["kind"] == "timer":
                        timers += step
                    else:
                        waiting += step
            if timers > 0 and (due := await _due_later(runtime, run_id)):
                print(
                    f"run {run_id}: waits for a timer due {due}; the first recovery or runtime "
                    "start after that fires it"
                )
                return 0
            if waiting > 0 and await unanswered(runtime, run_id):
                print(f"run {run_id}: waits for an answer (aerostudio runs resume {run_id} ...)")
                return 0
    row = await asyncio.to_thread(runtime.store.run, run_id)
    return 0 if row is not None and row["status"] == "succeeded" else 1


async def _started_here(runtime: Any, run_id: str) -> bool:
    """Whether the run executes in this process (DBOS's recovery starts it shortly after the
    launch), has finished, or has failed to run here, within START_S."""
    from engine.run.store import FINISHED

    deadline = time.monotonic() + START_S
    while run_id not in runtime.handles and run_id not in runtime.failures:
        row = await asyncio.to_thread(runtime.store.run, run_id)
        if row is None or row["status"] in FINISHED:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def unanswered(runtime: Any, run_id: str) -> bool:
    """Whether the paused run waits for an answer nobody has given: none is posted, and, for a
    run of this process, a wait of it found none (and is not taking one now). A run that has
    just taken its answer is about to go on: leaving it then would interrupt it mid-way."""
    handle = runtime.handles.get(run_id)
    idle = getattr(handle.recorder, "idle", None) if handle is not None else None
    if handle is not None and not idle:
        return False
    pending = await asyncio.to_thread(runtime.store.pending_messages, run_id)
    return not pending and (handle is None or bool(idle))


async def _due_later(runtime: Any, run_id: str) -> str | None:
    """When the run's next timer is due, if that is more than LATER_S away (None otherwise):
    recovery does not sit through a long timer."""
    records = await asyncio.to_thread(runtime.store.records, run_id)
    events = await asyncio.to_thread(runtime.store.events, run_id)
    finished = {e["key"] for e in events if e["type"] == "node_finished"}
    dues = [
        float(record.output)
        for key, record in records.items()
        if key.endswith("#timer") and key.removesuffix("#timer") not in finished
    ]
    if not dues or min(dues) - time.time() <= LATER_S:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(min(dues)))


def _failure(runtime: Any, run_id: str) -> str | None:
    """Why the run's body failed in this process, if it did."""
    exc = runtime.failures.get(run_id)
    return None if exc is None else f"{type(exc).__name__}: {exc}"
