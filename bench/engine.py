"""µs per node for 200-node chains, Aerostudio's durable engine beside its peers, in one run.

Per-node cost is the slope between 200- and 400-node chains (the same for every engine), so a
run's fixed cost (creating it, finishing it) is reported apart instead of spread over its nodes.

Rows: pure nodes (set_variables) and durable side-effecting nodes (a do-nothing executor this
bench registers) on the DBOS-backed runtime with SQLite; LangGraph without a checkpointer and
with its SqliteSaver; a bare DBOS step loop and inline awaits in a DBOS workflow.
Targets (issue 3): pure ≤ 50 µs/node, durable side-effecting ≤ 1,000 µs/node.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python bench/engine.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NODES = 200
ROUNDS = 5
Timings = dict[str, tuple[float, float]]  # label -> (seconds for NODES, seconds for 2 * NODES)


def chain(node_type: str, length: int = NODES) -> Any:
    from engine.flow import from_document

    nodes: list[dict[str, Any]] = [{"id": "n000", "type": "trigger", "config": {}}]
    for i in range(1, length + 1):
        config = (
            {"action": "set_variables", "set_variables": {"values": {"x": i}}}
            if node_type == "action"
            else {"function": "noop"}
        )
        nodes.append({"id": f"n{i:03d}", "type": node_type, "config": config})
    edges = [
        {"id": f"e{i:03d}", "from": f"n{i - 1:03d}", "to": f"n{i:03d}"}
        for i in range(1, length + 1)
    ]
    return from_document(
        {
            "format": "aerostudio.flow/1",
            "id": "bench",
            "name": "Bench",
            "settings": {"max_node_runs": 10_000},
            "nodes": nodes,
            "edges": edges,
        }
    )


async def aerostudio_rows(folder: Path) -> Timings:
    from engine.run import EXECUTORS, Outcome
    from engine.run.durable import DurableRuntime

    async def noop(ctx: Any, config: Any) -> Outcome:
        return Outcome("out", {"ok": True})

    EXECUTORS["function_call"] = noop
    rows = {}
    async with DurableRuntime(f"sqlite:///{folder / 'runs.sqlite'}") as runtime:
        for label, node_type in (
            ("Aerostudio, pure nodes", "action"),
            ("Aerostudio, durable side effects", "function_call"),
        ):
            pair = []
            for length in (NODES, 2 * NODES):
                flow = chain(node_type, length)
                timings = []
                for _ in range(ROUNDS):
                    start = time.perf_counter()
                    handle = await runtime.start(flow, {})
                    result = await handle.result()
                    timings.append(time.perf_counter() - start)
                    assert result.status == "succeeded", result
                pair.append(statistics.median(timings))
            rows[label] = (pair[0], pair[1])
    return rows


def langgraph_rows(folder: Path) -> Timings:
    import sqlite3
    from typing import TypedDict

    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        x: int

    def build(length: int) -> Any:
        builder = StateGraph(State)
        for i in range(length):
            builder.add_node(f"n{i}", lambda state, i=i: {"x": i})
            builder.add_edge(START if i == 0 else f"n{i - 1}", f"n{i}")
        builder.add_edge(f"n{length - 1}", END)
        return builder

    saver = SqliteSaver(sqlite3.connect(folder / "langgraph.sqlite", check_same_thread=False))
    rows = {}
    for label, checkpointer in (
        ("LangGraph, no checkpointer", None),
        ("LangGraph, SqliteSaver", saver),
    ):
        pair = []
        for length in (NODES, 2 * NODES):
            graph = build(length).compile(checkpointer=checkpointer)
            timings = []
            for round_ in range(ROUNDS):
                config = {
                    "configurable": {"thread_id": f"{length}-{round_}"},
                    "recursion_limit": length + 10,
                }
                start = time.perf_counter()
                graph.invoke({"x": 0}, config)
                timings.append(time.perf_counter() - start)
            pair.append(statistics.median(timings))
        rows[label] = (pair[0], pair[1])
    return rows


async def dbos_rows(folder: Path) -> Timings:
    from dbos import DBOS

    @DBOS.step()
    async def step(i: int) -> int:
        return i

    async def inline(i: int) -> int:
        return i

    @DBOS.workflow()
    async def steps(length: int) -> None:
        for i in range(length):
            await step(i)

    @DBOS.workflow()
    async def awaits(length: int) -> None:
        for i in range(length):
            await inline(i)

    DBOS(
        config={
            "name": "bench",
            "system_database_url": f"sqlite:///{folder / 'dbos.sqlite'}",
            "application_version": "bench",
            "log_level": "ERROR",
        }
    )
    DBOS.launch()
    rows = {}
    try:
        for label, workflow in (
            ("bare DBOS step loop", steps),
            ("inline await in a DBOS workflow", awaits),
        ):
            pair = []
            for length in (NODES, 2 * NODES):
                timings = []
                for _ in range(ROUNDS):
                    start = time.perf_counter()
                    await workflow(length)
                    timings.append(time.perf_counter() - start)
                pair.append(statistics.median(timings))
            rows[label] = (pair[0], pair[1])
    finally:
        DBOS.destroy(destroy_registry=False)
    return rows


TARGETS = {"Aerostudio, pure nodes": "≤ 50", "Aerostudio, durable side effects": "≤ 1000"}
MEASURED_ELSEWHERE = {
    "LangGraph, no checkpointer": 178,
    "LangGraph, SqliteSaver": 1085,
    "bare DBOS step loop": 2600,
    "inline await in a DBOS workflow": 20,
}


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        rows = asyncio.run(aerostudio_rows(folder))
        rows.update(asyncio.run(dbos_rows(folder)))
        try:
            rows.update(langgraph_rows(folder))
        except ImportError:
            print("(LangGraph rows skipped: pip install -e '.[bench]')")
    print(f"chains of {NODES} and {2 * NODES} nodes, median of {ROUNDS} runs each\n")
    print(
        f"{'engine':<34} {'µs/node':>8} {'target':>8} {'issue figure':>13} "
        f"{'fixed ms/run':>13} {f'ms for {NODES}':>11}"
    )
    print("-" * 94)
    for label, (short, long) in rows.items():
        per_node = (long - short) / NODES * 1e6
        fixed = (short - per_node * NODES / 1e6) * 1e3
        print(
            f"{label:<34} {per_node:>8.0f} {TARGETS.get(label, ''):>8} "
            f"{MEASURED_ELSEWHERE.get(label, ''):>13} {fixed:>13.1f} {short * 1e3:>11.1f}"
        )


if __name__ == "__main__":
    main()
