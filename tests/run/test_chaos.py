"""Randomized kills, bounded: on each database, rounds of runs submitted by a process that is killed
at a random fault point or a random moment, then `runs recover` (itself sometimes killed) until
every run has ended. Counted: runs lost, wrong outputs, side effects sent again after their outcome
was recorded, event gaps or doubles; each must be 0. The seed is printed, to replay a failure
(CHAOS_SEED=...)."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.flow import save
from engine.run.faults import POINTS
from engine.run.store import FINISHED, RunStore
from engine.store.db import create_engine
from tests.flow.builders import edge, flow, node, set_vars, trigger
from tests.run.chaos_driver import run_id

pytestmark = pytest.mark.timeout(240)

RUNS = 30  # per database, in rounds; a round killed while it creates its runs has fewer
RUNS_PER_ROUND = 10
MAX_ROUNDS = 6
# The points the submitting process reaches (this flow has no review to answer).
RUN_POINTS = sorted(
    POINTS - {"after_reconcile_start", "after_reconcile_fail", "after_message_taken"}
)


class Effects:
    """Counts the requests of each run's effect nodes; a request whose node already has its
    outcome recorded in the run store is a repeat the engine promised not to make."""

    def __init__(self, store: RunStore) -> None:
        self.hits: Counter[str] = Counter()
        self.repeated: list[str] = []
        effects = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                _, n, key = self.path.split("/")
                if key in store.records(run_id(int(n))):
                    effects.repeated.append(self.path)
                effects.hits[self.path] += 1
                body = json.dumps({"path": self.path}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except BrokenPipeError:
                    pass  # its sender was killed

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def _effect(key: str, url: str) -> dict:
    request = {"method": "POST", "url": url + "/{{ input.n }}/" + key, "body": {"key": key}}
    return node(key, "action", {"action": "http_request", "http_request": request})


def chaos_flow(path: Path, url: str) -> Path:
    """Four side effects, a computed variable, a durable timer, an output made of both."""
    nodes = [
        trigger(),
        _effect("e1", url),
        set_vars("v", x="{{ input.n * 7 }}"),
        _effect("e2", url),
        node("wait", "schedule_message", {"text": "tick", "delay_s": 0.2}),
        _effect("e3", url),
        _effect("e4", url),
        node("done", "action", {"action": "end", "end": {"output": {"x": "{{ vars.x }}"}}}),
    ]
    order = ["start", "e1", "v", "e2", "wait", "e3", "e4", "done"]
    save(flow(nodes, [edge(a, b) for a, b in itertools.pairwise(order)]), path)
    return path


def _env(fault: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AEROSTUDIO_FAULT"}
    return {**env, "AEROSTUDIO_FAULT": fault} if fault else env


def _kill_round(db: str, path: Path, first: int, rng: random.Random) -> str:
    """Submit a round's runs in a process killed at a random point or moment; how it died."""
    fault = f"{rng.choice(RUN_POINTS)}:{rng.randint(1, 12)}" if rng.random() < 0.6 else None
    command = ["-m", "tests.run.chaos_driver", db, str(path), str(first), str(RUNS_PER_ROUND)]
    driver = subprocess.Popen(
        [sys.executable, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(fault),
    )
    assert driver.stdout is not None
    launched = driver.stdout.readline()
    if fault is None and launched:
        delay = rng.uniform(0, 1.0)
        try:  # a random moment: the test is where the kill lands
            driver.wait(delay)
        except subprocess.TimeoutExpired:
            driver.send_signal(signal.SIGKILL)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode in (0, -signal.SIGKILL), err[-2000:]
    if driver.returncode == 0:
        return f"no kill ({fault} not reached)" if fault else "no kill"
    return fault or "a random moment"


def _recover_all(db: str, store: RunStore, rng: random.Random, deadline: float) -> str:
    """`runs recover` (killed now and then) until no run is unfinished; how that went."""
    killed = []
    for attempt in range(1, 8):
        chance = attempt < 3 and rng.random() < 0.4
        fault = f"{rng.choice(sorted(POINTS))}:{rng.randint(1, 6)}" if chance else None
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "runs", "--db", db, "recover"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(fault),
        )
        out, err = process.communicate(timeout=max(5, deadline - time.monotonic()))
        if process.returncode == -signal.SIGKILL:
            killed.append(fault)
        else:
            assert process.returncode == 0, out + err[-2000:]
        if not store.unfinished_runs():
            return f"recovered by {attempt} (killed at {killed})" if killed else "recovered"
    raise AssertionError(f"runs still unfinished after 7 recoveries: {store.unfinished_runs()}")


def _count(store: RunStore, effects: Effects) -> dict[str, int]:
    counters = Counter(lost=0, wrong_output=0, repeated_effect=len(effects.repeated), gaps=0)
    runs = store.list_runs(limit=1000)
    for row in runs:
        run = store.run(row["run_id"])
        n = int(row["run_id"].removeprefix("chaos"))
        if run["status"] not in FINISHED or run["status"] != "succeeded":
            counters["lost"] += 1
        elif run["output"] != {"x": n * 7}:
            counters["wrong_output"] += 1
        events = store.events(row["run_id"])
        types = [e["type"] for e in events]
        finished = [e["key"] for e in events if e["type"] == "node_finished"]
        if (
            [e["seq"] for e in events] != list(range(1, len(events) + 1))
            or types.count("run_started") != 1
            or types.count("run_finished") != 1
            or types[-1] != "run_finished"
            or len(finished) != len(set(finished))
        ):
            counters["gaps"] += 1
    counters["runs"] = len(runs)
    return dict(counters)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_random_kills_lose_nothing_and_repeat_nothing(database, tmp_path, monkeypatch, request):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    db = (
        f"sqlite:///{tmp_path / 'runs.sqlite'}"
        if database == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(10**6))
    rng = random.Random(seed)
    store = RunStore(create_engine(db))
    effects = Effects(store)
    deadline = time.monotonic() + 150
    try:
        path = chaos_flow(tmp_path / "chaos.flow.json", effects.url)
        kills = []
        for round_ in range(MAX_ROUNDS):
            if len(store.list_runs(limit=1000)) >= RUNS or time.monotonic() > deadline:
                break
            kills.append(_kill_round(db, path, round_ * RUNS_PER_ROUND, rng))
            kills.append(_recover_all(db, store, rng, deadline))
        counters = _count(store, effects)
    finally:
        effects.close()
    print(f"seed {seed}: {kills} -> {counters}")
    assert {k: v for k, v in counters.items() if k != "runs"} == {
        "lost": 0,
        "wrong_output": 0,
        "repeated_effect": 0,
        "gaps": 0,
    }, f"seed {seed}, kills {kills}, repeated {effects.repeated}"
    assert counters["runs"] >= RUNS_PER_ROUND, f"seed {seed}: {kills}"
