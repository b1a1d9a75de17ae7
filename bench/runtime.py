"""Webhook-to-run-start latency and sustained runs/s of a 5-node flow on `aerostudio serve`:
SQLite with one process, PostgreSQL with one and with two processes (issue 8).

Real servers: each row starts `aerostudio serve` processes on a fresh database (PostgreSQL: a
private cluster of Debian's server binaries, as the tests use, unless --postgres names a
server), deploys the flow through the API and posts generic webhooks to `/hooks/bench`, taking
turns over the processes. The flow: webhook trigger, set_variables, logic, an http_request to a
loopback sink (a checkpointed side effect), end.

Latency: one webhook at a time, from just before the POST to the run's `run_started` event
(its `ts`: the same machine's clock), the run left to finish before the next. Throughput:
--runs webhooks posted by --clients concurrent clients, from the first POST until the last run
has finished.

    .venv/bin/python bench/runtime.py [--postgres postgresql://USER@HOST:PORT] [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2
import sqlalchemy as sa

from engine.run.store import RunStore, runs
from engine.store.db import create_engine

PG_BIN = Path("/usr/lib/postgresql/15/bin")
LATENCY_SAMPLES = 40
WARM_UP = 5  # runs first, not measured: connections opened, the queue's worker thread started


def five_node_flow(sink: str) -> dict[str, Any]:
    def node(node_id: str, node_type: str, config: dict[str, Any]) -> dict[str, Any]:
        return {"id": node_id, "type": node_type, "config": config}

    nodes = [
        node("hook", "trigger", {"kind": "webhook", "webhook": {"source": "generic"}}),
        node(
            "shape",
            "action",
            {"action": "set_variables", "set_variables": {"values": {"order": "{{ input.n }}"}}},
        ),
        node("check", "logic", {"mode": "if", "condition": "vars.order >= 0"}),
        node(
            "notify",
            "action",
            {
                "action": "http_request",
                "http_request": {
                    "method": "POST",
                    "url": sink,
                    "body": {"order": "{{ vars.order }}"},
                },
            },
        ),
        node("done", "action", {"action": "end", "end": {"output": "{{ nodes.notify.status }}"}}),
    ]
    pairs = [
        ("hook", "out", "shape"),
        ("shape", "out", "check"),
        ("check", "true", "notify"),
        ("notify", "out", "done"),
    ]
    edges = [{"id": f"e{i}", "from": a, "handle": h, "to": b} for i, (a, h, b) in enumerate(pairs)]
    return {
        "format": "aerostudio.flow/1",
        "id": "bench",
        "name": "Bench",
        "nodes": nodes,
        "edges": edges,
    }


@contextlib.contextmanager
def sink() -> Iterator[str]:
    """A loopback HTTP server that answers every POST at once."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sink"
    finally:
        server.shutdown()


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def private_postgres() -> Iterator[str]:
    """A throwaway cluster on a free loopback port; its base URL (database name to append)."""
    folder = Path(tempfile.mkdtemp(prefix="aero-bench-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = folder / "data"
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-w"]
    subprocess.run(
        _as_postgres([*ctl, "-l", str(folder / "log"), "start"]), check=True, capture_output=True
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([*ctl, "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server: str, name: str) -> str:
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as db:
        db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        db.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{server}/{name}"


class Server:
    """`aerostudio serve` in a process of its own."""

    def __init__(self, home: Path, db: str, executor_id: str) -> None:
        env = {**os.environ, "AEROSTUDIO_HOME": str(home)}
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        command = ["serve", "--db", db, "--port", "0", "--executor-id", executor_id]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
        self.token: str | None = None
        while True:
            line = lines.get(timeout=180).strip()
            if line.startswith("admin token: "):
                self.token = line.removeprefix("admin token: ")
            elif line.startswith("aerostudio serve at "):
                self.url = line.removeprefix("aerostudio serve at ")
                return

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


def _finished(store: RunStore, run_ids: list[str]) -> int:
    with store.engine.connect() as db:
        return int(
            db.execute(
                sa.select(sa.func.count())
                .select_from(runs)
                .where(runs.c.run_id.in_(run_ids), runs.c.status != "running")
            ).scalar()
            or 0
        )


def _await_runs(store: RunStore, run_ids: list[str], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while _finished(store, run_ids) < len(run_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(run_ids)} runs did not finish in {timeout_s:g} s")
        time.sleep(0.01)


def latencies(urls: list[str], store: RunStore) -> list[float]:
    """Seconds from a webhook's POST to its run's `run_started`, one run at a time."""
    samples = []
    with httpx2.Client(timeout=30) as http:
        for n in range(WARM_UP + LATENCY_SAMPLES):
            posted = time.time()
            answer = http.post(f"{urls[n % len(urls)]}/hooks/bench", json={"n": n})
            run_id = answer.raise_for_status().json()["run_id"]
            _await_runs(store, [run_id])
            (started,) = [e for e in store.events(run_id) if e["type"] == "run_started"]
            samples.append(started["ts"] - posted)
    return samples[WARM_UP:]


async def burst(urls: list[str], total: int, clients: int) -> list[str]:
    """Post `total` webhooks from `clients` concurrent clients; the run ids."""
    numbers = iter(range(total))
    run_ids: list[str] = []

    async def client(http: httpx2.AsyncClient) -> None:
        for n in numbers:
            answer = await http.post(f"{urls[n % len(urls)]}/hooks/bench", json={"n": n})
            run_ids.append(answer.raise_for_status().json()["run_id"])

    async with httpx2.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return run_ids


def executors(db: str, run_ids: list[str]) -> str:
    """How many of the runs each process executed (from DBOS's workflow table)."""
    engine = create_engine(db)
    query = sa.text(
        "SELECT executor_id, count(*) FROM dbos.workflow_status "
        "WHERE workflow_uuid = ANY(:ids) GROUP BY executor_id ORDER BY executor_id"
    )
    with engine.connect() as connection:
        rows = connection.execute(query, {"ids": run_ids}).all()
    engine.dispose()
    return ", ".join(f"{executor}: {count}" for executor, count in rows)


def measure(db: str, processes: int, home: Path, args: argparse.Namespace, target: str) -> dict:
    servers: list[Server] = []
    try:
        for index in range(processes):  # one after the other: the first one creates the schema
            servers.append(Server(home, db, f"bench-{index + 1}"))
        first = servers[0]
        deployed = httpx2.post(
            f"{first.url}/api/deployments",
            json={"flow": five_node_flow(target)},
            headers={"Authorization": f"Bearer {first.token}"},
            timeout=30,
        )
        deployed.raise_for_status()
        urls = [s.url for s in servers]
        store = RunStore(create_engine(db))
        samples = latencies(urls, store)
        started = time.perf_counter()
        run_ids = asyncio.run(burst(urls, args.runs, args.clients))
        _await_runs(store, run_ids)
        elapsed = time.perf_counter() - started
        store.engine.dispose()
        return {
            "p50": statistics.median(samples) * 1e3,
            "p95": statistics.quantiles(samples, n=20)[-1] * 1e3,
            "rate": len(run_ids) / elapsed,
            "executors": executors(db, run_ids) if db.startswith("postgresql") else "",
        }
    finally:
        for server in servers:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server's base URL")
    parser.add_argument("--runs", type=int, default=200, help="webhooks in the throughput burst")
    parser.add_argument("--clients", type=int, default=16, help="concurrent webhook senders")
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as name, sink() as target:
        folder = Path(name)
        sqlite = f"sqlite:///{folder / 'sqlite' / 'runs.sqlite'}"
        (folder / "sqlite").mkdir()
        rows["SQLite, 1 process"] = measure(sqlite, 1, folder / "sqlite", args, target)
        with contextlib.ExitStack() as stack:
            server = args.postgres or stack.enter_context(private_postgres())
            for processes in (1, 2):
                db = fresh_database(server, f"aero_bench_{processes}")
                label = f"PostgreSQL, {processes} process{'es' if processes > 1 else ''}"
                rows[label] = measure(db, processes, folder / f"pg{processes}", args, target)
    print(
        f"5-node flow; latency over {LATENCY_SAMPLES} webhooks one at a time; throughput over "
        f"{args.runs} webhooks from {args.clients} clients\n"
    )
    print(f"{'configuration':<26} {'p50 ms':>8} {'p95 ms':>8} {'runs/s':>8}   runs per executor")
    print("-" * 82)
    for label, row in rows.items():
        print(
            f"{label:<26} {row['p50']:>8.1f} {row['p95']:>8.1f} {row['rate']:>8.1f}   "
            f"{row['executors']}"
        )


if __name__ == "__main__":
    main()
