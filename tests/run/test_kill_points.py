"""A kill at each named place between two commits (engine.run.faults), on SQLite and PostgreSQL:
afterwards `runs recover` (and `runs resume`, for a run left waiting for its review) finishes the
run exactly once: one run_started, one run_finished, gapless seq, the right output, no side effect
sent again after its outcome was recorded, and what `run --json` printed is what the store has."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.flow import save
from engine.run.store import RunStore
from engine.store.db import create_engine
from tests.flow.builders import edge, flow, node, trigger
from tests.run.recorder_server import Recorder
from tests.run.test_durability import _cli, _post

pytestmark = pytest.mark.timeout(120)

# The point, and the side effects it may repeat: a request in flight at the kill (its outcome
# not yet recorded) is sent again, as documented; any other repeat is a failure.
POINTS = [
    ("after_run_row", {}),
    ("after_workflow_start", {}),
    ("before_node_record", {"/a": 2}),  # the first record: the first request's outcome
    ("after_node_record", {}),
    ("after_pause_written", {}),
    ("after_message_taken", {}),
    ("after_node_record:2", {}),  # the review's decision recorded
    ("before_run_finished", {}),
    ("after_run_finished", {}),
]


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, home) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{home / 'runs.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


def review_flow(home: Path, recorder: Recorder) -> Path:
    """A request, a review (answered on the terminal), a request: its output is the last's."""
    path = home / "review.flow.json"
    nodes = [
        trigger(),
        _post("first", recorder.url + "/a"),
        node("review", "human_review", {"title": "Ship it?"}),
        _post("last", recorder.url + "/c"),
    ]
    edges = [edge("start", "first"), edge("first", "review"), edge("review", "last", "approved")]
    save(flow(nodes, edges), path)
    return path


def straight_flow(home: Path, recorder: Recorder) -> Path:
    """Two requests in a row: its output is the second's."""
    path = home / "straight.flow.json"
    nodes = [trigger(), _post("first", recorder.url + "/a"), _post("last", recorder.url + "/c")]
    save(flow(nodes, [edge("start", "first"), edge("first", "last")]), path)
    return path


def killed_run(path: Path, db: str, fault: str) -> list[dict]:
    """`aerostudio run --json` (its review approved on stdin), killed at `fault`; the events it
    printed."""
    import os

    env = {**os.environ, "AEROSTUDIO_FAULT": fault}
    process = _cli("run", str(path), "--json", db=db, stdin=subprocess.PIPE, env=env)
    out, err = process.communicate("y\n", timeout=60)
    assert process.returncode == -signal.SIGKILL, f"{fault} not reached: {err[-2000:]}"
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def cli(*args: str, db: str, fault: str | None = None) -> tuple[int, str]:
    import os

    env = {**os.environ, **({"AEROSTUDIO_FAULT": fault} if fault else {})}
    process = _cli(*args, db=db, env=env)
    out, err = process.communicate(timeout=60)
    return process.returncode, out + err


def approve(store: RunStore) -> None:
    """Answer the run's review beforehand, unless a message was posted already (the killed
    process may have taken it)."""
    (row,) = store.list_runs()
    with store.engine.connect() as connection:
        messages = connection.execute(
            sa.text("SELECT count(*) FROM aero_run_messages WHERE run_id = :id"),
            {"id": row["run_id"]},
        ).scalar()
    if row["status"] == "running" and not messages:
        approval = {"decision": "approve", "reviewer": "test", "comment": None}
        store.post_message(row["run_id"], approval)


def finish(store: RunStore, db: str) -> None:
    """`runs recover`, the review approved beforehand (then `runs resume`, should the run still
    wait)."""
    approve(store)
    code, said = cli("recover", db=db)
    assert code == 0, said
    (row,) = store.list_runs()
    if row["status"] == "running":
        assert "waits for an answer" in said, said
        code, said = cli("resume", row["run_id"], "--decision", "approve", db=db)
        assert code == 0, said


def assert_once(store: RunStore, recorder: Recorder, repeats: dict[str, int]) -> list[dict]:
    (row,) = store.list_runs()
    run = store.run(row["run_id"])
    assert run["status"] == "succeeded", run["error"]
    assert run["output"]["json"] == {"path": "/c"}
    events = store.events(row["run_id"])
    types = [e["type"] for e in events]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert types.count("run_started") == 1 and types[0] == "run_started"
    assert types.count("run_finished") == 1 and types[-1] == "run_finished"
    assert events[-1]["status"] == "succeeded"
    keys = [e["key"] for e in events if e["type"] == "node_finished"]
    assert len(keys) == len(set(keys))
    for path in ("/a", "/c"):
        assert 1 <= recorder.hits[path] <= repeats.get(path, 1), dict(recorder.hits)
    return events


