"""Canvas speed: open and first paint, pan and zoom frames, cold start of the studio; a table.

Each measurement runs in a fresh process (offscreen), so caches of one do not help another.
A flow opens at its opening view (whole if it reads at that size, else its start at a readable
zoom); the 1,000-node open is also measured fitted whole, as View > Fit shows it.
Targets: 1,000 nodes opened and painted in 250 ms or less; 16 ms or less per frame while panning
and zooming 2,000 nodes; `python -m engine studio` to its first shown window in 1.5 s or less.

    .venv/bin/python bench/canvas.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.validate import generate  # noqa: E402

OPEN_SIZES = (200, 1_000, 5_000)
FRAME_SIZE = 2_000
FRAMES = 60


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _window() -> Any:
    from PySide6.QtWidgets import QApplication

    from studio.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    window.resize(1400, 860)
    window.show()
    app.processEvents()
    return app, window


def measure_open(size: int, fitted: bool = False) -> dict[str, float]:
    """Load the file, build the scene, show its opening view (or, `fitted`, all of it, as
    View ▸ Fit does) and paint the canvas once."""
    from studio.document import FlowDocument

    app, window = _window()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.flow.json"
        path.write_text(json.dumps(generate(size)))
        start = time.perf_counter()
        window.set_document(FlowDocument.open(path))
        app.processEvents()  # the new canvas takes its place, with the flow's opening view
        if fitted:
            window.view.fit()
        window.view.viewport().grab()
        app.processEvents()
        return {"open_ms": _ms(start)}


def measure_opens(kind: str, size: int, runs: int = 5) -> tuple[float, float]:
    """Median and best of `runs` opens, each in a fresh process."""
    times = [_one(kind, size)["open_ms"] for _ in range(runs)]
    return statistics.median(times), min(times)


def _frames(app: Any, view: Any, step: Any) -> list[float]:
    times = []
    for index in range(FRAMES):
        step(index)
        start = time.perf_counter()
        view.viewport().repaint()
        app.processEvents()
        times.append(_ms(start))
    return times


def measure_frames(size: int) -> dict[str, float]:
    """Pan across and zoom in and out of a flow, timing each repaint of the canvas."""
    from studio.document import FlowDocument
    from studio.editing import auto_layout

    app, window = _window()
    window.set_document(FlowDocument(_flow(size)))
    auto_layout(window.scene)
    app.processEvents()
    view = window.view
    bar = view.horizontalScrollBar()
    results: dict[str, float] = {}
    for where in ("all", "100%"):
        if where == "all":
            view.fit()
        else:
            view.resetTransform()
            view.centerOn(window.scene.node_items["start"])
        view.viewport().repaint()
        pan = _frames(app, view, lambda i: bar.setValue(bar.value() + (8 if i % 30 < 15 else -8)))
        zoom = _frames(app, view, lambda i: view.zoom(1.1 if i % 10 < 5 else 1 / 1.1))
        for name, times in (("pan", pan), ("zoom", zoom)):
            results[f"{name} {where}"] = statistics.median(times)
            results[f"{name} {where} p95"] = sorted(times)[int(FRAMES * 0.95)]
    return results


def _flow(size: int) -> Any:
    from engine.flow import from_document

    return from_document(generate(size))


def measure_cold_start(runs: int = 5) -> dict[str, float]:
    """`python -m engine studio` from spawning to its painted window (not counting its exit).

    As on a user's machine, Python's bytecode caches are written (a sandbox may turn them off
    with PYTHONDONTWRITEBYTECODE) and one start runs before the measured ones to write them."""
    env = {**os.environ, "AEROSTUDIO_EXIT_AFTER_SHOW": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    times = []
    for _ in range(runs + 1):
        spawned = time.time()
        out = subprocess.run(
            [sys.executable, "-m", "engine", "studio"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        shown = float(out.rsplit("shown at ", 1)[1])
        times.append((shown - spawned) * 1000)
    measured = times[1:]
    return {"cold_start_ms": statistics.median(measured), "cold_start_min_ms": min(measured)}


def _one(kind: str, size: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--one", kind, str(size)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out))


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        kind, size = sys.argv[2], int(sys.argv[3])
        if kind == "frames":
            print(json.dumps(measure_frames(size)))
        else:
            print(json.dumps(measure_open(size, fitted=kind == "open-fitted")))
        return
    rows = []
    for kind, size in [*(("open", size) for size in OPEN_SIZES), ("open-fitted", 1_000)]:
        median, best = measure_opens(kind, size)
        view = "opening view" if kind == "open" else "whole flow fitted"
        rows.append((f"open + first paint, {size:,} nodes, {view} (median of 5)", median, ""))
        rows.append((f"open + first paint, {size:,} nodes, {view} (best of 5)", best, ""))
    rows[2] = (*rows[2][:2], "≤ 250")
    frames = _one("frames", FRAME_SIZE)
    for name, value in frames.items():
        action, where, *p95 = name.split()
        zoom = "whole flow in view" if where == "all" else "at 100%"
        label = f"{action} frame, {FRAME_SIZE:,} nodes, {zoom} ({'p95' if p95 else 'median'})"
        rows.append((label, value, "" if p95 else "≤ 16"))
    cold = measure_cold_start()
    rows.append(("cold start to the painted window (median of 5)", cold["cold_start_ms"], "≤ 1500"))
    rows.append(("cold start to the painted window (best of 5)", cold["cold_start_min_ms"], ""))
    width = max(len(name) for name, _, _ in rows)
    print(f"{'measure':<{width}} {'ms':>9} {'target':>8}")
    print("-" * (width + 19))
    for name, value, target in rows:
        print(f"{name:<{width}} {value:>9.1f} {target:>8}")


if __name__ == "__main__":
    main()
