"""The durable workflow's body: (re)run the interpreter over a run's recorded state.

Side-effecting and pausing nodes read their recorded outcomes, pure nodes are recomputed, events
the history has are not emitted again; a run whose end is already committed is not run at all.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.flow import from_document
from engine.run.context import Outcome
from engine.run.interpreter import Interpreter
from engine.run.runtime import RunResult
from engine.run.runtime import execute as runtime_execute
from engine.run.store import FINISHED

if TYPE_CHECKING:
    from engine.run.durable import DurableRuntime

# The version DBOS records with each workflow: a workflow of another version is not replayed
# here. Bump the suffix when the interpreter changes how it replays recorded runs.
APPLICATION_VERSION = f"aerostudio-{__version__}-replay1"


async def execute(runtime: DurableRuntime, run_id: str) -> RunResult:
    """The workflow body: (re)run the interpreter over the run's recorded state."""
    row = await asyncio.to_thread(runtime.store.run, run_id)
    if row is None:
        raise LookupError(f"no run '{run_id}'")
    if row["status"] in FINISHED:
        return finished(runtime, run_id, row)
    flow = runtime.starting.pop(run_id, None) or from_document(row["flow"])
    handle = runtime.handles.get(run_id)
    if handle is None:
        history = await asyncio.to_thread(runtime.store.events, run_id)
        handle = runtime.new_handle(run_id, flow, history, debug=row["debug"])
    if row["cancel_requested"]:  # cancelled while it waited in the queue
        handle.cancel()
    pinned = {
        k: Outcome(v["handle"], v["output"], v["variables"])
        for k, v in row["options"].get("pinned", {}).items()
    }
    interpreter = Interpreter(
        flow,
        run_id,
        events=handle.events,
        services=runtime.services,
        recorder=handle.recorder,
        debugger=handle.debugger,
        pinned=pinned,
        depth=row["options"].get("depth", 0),
        context=row["options"].get("context"),
    )
    runtime.watches.start(run_id, handle)
    try:
        result = await runtime_execute(interpreter, handle, row["options"]["trigger"], row["input"])
        await runtime.watches.finish(run_id, result)
    except BaseException as exc:  # whoever waits for the run must hear of it
        runtime.watches.abandon(run_id)
        if not handle.done.done():
            handle.done.set_exception(exc)
        raise
    # Its events and result are in the store now; whoever asks later reads them there.
    runtime.handles.pop(run_id, None)
    runtime.watches.forget(run_id)
    handle.done.set_result(result)
    return result


def finished(runtime: DurableRuntime, run_id: str, row: dict[str, Any]) -> RunResult:
    """A replay of a run that had finished (killed after its end was committed, before DBOS
    marked its workflow done): its end stands; nothing is emitted or written again."""
    runtime.starting.pop(run_id, None)
    result = RunResult(row["status"], row["output"], row["error"])
    handle = runtime.handles.pop(run_id, None)
    if handle is not None and not handle.done.done():
        handle.done.set_result(result)
    return result