@pytest.mark.parametrize(("fault", "repeats"), POINTS, ids=[p for p, _ in POINTS])
def test_a_kill_at_each_point_leaves_a_run_recovery_finishes_once(
    fault, repeats, db, home, recorder
):
    printed = killed_run(review_flow(home, recorder), db, fault)
    store = RunStore(create_engine(db))
    finish(store, db)
    events = assert_once(store, recorder, repeats)
    # What the killed CLI printed, the store has, under the same numbers.
    assert printed == events[: len(printed)]


@pytest.mark.parametrize(
    "fault", ["after_reconcile_start", "after_message_taken", "after_run_finished"]
)
def test_a_kill_during_recovery_leaves_a_run_the_next_finishes_once(fault, db, home, recorder):
    """Recovery's own writes: it starts a stranded run, which takes its answer and finishes;
    killed at each of these, the next recovery finishes the run once."""
    assert killed_run(review_flow(home, recorder), db, "after_run_row") == []
    store = RunStore(create_engine(db))
    approve(store)
    code, said = cli("recover", db=db, fault=fault)
    assert code == -signal.SIGKILL, said
    finish(store, db)
    assert_once(store, recorder, {})


def _workflow_status(db: str, run_id: str) -> str | None:
    url = db if db.startswith("postgresql") else db.replace("runs.sqlite", "runs-dbos.sqlite")
    table = "dbos.workflow_status" if db.startswith("postgresql") else "workflow_status"
    engine = create_engine(url)
    with engine.connect() as connection:
        status = connection.execute(
            sa.text(f"SELECT status FROM {table} WHERE workflow_uuid = :id"), {"id": run_id}
        ).scalar()
    engine.dispose()
    return status


@pytest.mark.anyio
async def test_a_finished_run_replayed_is_left_as_it_was(db, home, recorder):
    """Killed after its end was committed, before DBOS marked its workflow done: the next
    process replays the workflow, which adds no event and does not rewrite the run."""
    from engine.run.durable import DurableRuntime

    path = review_flow(home, recorder)
    killed_run(path, db, "after_run_finished")
    store = RunStore(create_engine(db))
    (row,) = store.list_runs()
    before = (store.run(row["run_id"]), store.events(row["run_id"]))
    assert _workflow_status(db, row["run_id"]) == "PENDING"
    async with DurableRuntime(db, poll_s=0.02):
        deadline = time.monotonic() + 30
        while _workflow_status(db, row["run_id"]) != "SUCCESS":
            assert time.monotonic() < deadline, "the replay did not end"
            await asyncio.sleep(0.05)
    assert (store.run(row["run_id"]), store.events(row["run_id"])) == before
    assert dict(recorder.hits) == {"/a": 1, "/c": 1}


def test_recover_skips_a_run_it_cannot_run_and_the_next_marks_it_failed(db, home, recorder):
    """A stranded run whose flow no longer loads: recover reports it and exits 3 at once (it
    does not wait for it); the next recover finds its workflow ended in error and marks the run
    failed, with one run_finished (killed right after that write, it is not written twice)."""
    killed_run(review_flow(home, recorder), db, "after_run_row")
    engine = create_engine(db)
    with engine.begin() as connection:
        connection.execute(sa.text('UPDATE aero_runs SET flow = \'{"format": "nonsense"}\''))
    started = time.monotonic()
    code, said = cli("recover", db=db)
    assert code == 3 and "skipped, it failed to run here" in said, said
    assert time.monotonic() - started < 20
    code, said = cli("recover", db=db, fault="after_reconcile_fail")
    assert code == -signal.SIGKILL, said
    code, said = cli("recover", db=db)
    assert (code, said.strip()) == (0, "no interrupted runs")
    store = RunStore(engine)
    (row,) = store.list_runs()
    assert store.run(row["run_id"])["status"] == "failed"
    assert [e["type"] for e in store.events(row["run_id"])] == ["run_finished"]
    assert dict(recorder.hits) == {}


