"""Run data retention on a real durable runtime: keep N runs per flow or N days, with the runs'
events, node records and DBOS workflows going with them; paused runs, and the finished children
of waiting parents, never go."""

from __future__ import annotations

import asyncio
import json
import math
import time

import pytest
from dbos import DBOS

from engine.api.deployments import Deployments
from engine.api.schedules import Scheduler
from engine.cli import main
from engine.flow import to_document
from engine.run import retention
from engine.run.durable import DurableRuntime
from engine.run.retention import Retention
from engine.run.store import runs
from engine.store import create_engine, migrate
from tests.flow.builders import edge, end, flow, node, set_vars, trigger

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
DAY = 86400


def quick(flow_id: str):
    nodes = [trigger(), set_vars("note", seen="{{ input.n }}"), end("done", "{{ vars.seen }}")]
    return flow(nodes, [edge("start", "note"), edge("note", "done")], id=flow_id)


def failing(flow_id: str):
    stop = node("stop", "action", {"action": "end", "end": {"output": "no", "status": "failed"}})
    return flow([trigger(), stop], [edge("start", "stop")], id=flow_id)


REVIEW = flow(
    [trigger(), node("review", "human_review", {"title": "Ship?"}), end("yes", "shipped")],
    [edge("start", "review"), edge("review", "yes", "approved")],
    id="a",
)


@pytest.fixture
async def runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    async with DurableRuntime(f"sqlite:///{tmp_path / 'runs.sqlite'}", poll_s=0.02) as runtime:
        yield runtime


async def finished_run(runtime: DurableRuntime, made, days_old: float) -> str:
    handle = await runtime.start(made, {"n": days_old})
    await handle.result()
    age(runtime, handle.run_id, days_old)
    return handle.run_id


async def paused_run(runtime: DurableRuntime, days_old: float) -> str:
    handle = await runtime.start(REVIEW, {})
    deadline = time.monotonic() + 20
    while not any(e["type"] == "run_paused" for e in runtime.store.events(handle.run_id)):
        assert time.monotonic() < deadline, "the review did not pause"
        await asyncio.sleep(0.02)
    age(runtime, handle.run_id, days_old)
    return handle.run_id


def age(runtime: DurableRuntime, run_id: str, days: float) -> None:
    """Make a run look started and finished `days` ago."""
    then = time.time() - days * DAY
    with runtime.store.engine.begin() as db:
        db.execute(
            runs.update().where(runs.c.run_id == run_id).values(created_at=then, updated_at=then)
        )


def gone(runtime: DurableRuntime, run_id: str) -> bool:
    store = runtime.store
    return store.run(run_id) is None and not store.events(run_id) and not store.records(run_id)


def intact(runtime: DurableRuntime, run_id: str) -> bool:
    store = runtime.store
    return store.run(run_id) is not None and bool(store.events(run_id))


async def workflow_exists(run_id: str) -> bool:
    return await DBOS.get_workflow_status_async(run_id) is not None


def prune(runtime: DurableRuntime, policy: Retention) -> list[str]:
    return runtime.prune(policy)


async def test_keep_runs_keeps_each_flow_s_newest_finished_runs_and_every_paused_one(runtime):
    waiting = await paused_run(runtime, 10)
    a = [await finished_run(runtime, quick("a"), days) for days in (5, 4, 3, 2)]
    a.append(await finished_run(runtime, failing("a"), 1))
    b = [await finished_run(runtime, quick("b"), days) for days in (9, 8)]
    assert all([await workflow_exists(r) for r in a])

    pruned = await asyncio.to_thread(prune, runtime, Retention(keep_runs=2))

    assert pruned == a[:3]  # oldest first
    assert all(gone(runtime, r) for r in a[:3])
    assert not any([await workflow_exists(r) for r in a[:3]])
    assert all(intact(runtime, r) for r in [*a[3:], *b, waiting])
    assert all([await workflow_exists(r) for r in [*a[3:], *b]])
    runtime.post(waiting, {"decision": "approve", "reviewer": "test"})  # still answerable
    assert (await runtime.handles[waiting].result()).output == "shipped"


async def test_keep_days_prunes_runs_finished_before_the_cutoff(runtime):
    waiting = await paused_run(runtime, 30)
    old = [await finished_run(runtime, quick("a"), days) for days in (3, 1.5)]
    recent = [await finished_run(runtime, quick("a"), days) for days in (0.9, 0)]
    pruned = await asyncio.to_thread(prune, runtime, Retention(keep_days=1))
    assert pruned == old
    assert all(gone(runtime, r) for r in old)
    assert all(intact(runtime, r) for r in [*recent, waiting])


