"""Scale-out on one PostgreSQL: two `aerostudio serve` processes (executor ids A and B) share
webhook runs through the runs queue; A is killed with -9 while it holds runs and restarted with
its executor id; every run finishes, each side effect exactly once, and both processes did work.

What "exactly once" means here. The side effect is an `http_request` node. A process killed
after its request went out but before the node's outcome was committed sends it again once the
run is recovered: delivery is at least once, as with any durable engine. The request carries an
`Idempotency-Key` made of the run id and the node id (a template of the flow), and the receiver
applies each key once, so the effect happens exactly once per run. A node whose outcome was
committed never runs again, so only the requests in flight at the kill are delivered twice: the
test checks that too.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from engine.run.store import RunStore
from engine.store.db import create_engine
from tests.flow.builders import document, edge, end, node, set_vars, trigger

pytestmark = pytest.mark.timeout(300)  # three process starts: slow on a loaded machine

RUNS = 50
WORKERS = 5  # queued runs one process executes at once: A and B hold 5 each at the kill


class EffectServer:
    """Applies each Idempotency-Key once and counts every delivery; while `gate` is closed it
    holds its answers, so the runs that sent them stay in flight."""

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        self.applied: Counter[str] = Counter()
        self.gate = threading.Event()
        lock = threading.Lock()
        effects = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers["Idempotency-Key"]
                with lock:
                    effects.deliveries[key] += 1
                    first = key not in effects.applied
                    if first:
                        effects.applied[key] += 1
                effects.gate.wait(60)
                body = json.dumps({"applied": first}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except BrokenPipeError:
                    pass  # its sender was killed: that is the test

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> int:
        return sum(self.deliveries.values())

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()


class Serve:
    """`aerostudio serve --db DB --executor-id ID` in a process of its own."""

    def __init__(self, home: Path, db: str, executor_id: str) -> None:
        env = {
            **os.environ,
            "AEROSTUDIO_HOME": str(home),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        self.args = ["--executor-id", executor_id, "--workers", str(WORKERS)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--db", db, "--port", "0", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def ready(self, timeout: float = 60) -> tuple[str, list[str]]:
        """Its URL, and the lines it printed before it."""
        printed: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                assert self.process.stderr is not None
                raise AssertionError(f"serve exited: {printed} {self.process.stderr.read()}")
            if line.startswith("aerostudio serve at "):
                return line.removeprefix("aerostudio serve at "), printed
            printed.append(line)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def effects() -> Iterator[EffectServer]:
    server = EffectServer()
    yield server
    server.close()


@pytest.fixture
def serving(tmp_path: Path, postgres_url: str) -> Iterator[Callable[[str], Serve]]:
    """Starts `aerostudio serve` processes on one database and data directory; stops them all."""
    started: list[Serve] = []

    def start(executor_id: str) -> Serve:
        started.append(Serve(tmp_path / "home", postgres_url, executor_id))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def _wait(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _workflows(db: sa.Engine) -> dict[str, tuple[str, str]]:
    """DBOS's view of the runs: run id -> (status, executor id)."""
    with db.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT workflow_uuid, status, executor_id FROM dbos.workflow_status "
                "WHERE name = 'aerostudio.run'"
            )
        ).all()
    return {row.workflow_uuid: (row.status, row.executor_id) for row in rows}


def _pending(db: sa.Engine, executor_id: str) -> int:
    return sum(
        1 for status, ex in _workflows(db).values() if (status, ex) == ("PENDING", executor_id)
    )


def _flow(effect_url: str) -> dict[str, Any]:
    effect = node(
        "effect",
        "action",
        {
            "action": "http_request",
            "http_request": {
                "method": "POST",
                "url": effect_url,
                "headers": {"Idempotency-Key": "{{ run.id }}/effect"},
                "body": {"n": "{{ input.n }}"},
            },
        },
    )
    hook = node("hook", "trigger", {"kind": "webhook", "webhook": {"source": "generic"}})
    nodes = [hook, effect, end("done", "{{ nodes.effect.json }}")]
    return document(nodes, [edge("hook", "effect"), edge("effect", "done")], id="counted")


