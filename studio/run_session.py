"""Running and step-debugging the open flow against a runtime, from the main window.

One session per window: it owns the runtime connection, the run, data and history panels and the
canvas overlay, follows the current run's event stream (catching up with `after=` when the stream
drops), and turns every runtime error into a readable line, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMenu, QWidget

from engine.api.client import ApiClient, ApiError
from engine.flow import to_document
from studio.canvas.run_overlay import RunOverlay, format_duration
from studio.canvas.scene import FlowScene
from studio.panels.data import DataInspector
from studio.panels.history import RunHistory
from studio.panels.run import RunPanel
from studio.run_state import FINISHED_RUN, RunState
from studio.runtime import RuntimeConnection, RuntimeUnavailable

if TYPE_CHECKING:
    from studio.window import MainWindow

MAX_STREAM_RETRIES = 30


def readable(exc: BaseException) -> str:
    """One line a person can act on, for any failure of a runtime call."""
    if isinstance(exc, ApiError):
        issues = (exc.body or {}).get("issues") if isinstance(exc.body, dict) else None
        if issues:
            first = "; ".join(str(i.get("message")) for i in issues[:3])
            return f"{exc.message}: {first}"
        return exc.message
    if isinstance(exc, RuntimeUnavailable | ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class RunSession(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.connection = RuntimeConnection(self)
        self.overlay = RunOverlay(self)
        self.panel = RunPanel()
        self.data = DataInspector()
        self.history = RunHistory()
        self.scene: FlowScene | None = None
        self.state: RunState | None = None
        self.breakpoints: set[str] = set()
        self._follow_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._history_task: asyncio.Future[Any] | None = None
        self._at_breakpoint = False
        self.runtime_label = QLabel("Runtime: not connected")
        window.statusBar().addPermanentWidget(self.runtime_label)
        self.connection.state_changed.connect(self._connection_changed)
        self.connection.progress.connect(lambda text: window.statusBar().showMessage(text, 5000))
        self.panel.run_requested.connect(self.run)
        self.panel.debug_requested.connect(self.debug)
        self.panel.step_requested.connect(self.step)
        self.panel.continue_requested.connect(self.resume_debugging)
        self.panel.stop_requested.connect(self.stop)
        self.panel.prompt.answered.connect(self.answer)
        self.history.refresh_requested.connect(self.refresh_history)
        self.history.run_opened.connect(self.open_run)
        # Tabbed with the inspector and the problems, so the canvas keeps its room.
        self.run_dock = self._dock(self.panel, "Run", "Inspector")
        self.data_dock = self._dock(self.data, "Data", "Problems")
        self.history_dock = self._dock(self.history, "Run history", "Problems")
        self.actions = self._build_menu()

    def _dock(self, widget: QWidget, title: str, beside: str) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(title)
        dock.setWidget(widget)
        neighbour = self.window.findChild(QDockWidget, beside)
        if neighbour is not None:
            self.window.tabifyDockWidget(neighbour, dock)
            neighbour.raise_()
        else:
            self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _build_menu(self) -> dict[str, QAction]:
        bar = self.window.menuBar()
        help_menu = next((a for a in bar.actions() if a.text() == "&Help"), None)
        menu = QMenu("&Run", bar)
        if help_menu is not None:
            bar.insertMenu(help_menu, menu)
        else:
            bar.addMenu(menu)
        actions: dict[str, QAction] = {}
        for name, text, shortcut, slot in (
            ("run", "&Run", "Ctrl+R", self.run),
            ("debug", "&Debug (stop at breakpoints)", "F5", self.debug),
            ("step", "&Step one node", "F10", self.step),
            ("continue", "&Continue", "F8", self.resume_debugging),
            ("stop", "S&top", "Shift+F5", self.stop),
            ("breakpoint", "Toggle &breakpoint", "F9", self.toggle_breakpoint),
        ):
            action = menu.addAction(text)
            action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            actions[name] = action
        menu.addSeparator()
        menu.addAction(self.connection.keep_running)
        return actions

    # ------------------------------------------------------------------------ the document

    def attach(self, scene: FlowScene) -> None:
        """Follow a (new) scene: the overlay draws on it, the panels follow its selection."""
        if self.scene is not None:
            with contextlib.suppress(RuntimeError):
                self.scene.selectionChanged.disconnect(self._selection_changed)
                self.scene.document.changed.disconnect(self._document_changed)
            if self.scene.document is not scene.document:
                self._forget_run()
        self.scene = scene
        self.overlay.attach(scene)
        scene.selectionChanged.connect(self._selection_changed)
        scene.document.changed.connect(self._document_changed)
        self._document_changed()
        if self.connection.client is not None:
            self.refresh_history()

    def _document_changed(self) -> None:
        if self.scene is None:
            return
        flow = self.scene.document.flow
        self.breakpoints &= set(flow.node_map)
        self.overlay.set_breakpoints(self.breakpoints)
        self.panel.set_flow(flow)
        if self.state is not None:
            self.state.flow = flow
            self.overlay.refresh()

    def _forget_run(self) -> None:
        if self._follow_task is not None:
            self._follow_task.cancel()
        self.state = None
        self.breakpoints = set()
        self.overlay.show_run(None)
        self._show_state()

    def selected_node(self) -> str | None:
        try:
            selected = sorted(self.scene.selected_node_ids()) if self.scene else []
        except RuntimeError:  # the scene is being destroyed with its window
            return None
        return selected[0] if len(selected) == 1 else None

    def _selection_changed(self) -> None:
        node_id = self.selected_node()
        if self.scene is not None and node_id is not None:
            node = self.scene.document.flow.node_map.get(node_id)
            if node is not None and node.type == "trigger":
                self.panel.trigger.setCurrentText(node_id)
        self.data.show_node(self.state, node_id)

    # ---------------------------------------------------------------------------- actions

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Future[Any] | None:
        """Run a runtime call in the background; failures become a readable message."""
        try:
            task = asyncio.ensure_future(coroutine)
        except RuntimeError as exc:
            coroutine.close()
            self.report(f"cannot reach the runtime: {exc}")
            return None
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.report(readable(task.exception()))  # type: ignore[arg-type]

    def report(self, message: str) -> None:
        self.panel.set_status(f"⚠ {message}")
        self.window.statusBar().showMessage(message, 15_000)

    def run(self) -> None:
        self.spawn(self._start(debug=False))

    def debug(self) -> None:
        self.spawn(self._start(debug=True))

    def step(self) -> None:
        self._debug_action("step")

    def resume_debugging(self) -> None:
        self._debug_action("continue")

    def stop(self) -> None:
        state = self.state
        if state is not None and not state.finished:
            self.spawn(self._call(lambda client: client.cancel(state.run_id)))

    def answer(self, node_id: str, answer: dict[str, Any]) -> None:
        state = self.state
        if state is not None and not state.finished:
            self.panel.set_status(f"Answering {node_id}…")
            self.spawn(self._call(lambda client: client.resume(state.run_id, node_id, **answer)))

    def toggle_breakpoint(self) -> None:
        """F9: toggle breakpoints on the selected nodes (sent to a running debug session too)."""
        selected = sorted(self.scene.selected_node_ids()) if self.scene else []
        if not selected:
            self.report("select a node to toggle its breakpoint")
            return
        state = self.state
        for node_id in selected:
            adding = node_id not in self.breakpoints
            (self.breakpoints.add if adding else self.breakpoints.discard)(node_id)
            if state is not None and not state.finished:
                action = "set_breakpoint" if adding else "clear_breakpoint"
                self.spawn(self._call(lambda c, a=action, n=node_id: c.debug(state.run_id, a, n)))
        self.overlay.set_breakpoints(self.breakpoints)

    def _debug_action(self, action: str) -> None:
        state = self.state
        if state is not None and not state.finished:
            self.spawn(self._call(lambda client: client.debug(state.run_id, action)))

    async def _call(self, request: Any) -> Any:
        client = await self.connection.ensure()
        return await request(client)

    async def _start(self, *, debug: bool) -> None:
        if self.scene is None:
            return
        payload = self.panel.payload()
        flow = self.scene.document.flow
        self.panel.set_status("Connecting to the runtime…")
        client = await self.connection.ensure()
        breakpoints = sorted(self.breakpoints) if debug else None
        run_id = await client.start_run(
            to_document(flow), payload, trigger=self.panel.trigger_id(), breakpoints=breakpoints
        )
        self.run_dock.raise_()
        self.follow(RunState(run_id, flow))
        self.refresh_history()

    # -------------------------------------------------------------------------- following

    def open_run(self, run_id: str) -> None:
        """Show a past (or live) run: its events are replayed onto the canvas."""
        if self.scene is not None:
            self.follow(RunState(run_id, self.scene.document.flow))

    def follow(self, state: RunState) -> None:
        if self._follow_task is not None:
            self._follow_task.cancel()
        self.state = state
        self.overlay.show_run(state)
        self._show_state()
        task = self.spawn(self._stream(state))
        self._follow_task = task  # type: ignore[assignment]

    async def _stream(self, state: RunState) -> None:
        """Apply the run's events as they come; after a drop, catch up from the last seq."""
        failures = 0
        while not state.finished:
            client = await self.connection.ensure()
            try:
                async for event in client.events(state.run_id, after=state.last_seq):
                    if state.apply(event):
                        failures = 0
                        self._show_state()
                if not state.finished:
                    await self._settle_if_over(client, state)
                    failures += 1
            except ApiError as exc:
                if exc.status == 404:
                    raise
                failures += 1
            except Exception as exc:  # the connection dropped mid-stream
                failures += 1
                self.panel.set_status(f"Reconnecting to the run's events ({readable(exc)})…")
            if failures > MAX_STREAM_RETRIES:
                raise RuntimeUnavailable("lost the run's event stream; open it from the history")
            if failures and not state.finished:
                await asyncio.sleep(min(2.0, 0.1 * failures))
        self.refresh_history()

    async def _settle_if_over(self, client: ApiClient, state: RunState) -> None:
        """A stream that ended without run_finished: a run that ended some other way."""
        detail = await client.run(state.run_id)
        if detail["status"] in FINISHED_RUN and not state.finished:
            state.status = detail["status"]
            self._show_state()

    def _show_state(self) -> None:
        state = self.state
        self.overlay.refresh()
        self.data.show_node(state, self.selected_node())
        if state is None:
            self.panel.set_controls(active=False, at_breakpoint=False)
            self.panel.prompt.show_pause(None)
            self.panel.set_status("Not running")
            return
        pauses = sorted(state.pauses.values(), key=lambda p: p.seq)
        at_breakpoint = any(p.kind == "breakpoint" for p in pauses)
        if at_breakpoint and not self._at_breakpoint:
            # Paused: what the finished nodes produced is the question now.
            self.data_dock.raise_()
            if self.data_dock.height() < 220:
                self.window.resizeDocks([self.data_dock], [260], Qt.Orientation.Vertical)
        self._at_breakpoint = at_breakpoint
        self.panel.set_controls(active=not state.finished, at_breakpoint=at_breakpoint)
        self.panel.prompt.show_pause(next((p for p in pauses if p.kind != "breakpoint"), None))
        self.panel.set_status(self._status_text(state))

    def _status_text(self, state: RunState) -> str:
        short = state.run_id[:8]
        if state.finished:
            took = ""
            if state.started_at is not None and state.finished_at is not None:
                took = f" in {format_duration((state.finished_at - state.started_at) * 1000)}"
            text = f"Run {short} {state.status}{took}"
            if state.status == "succeeded" and state.output is not None:
                output = json.dumps(state.output, default=str)
                text += f": {output[:200]}"
            elif state.error:
                error = state.error
                text += f": {error.get('message', error) if isinstance(error, dict) else error}"
            return text
        if state.pauses:
            pause = min(state.pauses.values(), key=lambda p: p.seq)
            if pause.kind == "breakpoint":
                return f"Run {short} paused before {pause.node_id} (Step or Continue)"
            return f"Run {short} waiting at {pause.node_id}: {pause.prompt}"
        running = sorted({e.node_id for e in state.executions.values() if e.status == "running"})
        return f"Run {short} running {', '.join(running)}".rstrip()

    # ---------------------------------------------------------------------------- history

    def refresh_history(self) -> None:
        if self.scene is not None:
            if self._history_task is not None:
                self._history_task.cancel()  # an older answer must not land after a newer one
            self._history_task = self.spawn(self._load_history(self.scene.document.flow.id))

    async def _load_history(self, flow_id: str) -> None:
        client = await self.connection.ensure()
        try:
            runs = await client.runs(flow_id=flow_id)
        except ApiError as exc:
            self.history.show_message(readable(exc))
            return
        if self.scene is None or self.scene.document.flow.id != flow_id:
            return
        shown = [dict(r) for r in runs]
        state = self.state
        for row in shown:
            # The stream can be ahead of the store's row: the run's own events have the say.
            if state is not None and row["run_id"] == state.run_id and state.finished:
                row["status"] = state.status
        self.history.show_runs(shown, state.run_id if state else None)

    # ------------------------------------------------------------------------- connection

    def _connection_changed(self, state: str) -> None:
        self.runtime_label.setText(f"Runtime: {state}")
        if state.startswith("error: "):
            self.report(state.removeprefix("error: "))
        elif state == "connected" and self.scene is not None:
            self.refresh_history()

    def shutdown(self) -> None:
        """On close: stop following, and stop the runtime unless it should keep running."""
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(RuntimeError):
            self.connection.shutdown()