async def test_with_both_limits_either_one_prunes(runtime):
    made = [await finished_run(runtime, quick("a"), days) for days in (5, 1, 0.5, 0.2)]
    pruned = await asyncio.to_thread(prune, runtime, Retention(keep_days=3, keep_runs=2))
    assert pruned == made[:2]
    assert await asyncio.to_thread(prune, runtime, Retention(keep_days=3, keep_runs=2)) == []


async def test_a_finished_child_of_a_waiting_parent_is_kept_until_the_parent_ends(runtime):
    parent = await paused_run(runtime, 0)
    child = "child-of-" + parent
    store = runtime.store
    options = {"trigger": "start", "pinned": {}, "depth": 1, "context": None, "parent": parent}
    store.create_run(child, "b", to_document(quick("b")), {}, options)
    store.finish_run(child, "succeeded", "done", None)
    age(runtime, child, 10)
    assert await asyncio.to_thread(prune, runtime, Retention(keep_days=1)) == []
    runtime.post(parent, {"decision": "approve", "reviewer": "test"})
    await runtime.handles[parent].result()
    assert await asyncio.to_thread(prune, runtime, Retention(keep_days=1)) == [child]


def test_the_saved_policy_round_trips_and_bad_values_are_named(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}")
    migrate(engine)
    assert retention.load(engine) == Retention()
    retention.save(engine, Retention(keep_days=30, keep_runs=500))
    assert retention.load(engine) == Retention(30, 500)
    retention.save(engine, Retention())
    assert retention.load(engine) == Retention()
    with pytest.raises(ValueError, match=r"run_retention\.keep_days: a finite number of days"):
        Retention.from_setting({"keep_days": -1})
    for days in (math.nan, math.inf):  # NaN fits no JSON column; infinity is no limit at all
        with pytest.raises(ValueError, match="keep_days: a finite number of days above 0"):
            Retention(keep_days=days)
    with pytest.raises(ValueError, match="keep_runs: at most 2147483647 runs per flow"):
        Retention(keep_runs=2**70)  # no database's integer holds it: every prune would fail
    with pytest.raises(ValueError, match=r"run_retention\.keep_runs: a whole number of runs"):
        Retention.from_setting({"keep_runs": 1.5})
    with pytest.raises(ValueError, match="run_retention: an object with keep_days"):
        Retention.from_setting({"keep": 3})


async def test_a_runtime_applies_the_saved_policy_on_its_own(runtime, tmp_path):
    deployments = Deployments(create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}"))
    migrate(deployments.engine)
    retention.save(deployments.engine, Retention(keep_runs=1))
    made = [await finished_run(runtime, quick("a"), days) for days in (3, 2, 1)]
    async with Scheduler(deployments, runtime).running():
        deadline = time.monotonic() + 20
        while runtime.store.run(made[0]) or runtime.store.run(made[1]):
            assert time.monotonic() < deadline, "the runtime did not prune"
            await asyncio.sleep(0.05)
    assert intact(runtime, made[2])


async def test_runs_prune_and_retention_commands(runtime, capsys):
    db = runtime.url
    made = [await finished_run(runtime, quick("a"), days) for days in (3, 2, 1)]

    assert main(["runs", "--db", db, "prune"]) == 2
    assert "no retention to apply" in capsys.readouterr().err
    assert main(["runs", "--db", db, "prune", "--keep-days", "0"]) == 2
    assert "--keep-days: a finite number of days above 0" in capsys.readouterr().err

    assert main(["runs", "--db", db, "retention", "--keep-runs", "2", "--keep-days", "30"]) == 0
    assert (
        capsys.readouterr().out.strip() == "runs kept: the last 30 days and the newest 2 per flow"
    )
    assert main(["runs", "--db", db, "retention", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"keep_days": 30, "keep_runs": 2}

    assert await asyncio.to_thread(main, ["runs", "--db", db, "prune", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"pruned": made[:1]}
    assert not await workflow_exists(made[0])
    code = await asyncio.to_thread(main, ["runs", "--db", db, "prune", "--keep-runs", "1"])
    assert code == 0
    assert (
        capsys.readouterr().out.strip() == "finished runs pruned: 1 (kept: the newest 1 per flow)"
    )
    assert [r["run_id"] for r in runtime.store.list_runs(10, "a")] == [made[2]]

    assert main(["runs", "--db", db, "retention", "--off"]) == 0
    assert capsys.readouterr().out.strip() == "runs kept: every run"
