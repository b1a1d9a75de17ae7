"""Step-debugging a durable run from a process that does not run it: commands are stored for
the run's process, which applies them in order; the run's debug state is in its row for every
process to read. Here the other process is a second, unlaunched runtime on the same SQLite file
(what `aerostudio serve` on another host is on PostgreSQL: tests/run/test_scaleout.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from engine.run.debug import DebugRefused
from engine.run.durable import DurableRuntime
from engine.run.store import RunStore, debug_commands
from engine.store.db import create_engine
from tests.flow.builders import chain, end, set_vars, trigger

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

FIVE = chain(
    trigger("n1"),
    set_vars("n2", a=1),
    set_vars("n3", b="{{ vars.a + 1 }}"),
    set_vars("n4", c="{{ vars.b + 1 }}"),
    end("n5", "{{ vars.c }}"),
)


@pytest.fixture
def url(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    return f"sqlite:///{tmp_path / 'runs.sqlite'}"


def _paused_at(node_id: str, after: int = 0) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == "run_paused" and e["node_id"] == node_id and e["seq"] > after


def _finished(events: list[dict[str, Any]]) -> list[str]:
    return [e["node_id"] for e in events if e["type"] == "node_finished"]


async def _until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    import asyncio

    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)
    return value


async def test_commands_asked_elsewhere_are_applied_in_order_by_the_runs_process(url):
    async with DurableRuntime(url, poll_s=0.02) as owner:
        handle = await owner.start(FIVE, {}, breakpoints=["n2"])
        await handle.events.wait_for(_paused_at("n2"))
        other = DurableRuntime(url)  # not launched: it runs nothing
        assert other.store.run(handle.run_id)["debug"] == {"breakpoints": ["n2"], "waiting": ["n2"]}
        # In this order, n4 holds no breakpoint and n5 does; in another, n4 would.
        for action, node_id in [
            ("set_breakpoint", "n4"),
            ("clear_breakpoint", "n4"),
            ("set_breakpoint", "n5"),
            ("continue", None),
        ]:
            assert await other.debug(handle.run_id, action, node_id) is None  # queued
        paused = await handle.events.wait_for(_paused_at("n5"))
        assert _finished(handle.events.history) == ["n1", "n2", "n3", "n4"]
        assert other.store.run(handle.run_id)["debug"] == {
            "breakpoints": ["n2", "n5"],
            "waiting": ["n5"],
        }
        with other.store.engine.connect() as db:  # applied commands are dropped
            assert db.execute(sa.select(sa.func.count()).select_from(debug_commands)).scalar() == 0

        await other.debug(handle.run_id, "continue")
        assert (await handle.result()).output == 3
        assert paused["kind"] == "breakpoint"
        assert other.store.run(handle.run_id)["debug"] is None  # a finished run waits nowhere
        with pytest.raises(DebugRefused, match="already succeeded") as refused:
            await other.debug(handle.run_id, "continue")
        assert refused.value.reason == "finished"
        other.store.engine.dispose()


async def test_the_runs_process_applies_a_command_at_once_and_publishes_it(url):
    async with DurableRuntime(url, poll_s=0.02) as owner:
        handle = await owner.start(FIVE, {}, breakpoints=["n2"])
        await handle.events.wait_for(_paused_at("n2"))
        debugger = await owner.debug(handle.run_id, "set_breakpoint", "n3")
        assert debugger is handle.debugger
        assert owner.store.run(handle.run_id)["debug"]["breakpoints"] == ["n2", "n3"]
        await owner.debug(handle.run_id, "step")
        await handle.events.wait_for(_paused_at("n3"))
        assert owner.store.run(handle.run_id)["debug"]["waiting"] == ["n3"]
        await owner.debug(handle.run_id, "continue")
        assert (await handle.result()).status == "succeeded"


async def test_bad_commands_are_refused_before_they_are_stored(url):
    async with DurableRuntime(url, poll_s=0.02) as owner:
        handle = await owner.start(FIVE, {}, breakpoints=["n2"])
        await handle.events.wait_for(_paused_at("n2"))
        other = DurableRuntime(url)
        refusals = [
            ("nope", "continue", None, "not_found", "no run 'nope'"),
            (handle.run_id, "jump", None, "bad_request", "unknown debug action 'jump'"),
            (handle.run_id, "set_breakpoint", "n9", "bad_request", "no node 'n9'"),
            (handle.run_id, "clear_breakpoint", None, "bad_request", "no node 'None'"),
        ]
        for run_id, action, node_id, reason, message in refusals:
            with pytest.raises(DebugRefused, match=message) as refused:
                await other.debug(run_id, action, node_id)
            assert refused.value.reason == reason
        assert other.store.requests(handle.run_id).debug == []
        other.store.engine.dispose()
        await owner.debug(handle.run_id, "continue")
        assert (await handle.result()).status == "succeeded"


async def test_with_nothing_asked_the_watcher_makes_one_query_a_poll(url):
    async with DurableRuntime(url, poll_s=0.01) as owner:
        handle = await owner.start(FIVE, {}, breakpoints=["n2"])
        await handle.events.wait_for(_paused_at("n2"))
        stored = lambda: owner.store.events(handle.run_id, handle.events.history[-1]["seq"] - 1)  # noqa: E731
        await _until(stored, "the pause to be written")  # the debug state was, before it
        statements: list[str] = []
        sa.event.listen(
            owner.store.engine, "before_cursor_execute", lambda *a: statements.append(a[2])
        )
        await _until(lambda: len(statements) >= 10, "ten polls")
        assert len(set(statements)) == 1, set(statements)  # the same query each time: no writes
        assert statements[0].lstrip().startswith("SELECT aero_runs.cancel_requested")
        await owner.debug(handle.run_id, "continue")
        assert (await handle.result()).status == "succeeded"


def test_an_older_runs_database_gets_the_debug_column(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    store = RunStore(engine)
    store.create_run("r1", "f", {"nodes": []}, None, {})
    with engine.begin() as db:  # as an older Aerostudio made it
        db.execute(sa.text("DROP TABLE aero_run_debug_commands"))
        db.execute(sa.text("ALTER TABLE aero_runs DROP COLUMN debug"))
    upgraded = RunStore(engine)
    assert upgraded.run("r1")["debug"] is None
    upgraded.publish_debug("r1", {"breakpoints": ["a"], "waiting": []})
    assert upgraded.run("r1")["debug"] == {"breakpoints": ["a"], "waiting": []}
    upgraded.post_debug("r1", "pause", None)
    assert [c.action for c in upgraded.requests("r1").debug] == ["pause"]
    engine.dispose()