def test_two_servers_share_runs_and_a_killed_one_recovers_its_own(
    effects: EffectServer, serving: Callable[[str], Serve], postgres_url: str
) -> None:
    a = serving("A")
    url_a, printed = a.ready()  # the first start creates the schema and the admin
    (token,) = [line.removeprefix("admin token: ") for line in printed]
    b = serving("B")
    url_b, _ = b.ready()
    http = httpx2.Client(timeout=30)
    deployed = http.post(
        f"{url_a}/api/deployments",
        json={"flow": _flow(effects.url + "/effect"), "confirm": True},  # an unsigned webhook
        headers={"Authorization": f"Bearer {token}"},
    )
    assert deployed.status_code == 201, deployed.text

    run_ids = []
    for n in range(RUNS):
        answer = http.post(f"{(url_a, url_b)[n % 2]}/hooks/counted", json={"n": n})
        assert answer.status_code == 202, answer.text
        run_ids.append(answer.json()["run_id"])

    dbos = create_engine(postgres_url)
    # Answers held: each process takes WORKERS runs from the queue and waits on their effects.
    _wait(lambda: effects.delivered() == 2 * WORKERS, "both processes to hold their runs")
    assert _pending(dbos, "A") == _pending(dbos, "B") == WORKERS
    in_flight = set(effects.deliveries)
    held = next(r for r, (_s, executor) in _workflows(dbos).items() if executor == "A")
    stream = _follow(f"{url_b}/api/runs/{held}/events", token)  # from the other process
    a.kill()

    again = serving("A")
    again.ready()
    # Restarted, A puts its runs back on the queue and takes WORKERS runs again (B is full).
    _wait(lambda: effects.delivered() == 3 * WORKERS, "the restarted A to take runs")
    effects.gate.set()

    store = RunStore(create_engine(postgres_url))
    finished = _wait(
        lambda: (
            (runs := [store.run(r) for r in run_ids])
            and all(r is not None and r["status"] != "running" for r in runs)
            and runs
        ),
        "all runs to finish",
    )
    assert {r["status"] for r in finished} == {"succeeded"}
    assert effects.applied == Counter({f"{r}/effect": 1 for r in run_ids})
    delivered_twice = {key for key, count in effects.deliveries.items() if count > 1}
    assert len(delivered_twice) == WORKERS and delivered_twice < in_flight
    assert max(effects.deliveries.values()) == 2
    executors = Counter(executor for _status, executor in _workflows(dbos).values())
    assert set(executors) == {"A", "B"} and executors["A"] >= WORKERS, executors
    dbos.dispose()
    # B streamed a run that A executed and died in, to its end after the recovery, in order.
    events = stream.result(timeout=30)
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    assert events[0]["type"] == "run_started"
    assert (events[-1]["type"], events[-1].get("status")) == ("run_finished", "succeeded"), events
    finished = [e["node_id"] for e in events if e["type"] == "node_finished"]
    assert finished[-2:] == ["effect", "done"] and len(finished) == len(set(finished))
    assert [e["type"] for e in events].count("run_started") == 1  # the recovery re-lived none


def _follow(url: str, token: str) -> Future[list[dict[str, Any]]]:
    """A run's server-sent events, read in a thread until the stream ends."""

    def read() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx2.stream("GET", url, headers=headers, timeout=60) as response:
            response.raise_for_status()
            lines = response.iter_lines()
            return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]

    return ThreadPoolExecutor(max_workers=1).submit(read)


def test_one_process_per_executor_id_on_postgresql(postgres_url: str) -> None:
    from engine.run.locks import RuntimeBusy, RuntimeLock, shown_url

    first = RuntimeLock(postgres_url, "A")
    first.acquire()
    other = RuntimeLock(postgres_url, "B")
    other.acquire()  # another executor id shares the database
    with pytest.raises(RuntimeBusy, match="executor 'A'"):
        RuntimeLock(postgres_url, "A").acquire()
    first.release()
    again = RuntimeLock(postgres_url, "A")
    again.acquire()  # free once its holder let go (or died)
    again.release()
    other.release()
    assert "hunter2" not in shown_url("postgresql://aero:hunter2@db.example/runs")


