"""Crash tests with real processes: `kill -9` a run, restart, the run completes, and finished side
effects are not repeated (counted by a real HTTP recorder on loopback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.flow import save
from engine.run.store import RunStore
from engine.store.db import create_engine
from tests.flow.builders import edge, flow, node, trigger
from tests.run.recorder_server import Recorder

pytestmark = pytest.mark.timeout(120)


def _post(node_id: str, url: str) -> dict:
    return node(
        node_id,
        "action",
        {
            "action": "http_request",
            "http_request": {"method": "POST", "url": url, "body": {"from": node_id}},
        },
    )


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path


def _cli(*args: str, db: str, **kwargs) -> subprocess.Popen:
    """`aerostudio run FLOW --db DB` or `aerostudio runs --db DB VERB ...` in a new process."""
    command = [*args, "--db", db] if args[0] == "run" else ["runs", "--db", db, *args]
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _wait(condition, what: str, timeout: float = 30.0, process: subprocess.Popen | None = None):
    """Poll `condition` until it holds; fail naming `what`, with what `process` (the CLI being
    waited on) said if it ended early or by the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (process is None or process.poll() is None):
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    if process is None:
        raise AssertionError(f"timed out waiting for {what}")
    ended = process.poll()
    if ended is None:
        process.kill()
    _, stderr = process.communicate()
    state = "was still running" if ended is None else f"exited with {ended}"
    raise AssertionError(f"no {what}: the CLI {state}; its stderr ends: {stderr[-3000:]}")


def _only_run(store: RunStore) -> dict:
    (run,) = store.list_runs()
    return store.run(run["run_id"])


def _events(store: RunStore, event_type: str) -> list[dict]:
    (run,) = store.list_runs()
    return [e for e in store.events(run["run_id"]) if e["type"] == event_type]


