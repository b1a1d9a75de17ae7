"""Recovery across a run's two stores: the run store (the run's row, records, events) and DBOS
(its workflow). They are written in separate commits, so a crash can leave one without the
other; a launching runtime reconciles them (see docs/durability.md):

- a run row with no workflow (killed between the two commits of its creation) is started here,
  unless the process creating it is alive;
- a workflow cancelled or out of recovery attempts, its run unfinished, is resumed;
- a workflow that ended (success or error) without the run's end recorded is beyond replay: the
  run is marked failed, with its `run_finished`, in one transaction;
- pending workflows of this executor are DBOS's own recovery; another live executor's, or another
  version's, are reported, not touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbos import DBOS

from engine.run import faults
from engine.run.locks import executor_alive
from engine.run.replay import APPLICATION_VERSION

if TYPE_CHECKING:
    from engine.run.durable import DurableRuntime

# A row older than this whose creator is unknown (made before rows named it) is stranded.
UNKNOWN_CREATOR_S = 60.0
RESUMABLE = ("CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
ENDED = ("SUCCESS", "ERROR")

log = logging.getLogger(__name__)


@dataclass
class Reconciled:
    """What a launch did about runs left between the two stores."""

    started: list[str] = field(default_factory=list)  # stranded at creation, started here
    resumed: list[str] = field(default_factory=list)  # workflow cancelled or out of attempts
    failed: list[str] = field(default_factory=list)  # workflow ended, run's end never recorded
    elsewhere: dict[str, str] = field(default_factory=dict)  # run id -> why not recovered here


async def reconcile(runtime: DurableRuntime) -> Reconciled:
    """Bring the unfinished runs of the store and their DBOS workflows into agreement."""
    done = Reconciled()
    rows = await asyncio.to_thread(runtime.store.unfinished_runs)
    workflows = await _workflows([row["run_id"] for row in rows])
    for row in rows:
        run_id = row["run_id"]
        if run_id in runtime.creating:
            continue  # this process is starting it
        workflow = workflows.get(run_id)
        if workflow is None:
            why = await _creator_alive(runtime, row)
            if why:
                done.elsewhere[run_id] = why
                continue
            await runtime.begin(run_id)
            faults.point("after_reconcile_start")
            done.started.append(run_id)
        elif workflow.status in RESUMABLE:
            await DBOS.resume_workflow_async(run_id)
            done.resumed.append(run_id)
        elif workflow.status in ENDED:
            if await _fail(runtime, run_id, workflow):
                done.failed.append(run_id)
        elif why := await _not_ours(runtime, workflow):
            done.elsewhere[run_id] = why
    for kind in ("started", "resumed", "failed"):
        if getattr(done, kind):
            log.warning("runs %s on recovery: %s", kind, ", ".join(getattr(done, kind)))
    return done


def log_failure(task: asyncio.Task[Reconciled]) -> None:
    """A launch's reconciling failed (the database away): say so; the next launch tries again."""
    if not task.cancelled() and task.exception() is not None:
        log.error("reconciling runs at launch failed: %s", task.exception())


async def _workflows(run_ids: list[str]) -> dict[str, Any]:
    """DBOS's workflows of these runs, by id (the runs without one are missing)."""
    found: dict[str, Any] = {}
    for start in range(0, len(run_ids), 500):
        batch = run_ids[start : start + 500]
        for workflow in await DBOS.list_workflows_async(workflow_ids=batch, load_input=False):
            found[workflow.workflow_id] = workflow
    return found


async def _creator_alive(runtime: DurableRuntime, row: dict[str, Any]) -> str | None:
    """Why a run with no workflow is not stranded (its creator lives and will start it), or
    None. This executor's own runs are stranded: its last process is dead."""
    creator = row["options"].get("executor")
    if creator is None:
        young = time.time() - row["created_at"] < UNKNOWN_CREATOR_S
        return "just created by an unknown process" if young else None
    if creator == runtime.executor_id:
        return None
    alive = await asyncio.to_thread(executor_alive, runtime.url, creator)
    return f"being started by executor '{creator}'" if alive else None


async def _not_ours(runtime: DurableRuntime, workflow: Any) -> str | None:
    """Why a pending or queued workflow is not this process's to recover, or None."""
    if workflow.app_version != APPLICATION_VERSION:
        return f"started by another Aerostudio version ({workflow.app_version})"
    owner = workflow.executor_id
    if workflow.status != "PENDING" or owner == runtime.executor_id:
        return None
    if await asyncio.to_thread(executor_alive, runtime.url, owner):
        return f"run by executor '{owner}', a live process"
    return f"left by executor '{owner}', which is not running: its restart recovers it"


async def _fail(runtime: DurableRuntime, run_id: str, workflow: Any) -> bool:
    ended = "succeeded" if workflow.status == "SUCCESS" else f"failed ({workflow.error})"
    error = {
        "type": "internal",
        "message": f"the run's workflow {ended} without recording the run's end",
    }
    marked = await asyncio.to_thread(runtime.store.fail_unfinished, run_id, error, time.time())
    if marked:
        faults.point("after_reconcile_fail")
    return bool(marked)