@pytest.mark.anyio
async def test_a_run_cancelled_while_queued_never_runs_a_node(
    effects: EffectServer, postgres_url: str
) -> None:
    from engine.flow import from_document
    from engine.run.durable import DurableRuntime, QueuedRun

    effects.gate.set()
    review = from_document(
        document(
            [node("start", "trigger"), node("review", "human_review", {"title": "Hold on"})],
            [edge("start", "review")],
            id="held",
        )
    )
    counted = from_document(_flow(effects.url + "/effect"))
    async with DurableRuntime(postgres_url, workers=1) as runtime:
        holding = await runtime.submit(review, {})
        waiting = await runtime.submit(counted, {"n": 1})
        assert isinstance(waiting, QueuedRun)  # on PostgreSQL runs go through the queue
        await _until(lambda: runtime.store.events(holding.run_id), "the review to take the worker")
        runtime.cancel(waiting.run_id)
        runtime.post(holding.run_id, {"decision": "approve"})
        assert (await holding.result()).status == "succeeded"
        assert (await waiting.result()).status == "cancelled"
    assert effects.deliveries == Counter()


async def _until(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _debug_flow() -> dict[str, Any]:
    nodes = [
        trigger("start"),
        set_vars("one", a=1),
        set_vars("two", b="{{ vars.a + 1 }}"),
        set_vars("three", c="{{ vars.b + 1 }}"),
        end("done", "{{ vars.c }}"),
    ]
    edges = [edge(a["id"], b["id"]) for a, b in itertools.pairwise(nodes)]
    return document(nodes, edges, id="stepped")


def test_a_run_of_one_process_is_step_debugged_through_another(
    serving: Callable[[str], Serve],
) -> None:
    a = serving("A")
    url_a, printed = a.ready()
    (token,) = [line.removeprefix("admin token: ") for line in printed]
    b = serving("B")
    url_b, _ = b.ready()
    auth = {"Authorization": f"Bearer {token}"}
    started = httpx2.post(
        f"{url_a}/api/runs", json={"flow": _debug_flow(), "breakpoints": ["one"]}, headers=auth
    )
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    # From here on, only B: it does not run this run, A does.
    http = httpx2.Client(base_url=url_b, headers=auth, timeout=30)
    paused = _events(url_b, token, run_id)

    def debug(action: str, node_id: str | None = None) -> None:
        answer = http.post(f"/api/runs/{run_id}/debug", json={"action": action, "node_id": node_id})
        assert answer.status_code == 202 and answer.json()["queued"] is True, answer.text

    def state() -> dict[str, Any]:
        answer = http.get(f"/api/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    first = paused.get(timeout=30)
    assert (first["type"], first["kind"], first["node_id"]) == ("run_paused", "breakpoint", "one")
    assert state()["waiting"] == ["one"]
    # In order: a breakpoint set and cleared again holds nowhere; the last one holds.
    debug("set_breakpoint", "two")
    debug("clear_breakpoint", "two")
    debug("set_breakpoint", "three")
    _wait(lambda: state()["breakpoints"] == ["one", "three"], "B to show A's breakpoints")
    debug("continue")
    at_three = paused.get(timeout=30)
    assert (at_three["type"], at_three["node_id"]) == ("run_paused", "three")
    seen = state()
    assert seen["waiting"] == ["three"]
    assert [n for n, v in seen["nodes"].items() if v["status"] == "succeeded"] == [
        "start",
        "one",
        "two",
    ]
    debug("step")  # three runs, done waits
    at_done = paused.get(timeout=30)
    assert (at_done["type"], at_done["kind"], at_done["node_id"]) == (
        "run_paused",
        "breakpoint",
        "done",
    )
    debug("continue")
    finished = paused.get(timeout=30)
    assert (finished["type"], finished["status"], finished["output"]) == (
        "run_finished",
        "succeeded",
        3,
    )
    assert state()["waiting"] == [] and state()["breakpoints"] == []
    late = http.post(f"/api/runs/{run_id}/debug", json={"action": "continue"})
    assert (late.status_code, late.json()["error"]) == (409, "finished")
    unknown = http.post("/api/runs/nope/debug", json={"action": "continue"})
    assert unknown.status_code == 404


def _events(url: str, token: str, run_id: str) -> queue.Queue[dict[str, Any]]:
    """The run's pauses and its end, as B streams them, read in a thread as they come."""
    seen: queue.Queue[dict[str, Any]] = queue.Queue()

    def read() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        address = f"{url}/api/runs/{run_id}/events"
        with httpx2.stream("GET", address, headers=headers, timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event["type"] in ("run_paused", "run_finished"):
                        seen.put(event)

    threading.Thread(target=read, daemon=True).start()
    return seen