def _crash_in_flight(recorder: Recorder, home: Path, db: str) -> None:
    path = home / "crash.flow.json"
    nodes = [
        trigger(),
        _post("first", recorder.url + "/a"),
        _post("slow", recorder.url + "/slow"),
        _post("last", recorder.url + "/c"),
    ]
    edges = [edge("start", "first"), edge("first", "slow"), edge("slow", "last")]
    save(flow(nodes, edges), path)
    first = _cli("run", str(path), db=db, stdin=subprocess.PIPE)
    _wait(lambda: recorder.hits["/slow"] == 1, "the slow request to be in flight", process=first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    recorder.release.set()

    store = RunStore(create_engine(db))
    assert _only_run(store)["status"] == "running"
    second = _cli("recover", db=db)
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert _only_run(store)["status"] == "succeeded"
    assert dict(recorder.hits) == {"/a": 1, "/slow": 2, "/c": 1}


def test_kill_during_a_side_effect_then_recover_sqlite(recorder, home):
    _crash_in_flight(recorder, home, f"sqlite:///{home / 'runs.sqlite'}")


def test_kill_while_paused_at_review_then_resume(recorder, home):
    db = f"sqlite:///{home / 'runs.sqlite'}"
    path = home / "review.flow.json"
    nodes = [
        trigger(),
        _post("first", recorder.url + "/a"),
        node("review", "human_review", {"title": "Ship it?"}),
        _post("ship", recorder.url + "/c"),
    ]
    edges = [edge("start", "first"), edge("first", "review"), edge("review", "ship", "approved")]
    save(flow(nodes, edges), path)
    first = _cli("run", str(path), db=db, stdin=subprocess.PIPE)
    store = RunStore(create_engine(db))
    _wait(
        lambda: store.list_runs() and _events(store, "run_paused"),
        "the run to pause",
        process=first,
    )
    os.kill(first.pid, signal.SIGKILL)
    first.wait()

    run_id = _only_run(store)["run_id"]
    second = _cli("resume", run_id, "--decision", "approve", "--comment", "go", db=db)
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    run = _only_run(store)
    assert run["status"] == "succeeded"
    assert run["output"]["json"] == {"path": "/c"}
    assert dict(recorder.hits) == {"/a": 1, "/c": 1}
    review = [
        e for e in store.events(run_id) if e["type"] == "node_finished" and e["node_id"] == "review"
    ]
    assert [e["output"]["comment"] for e in review] == ["go"]
    # The resumed process replayed the run: what the history had is not told twice.
    events = store.events(run_id)
    finished = [e["node_id"] for e in events if e["type"] == "node_finished"]
    assert len(finished) == len(set(finished))
    assert [e["type"] for e in events].count("run_started") == 1
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_a_durable_timer_set_before_the_kill_still_fires(recorder, home):
    db = f"sqlite:///{home / 'runs.sqlite'}"
    path = home / "timer.flow.json"
    nodes = [
        trigger(),
        _post("first", recorder.url + "/a"),
        node("later", "schedule_message", {"text": "reminder", "delay_s": 8}),
    ]
    save(flow(nodes, [edge("start", "first"), edge("first", "later")]), path)
    first = _cli("run", str(path), db=db, stdin=subprocess.PIPE)
    store = RunStore(create_engine(db))
    _wait(
        lambda: store.list_runs() and _events(store, "run_paused"),
        "the timer to be set",
        process=first,
    )
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    run_id = _only_run(store)["run_id"]
    due = store.records(run_id)["later#timer"].output
    _wait(lambda: time.time() > due, "the timer's due time to pass")

    restarted = time.time()
    second = _cli("recover", db=db)
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    (message,) = _events(store, "message")
    assert message["text"] == "reminder"
    # Due already: it fires as soon as the run is recovered (a process start), not the full 8 s
    # after the restart.
    assert message["ts"] - restarted < 6
    assert dict(recorder.hits) == {"/a": 1}


def test_two_executors_never_both_commit_a_node(home):
    from engine.run.store import Record

    store = RunStore(create_engine(f"sqlite:///{home / 'runs.sqlite'}"))
    store.create_run("r1", "f", {}, {}, {})
    mine = store.commit_record("r1", "call", Record("call", "out", {"by": "a"}, {}, 1.0))
    theirs = store.commit_record("r1", "call", Record("call", "out", {"by": "b"}, {}, 1.0))
    assert mine.output == theirs.output == {"by": "a"}
    assert json.dumps(store.records("r1")["call"].output) == '{"by": "a"}'


def test_kill_during_a_side_effect_then_recover_postgresql(recorder, home, postgres_url):
    _crash_in_flight(recorder, home, postgres_url)


async def _run_twice(home, recorder):
    from engine.run.durable import DurableRuntime

    nodes = [trigger(), _post("first", recorder.url + "/a"), _post("second", recorder.url + "/c")]
    runnable = flow(nodes, [edge("start", "first"), edge("first", "second")])
    async with DurableRuntime(f"sqlite:///{home / 'runs.sqlite'}") as runtime:
        earlier = await runtime.start(runnable, {"n": 1})
        await earlier.result()
        pins = runtime.pins_from_run(earlier.run_id, runnable, "second")
        again = await runtime.start(runnable, {"n": 1}, pinned=pins)
        return await again.result(), again, sorted(pins)


@pytest.mark.anyio
async def test_run_from_a_node_reuses_the_outputs_before_it(home, recorder):
    result, again, pinned = await _run_twice(home, recorder)
    assert pinned == ["first", "start"]
    assert result.output["json"] == {"path": "/c"}
    assert dict(recorder.hits) == {"/a": 1, "/c": 2}
    started = [e["node_id"] for e in again.events.history if e["type"] == "node_started"]
    assert started == ["second"]


@pytest.mark.anyio
async def test_a_cancel_asked_from_another_process_stops_the_run(home):
    from engine.run.durable import DurableRuntime

    url = f"sqlite:///{home / 'runs.sqlite'}"
    paused = flow(
        [trigger(), node("review", "human_review", {"title": "Wait"})], [edge("start", "review")]
    )
    async with DurableRuntime(url) as runtime:
        handle = await runtime.start(paused, {})
        await handle.events.wait_for(lambda e: e["type"] == "run_paused")
        RunStore(create_engine(url)).request_cancel(handle.run_id)  # as `runs cancel` does
        assert (await handle.result()).status == "cancelled"
    assert RunStore(create_engine(url)).run(handle.run_id)["status"] == "cancelled"


def test_plain_postgresql_urls_use_psycopg_3():
    from engine.store.db import normalize_url

    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.sqlite") == "sqlite:///x.sqlite"


def test_agent_turns_and_tool_calls_are_not_repeated_after_a_kill(home):
    import sqlite3

    from engine.gateway import open_gateway
    from engine.paths import resources_dir

    demo_db = home / "home" / "demo" / "demo.sqlite"
    tickets = {
        "command": sys.executable,
        "args": [str(resources_dir() / "servers" / "tickets.py")],
        "env": {"AEROSTUDIO_DEMO_DB": str(demo_db)},  # servers get nothing of our environment
    }
    gateway = open_gateway()  # the data directory's, as the CLI processes below use
    gateway.workspaces.create("ops")
    gateway.workspaces.add_server("ops", "tickets", tickets)
    script = [
        {
            "match": "Tidy up",
            "tool_calls": [
                {
                    "name": "tickets__create_ticket",
                    "arguments": {"title": "agent crash test", "description": "made by the agent"},
                }
            ],
        },
        {
            "match": "/./",
            "after_tool": "tickets__create_ticket",
            "tool_calls": [
                {
                    "name": "tickets__close_ticket",
                    "arguments": {"ticket_id": 1001, "resolution": "done"},
                }
            ],
        },
        {"match": "/./", "after_tool": "tickets__close_ticket", "text": "All tidy."},
    ]
    path = home / "agent.flow.json"
    agent = node("agent", "agent_loop", {"goal": "Tidy up the tickets"})
    save(
        flow(
            [trigger(), agent],
            [edge("start", "agent")],
            workspace="ops",
            settings={"llm": {"provider": "demo", "demo_rules": script}},
        ),
        path,
    )
    db = f"sqlite:///{home / 'runs.sqlite'}"
    first = _cli("run", str(path), db=db, stdin=subprocess.PIPE)
    store = RunStore(create_engine(db))
    _wait(
        lambda: store.list_runs() and _events(store, "run_paused"),
        "the approval pause",
        process=first,
    )
    os.kill(first.pid, signal.SIGKILL)
    first.wait()

    run_id = _only_run(store)["run_id"]
    second = _cli("resume", run_id, "--decision", "approve", db=db)
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    run = _only_run(store)
    assert run["output"]["text"] == "All tidy."
    with sqlite3.connect(demo_db) as conn:
        made = conn.execute(
            "SELECT count(*) FROM tickets WHERE title = ?", ("agent crash test",)
        ).fetchone()[0]
    assert made == 1
    calls = [e["tool"] for e in store.events(run_id) if e["type"] == "tool_call"]
    assert calls == ["tickets__create_ticket", "tickets__close_ticket"]
    assert sorted(k for k in store.records(run_id) if "#turn" in k) == [
        "agent#turn1",
        "agent#turn2",
        "agent#turn3",
    ]


def test_a_delegated_run_is_found_again_after_a_kill_not_started_twice(recorder, home):
    """The parent is killed while its child waits for a review: the child is answered, then the
    parent recovers, finds the same child by its id and returns its output."""
    from engine.run.runtime import child_run_id

    child = flow(
        [
            trigger(),
            node("review", "human_review", {"title": "Send it?"}),
            _post("deliver", recorder.url + "/delivered"),
        ],
        [edge("start", "review"), edge("review", "deliver", "approved")],
        id="helper",
    )
    parent = flow(
        [trigger(), node("ask", "delegate_to_bot", {"target": "helper", "input": {"n": 1}})],
        [edge("start", "ask")],
        id="front",
    )
    save(child, home / "helper.flow.json")
    save(parent, home / "front.flow.json")
    db = f"sqlite:///{home / 'runs.sqlite'}"
    first = _cli("run", str(home / "front.flow.json"), db=db, stdin=subprocess.PIPE)
    store = RunStore(create_engine(db))

    def paused_child():
        runs = {r["flow_id"]: r["run_id"] for r in store.list_runs()}
        if "helper" in runs and any(
            e["type"] == "run_paused" for e in store.events(runs["helper"])
        ):
            return runs
        return None

    runs = _wait(paused_child, "the delegated run to pause")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert runs["helper"] == child_run_id(runs["front"], "ask")

    answered = _cli("resume", runs["helper"], "--decision", "approve", db=db)
    _out, err = answered.communicate(timeout=60)
    assert answered.returncode == 0, err
    recovered = _cli("recover", db=db)
    _out, err = recovered.communicate(timeout=60)
    assert recovered.returncode == 0, err

    assert sorted(r["flow_id"] for r in store.list_runs()) == ["front", "helper"]
    front = store.run(runs["front"])
    assert front["status"] == "succeeded", front["error"]
    assert front["output"]["status"] == 200
    assert dict(recorder.hits) == {"/delivered": 1}


@pytest.mark.anyio
async def test_run_finished_is_written_only_with_the_runs_status(home):
    """A follower's flush or a batch never writes run_finished ahead of the status: only the
    run's closing transaction does, with the status (`runs recover` once exited on a stored
    run_finished while the run still read running)."""
    from functools import partial

    from engine.run.event_writer import EventWriter

    store = RunStore(create_engine(f"sqlite:///{home / 'runs.sqlite'}"))
    store.create_run("r1", "f", {}, {}, {})
    writer = EventWriter(store, "r1", written=0)
    writer.add({"type": "run_started", "run_id": "r1", "seq": 1})
    writer.add({"type": "run_finished", "run_id": "r1", "seq": 2, "status": "succeeded"})
    writer.write_now()
    await writer.write()
    assert [e["type"] for e in store.events("r1")] == ["run_started"]
    assert (writer.written, store.run("r1")["status"]) == (1, "running")
    await writer.write(partial(store.finish_run, "r1", "succeeded", {"ok": 1}, None))
    assert [e["type"] for e in store.events("r1")] == ["run_started", "run_finished"]
    assert (writer.written, store.run("r1")["status"]) == (2, "succeeded")
