"""Milliseconds per code node call: the bubblewrap sandbox beside the unsandboxed process it
replaced (`python -I` with rlimits and `unshare --net`), for a main() that returns at once.

    .venv/bin/python bench/sandbox.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CALLS = 30
CODE = "def main(input, vars, nodes):\n    return input\n"


async def median_ms(call: Callable[[], Awaitable[Any]]) -> float:
    await call()  # the first call pays the probe and warms the page cache
    timings = []
    for _ in range(CALLS):
        start = time.perf_counter()
        await call()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1e3


async def main() -> None:
    from engine.run import sandbox
    from engine.run.isolation import Cgroup, sandbox_problem

    request = json.dumps(
        {"input": 1, "vars": {}, "nodes": {}, "code": CODE, "network": False, "function": False}
    )
    rows = {
        "unsandboxed (before)": await median_ms(
            lambda: sandbox._unsandboxed(request, 10, 256, False)
        )
    }
    problem = sandbox_problem()
    if problem:
        print(f"(no sandbox row: {problem})")
    else:
        cgroup = Cgroup.create(16)
        if cgroup is not None:
            cgroup.remove()
        label = "bubblewrap + cgroup" if cgroup is not None else "bubblewrap, rlimits only"
        rows[label] = await median_ms(lambda: sandbox._isolated(request, 10, 256, False))
    print(f"median of {CALLS} calls of a main() that returns at once\n")
    for label, ms in rows.items():
        print(f"{label:<28} {ms:>7.1f} ms/call")


if __name__ == "__main__":
    asyncio.run(main())
