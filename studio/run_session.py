"""Running and step-debugging the open flow against a runtime, from the main window.

One session per window: it owns the runtime connection, the run, chat, data and history panels
and the canvas overlay, follows the current run's event stream (catching up with `after=` when the
stream drops, and starting the runtime again when it died), and turns every runtime error into a
readable line, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMenu, QWidget

from engine.api.client import ApiClient, ApiError
from engine.flow import to_document
from studio.canvas.run_overlay import RunOverlay
from studio.canvas.scene import FlowScene
from studio.panels.chat import ChatPanel, Conversation, Line, message_trigger
from studio.panels.data import DataInspector
from studio.panels.history import RunHistory
from studio.panels.run import RunPanel
from studio.run_state import FINISHED_RUN, RunState
from studio.runtime import RuntimeConnection, RuntimeUnavailable, readable, runtime_log

if TYPE_CHECKING:
    from studio.window import MainWindow

MAX_STREAM_RETRIES = 30


class RunSession(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.connection = RuntimeConnection(self)
        self.overlay = RunOverlay(self)
        self.panel = RunPanel()
        self.data = DataInspector()
        self.history = RunHistory()
        self.chat = ChatPanel()
        self.conversation = Conversation()
        self.chat.start(self.conversation)
        self.scene: FlowScene | None = None
        self.state: RunState | None = None
        self.breakpoints: set[str] = set()
        self._follow_task: asyncio.Future[Any] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._history_task: asyncio.Future[Any] | None = None
        self._starting: asyncio.Future[Any] | None = None
        self._at_breakpoint = False
        self._chat_offered: bool | None = None
        self.runtime_label = QLabel("Runtime: not connected")
        window.statusBar().addPermanentWidget(self.runtime_label)
        self.connection.state_changed.connect(self._connection_changed)
        self.connection.progress.connect(lambda text: window.statusBar().showMessage(text, 5000))
        self.panel.run_requested.connect(self.run)
        self.panel.debug_requested.connect(self.debug)
        self.panel.step_requested.connect(self.step)
        self.panel.continue_requested.connect(self.resume_debugging)
        self.panel.stop_requested.connect(self.stop)
        self.panel.run_from_requested.connect(self.run_from_selected)
        self.panel.prompt.answered.connect(self.answer)
        self.chat.sent.connect(self.send_message)
        self.chat.new_conversation_requested.connect(self.new_conversation)
        self.history.refresh_requested.connect(self.refresh_history)
        self.history.run_opened.connect(self.open_run)
        # Tabbed with the inspector and the problems, so the canvas keeps its room.
        self.run_dock = self._dock(self.panel, "Run", "Inspector")
        self.data_dock = self._dock(self.data, "Data", "Problems")
        self.history_dock = self._dock(self.history, "Run history", "Problems")
        self.chat_dock = self._dock(self.chat, "Chat", "Run")
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
            ("run_from", "Run &from selected node", "Ctrl+Shift+R", self.run_from_selected),
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
        menu.addAction("Local runtime &port…", lambda: self.connection.choose_port(self.window))
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
        offered = message_trigger(flow) is not None
        if offered != self._chat_offered:  # shown for flows that take messages, else out of the way
            self._chat_offered = offered
            self.chat_dock.setVisible(offered)
        if self.state is not None:
            self.state.flow = flow
            self.overlay.refresh()

    def forget_run(self) -> None:
        """Stop following the current run and clear what shows it (when leaving a server)."""
        self._forget_run()

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
        inspector = self.window.findChild(QDockWidget, "Inspector")
        if node_id is not None and inspector is not None and not self.panel.prompt.isVisible():
            inspector.raise_()  # what was selected shows, unless a paused run asks something
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
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.report(readable(error))

    def report(self, message: str) -> None:
        self.panel.set_status(f"⚠ {message}")
        self.window.statusBar().showMessage(message, 15_000)

    def run(self) -> None:
        self._begin(self._start(debug=False))

    def debug(self) -> None:
        self._begin(self._start(debug=True))

    def run_from_selected(self) -> None:
        """Run again from the selected node, the nodes before it pinned to the shown run's."""
        state, node_id = self.state, self.selected_node()
        if state is None or node_id is None:
            self.report("run once (or open a run from the history), then select a node to run from")
            return
        self._begin(self._run_from(state, node_id))

    def pause(self) -> None:
        """Stop the current run before its next node (then Step or Continue)."""
        self._debug_action("pause")

    def step(self) -> None:
        self._debug_action("step")

    def resume_debugging(self) -> None:
        self._debug_action("continue")

    def stop(self) -> None:
        """Cancel the run; or, while it is still being started, the start."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            return
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

    def _begin(self, start: Coroutine[Any, Any, Any]) -> None:
        """Start a run in the background; until it runs (the runtime may be starting), the
        panel says so and Stop cancels the start."""
        self.panel.set_controls(active=True, at_breakpoint=False)
        self.panel.set_status("Connecting to the runtime…")
        self._starting = self.spawn(start)
        if self._starting is not None:
            self._starting.add_done_callback(self._start_ended)

    def _start_ended(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            reported = self.panel.status.text()  # a failure is reported first (see spawn)
            self._show_state()  # the controls as they were
            self.panel.set_status("Start cancelled" if task.cancelled() else reported)

    async def _start(self, *, debug: bool) -> None:
        breakpoints = sorted(self.breakpoints) if debug else None
        await self._launch(self.panel.payload(), self.panel.trigger_id(), breakpoints=breakpoints)
        self.run_dock.raise_()

    async def _run_from(self, earlier: RunState, node_id: str) -> None:
        client = await self.connection.ensure()
        payload = (await client.run(earlier.run_id))["input"]
        await self._launch(payload, earlier.trigger, from_run=earlier.run_id, from_node=node_id)

    async def _launch(self, payload: Any, trigger: str | None, **options: Any) -> str | None:
        """Start a run of the open flow and follow it; Stop cancels a start that takes long
        (the runtime starting, a slow network)."""
        if self.scene is None:
            return None
        flow = self.scene.document.flow
        client = await self.connection.ensure()
        self.panel.set_status("Starting the run…")
        run_id = await client.start_run(to_document(flow), payload, trigger=trigger, **options)
        self.follow(RunState(run_id, flow))
        self.refresh_history()
        return run_id

    # ------------------------------------------------------------------------------- chat

    def send_message(self, text: str) -> None:
        """The chat's message: the answer the current run waits for, else a new run."""
        text = text.strip()
        if not text or self.scene is None:
            return
        self.chat.add(Line("user", text))
        state, waiting = self.state, self.conversation.waiting_for_text(self.state)
        if state is not None and waiting is not None:
            self.spawn(self._call(lambda c: c.resume(state.run_id, waiting, code=text)))
            return
        trigger = message_trigger(self.scene.document.flow)
        if trigger is None:
            self.report("this flow has no message trigger to send chat messages to")
            return
        self._begin(self._start_chat(trigger, text))

    async def _start_chat(self, trigger: str, text: str) -> None:
        run_id = await self._launch(self.conversation.payload(text), trigger)
        if run_id is not None:
            self.conversation.runs.append(run_id)  # before its first event: nothing awaited

    def new_conversation(self) -> None:
        self.conversation = Conversation(self.conversation.user_name)
        self.chat.start(self.conversation)

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
        self._follow_task = task

    async def _stream(self, state: RunState) -> None:
        """Apply the run's events as they come; after a drop, catch up from the last seq. A
        runtime that stopped answering is started again (a durable run goes on in it)."""
        failures = 0
        generation = self.connection.generation
        while not state.finished:
            client = await self.connection.ensure()
            if self.connection.generation != generation:
                generation = self.connection.generation
                state = self._read_again(state)
            try:
                async for event in client.events(state.run_id, after=state.last_seq):
                    if state.apply(event):
                        failures = 0
                        self._show_state()
                if not state.finished:
                    await self._settle_if_over(client, state)
                    failures += 1
            except ApiError as exc:
                if exc.status not in (0, 502, 503, 504):
                    raise
                failures += 1
                await self.connection.check()
            except Exception as exc:  # the connection dropped mid-stream
                failures += 1
                self.panel.set_status(f"Reconnecting to the run's events ({readable(exc)})…")
                await self.connection.check()
            if failures > MAX_STREAM_RETRIES:
                raise RuntimeUnavailable("lost the run's event stream; open it from the history")
            if failures and not state.finished:
                await asyncio.sleep(min(2.0, 0.1 * failures))
        self.refresh_history()

    def _read_again(self, state: RunState) -> RunState:
        """Another runtime process serves the run now. Events its predecessor streamed but never
        saved were numbered again by the run's recovery, so the run is read from its start."""
        fresh = RunState(state.run_id, state.flow)
        if self.state is state:
            self.state = fresh
            self.overlay.show_run(fresh)
        return fresh

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
        self.panel.set_status(state.summary())
        for line in self.conversation.unseen(state):
            self.chat.add(line)

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
        self.history.show_runs(runs, self.state)

    # ------------------------------------------------------------------------- connection

    def _connection_changed(self, state: str) -> None:
        text, restart = f"Runtime: {state}", self.connection.last_restart
        if restart is not None and state in ("restarting", "connected"):
            when, why = restart
            text += f" · restarted at {time.strftime('%H:%M', time.localtime(when))} ({why})"
            self.runtime_label.setToolTip(f"Why, and what the runtime said: {runtime_log()}")
        if state == "stopped" and self.connection.restartable:
            text = "Runtime: local (it starts with the next run)"
        if self.connection.port_notice and state == "connected":
            text += f" · {self.connection.port_notice}"
        self.runtime_label.setText(text)
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
