"""The process the chaos test kills: `python -m tests.run.chaos_driver DB FLOW FIRST COUNT` submits
runs chaos<FIRST>.. of the flow (input {"n": N}) and waits for them. Submitted, on PostgreSQL they
go through the runs queue, on SQLite they start here: both ways of creating a run are killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from engine.flow import load
from engine.run.durable import DurableRuntime


def run_id(n: int) -> str:
    return f"chaos{n:04d}"


async def main(db: str, path: Path, first: int, count: int) -> None:
    flow = load(path)
    async with DurableRuntime(db, poll_s=0.02) as runtime:
        print("launched", flush=True)
        started = [
            await runtime.submit(flow, {"n": n}, run_id=run_id(n))
            for n in range(first, first + count)
        ]
        for run in started:
            await run.result()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