def test_recover_leaves_a_run_a_live_executor_is_creating_then_takes_it_when_gone(
    postgres_url, home, recorder
):
    from engine.flow import load, to_document
    from engine.run.locks import RuntimeLock

    flow_path = review_flow(home, recorder)
    store = RunStore(create_engine(postgres_url))
    options = {"trigger": "start", "executor": "ghost"}
    store.create_run("r1", "test", to_document(load(flow_path)), {}, options)
    ghost = RuntimeLock(postgres_url, "ghost")
    ghost.acquire()
    try:
        code, said = cli("recover", db=postgres_url)
        assert code == 3 and "run r1: skipped, being started by executor 'ghost'" in said, said
        assert store.run("r1")["status"] == "running"
    finally:
        ghost.release()
    finish(store, postgres_url)
    assert_once(store, recorder, {})


def test_a_restarted_server_runs_a_run_stranded_at_its_creation(home, recorder):
    """`aerostudio serve` on the database after the kill starts the stranded run itself."""
    from tests.run.test_scaleout import Serve

    db = f"sqlite:///{home / 'runs.sqlite'}"
    assert killed_run(straight_flow(home, recorder), db, "after_run_row") == []
    server = Serve(home / "home", db, "local")
    try:
        server.ready()
        store = RunStore(create_engine(db))
        deadline = time.monotonic() + 30
        while store.list_runs()[0]["status"] == "running":
            assert time.monotonic() < deadline, "the stranded run did not finish"
            time.sleep(0.05)
    finally:
        server.stop()
    assert_once(store, recorder, {})


@pytest.mark.parametrize("fault", ["after_run_row", "after_workflow_start"])
def test_a_run_queued_on_postgresql_killed_at_its_creation_runs_once(
    fault, postgres_url, home, recorder
):
    """`submit` (endpoints, webhooks, delegated runs) puts the run on the runs queue after its
    row: killed on either side of that, the run is recovered and runs once."""
    import os
    import sys

    command = ["-m", "tests.run.chaos_driver", postgres_url, str(straight_flow(home, recorder))]
    driver = subprocess.run(
        [sys.executable, *command, "0", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AEROSTUDIO_FAULT": fault},
    )
    assert driver.returncode == -signal.SIGKILL, driver.stderr[-2000:]
    store = RunStore(create_engine(postgres_url))
    assert store.run("chaos0000")["status"] == "running"
    code, said = cli("recover", db=postgres_url)
    assert code == 0, said
    assert_once(store, recorder, {})


@pytest.mark.anyio
async def test_recover_reports_a_run_of_another_executor_at_once(postgres_url, home, recorder):
    """A run of executor A, alive or gone: `runs recover` (executor local) says whose it is and
    exits 3 at once, instead of waiting for a run it cannot run."""
    from engine.flow import load
    from engine.run.durable import DurableRuntime

    runtime = DurableRuntime(postgres_url, executor_id="A", poll_s=0.02)
    runtime.launch()
    try:
        handle = await runtime.start(load(review_flow(home, recorder)), {})
        await handle.events.wait_for(lambda e: e["type"] == "run_paused")
        started = time.monotonic()
        code, said = await asyncio.to_thread(cli, "recover", db=postgres_url)
        assert code == 3 and "run by executor 'A', a live process" in said, said
        assert time.monotonic() - started < 20
    finally:
        await runtime.aclose()
    code, said = cli("recover", db=postgres_url)
    assert code == 3 and "left by executor 'A', which is not running" in said, said


def test_run_json_prints_the_stored_events(home, recorder):
    """`aerostudio run --json` prints the run's events as the store has them, every one, with
    the store's numbers (as the API streams them)."""
    db = f"sqlite:///{home / 'runs.sqlite'}"
    process = _cli("run", str(straight_flow(home, recorder)), "--json", db=db)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    store = RunStore(create_engine(db))
    (row,) = store.list_runs()
    assert [json.loads(line) for line in out.splitlines()] == store.events(row["run_id"])


def test_recover_does_not_sit_through_a_long_timer(home, recorder):
    """A run killed while its hour-long timer runs: recover says when it is due and leaves it
    paused, at once."""
    path = home / "later.flow.json"
    nodes = [
        trigger(),
        _post("first", recorder.url + "/a"),
        node("later", "schedule_message", {"text": "reminder", "delay_s": 3600}),
    ]
    save(flow(nodes, [edge("start", "first"), edge("first", "later")]), path)
    db = f"sqlite:///{home / 'runs.sqlite'}"
    killed_run(path, db, "after_node_record:2")  # the timer's due time recorded
    started = time.monotonic()
    code, said = cli("recover", db=db)
    assert code == 0 and "waits for a timer due" in said, said
    assert time.monotonic() - started < 20
    store = RunStore(create_engine(db))
    (row,) = store.list_runs()
    assert row["status"] == "running"
    assert dict(recorder.hits) == {"/a": 1}
