"""Runtime servers from the studio: the servers the user works with (their URLs in the
settings, their tokens in the OS keyring), and attaching the run, debug and data panels to a run
on one of them, as they are attached to the local runtime (one protocol, two transports).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.api.client import RunDetail, RunSummary, save_token, saved_token
from engine.flow import FlowLoadError, dumps, from_document
from studio.document import FlowDocument
from studio.runtime import RuntimeConnection
from studio.workspaces.tasks import StatusLine, Tasks

if TYPE_CHECKING:
    from studio.deploy import DeployDialog
    from studio.window import MainWindow

SERVERS_KEY = "remote/servers"
MAX_SERVERS = 10


def server_url(text: str) -> str:
    """A server's base URL as typed, checked and without a trailing slash."""
    url = text.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise ValueError("Server: give the server's address, e.g. https://flows.example.com")
    return url


class SavedServers:
    """The servers deployed to or attached to, most recent first. Tokens go to the OS keyring;
    where none works they are kept for this session only (and the form says so)."""

    session_tokens: ClassVar[dict[str, str]] = {}

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def urls(self) -> list[str]:
        value = self.settings.value(SERVERS_KEY) or []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def token(self, url: str) -> str:
        return saved_token(url) or self.session_tokens.get(url, "")

    def remember(self, url: str, token: str) -> bool:
        """Put the server first in the list and keep its token; True if the keyring has it."""
        urls = [url, *(u for u in self.urls() if u != url)][:MAX_SERVERS]
        self.settings.setValue(SERVERS_KEY, urls)
        self.session_tokens[url] = token
        return save_token(url, token)


class ServerForm(QWidget):
    """Which server, and the member token to use there."""

    def __init__(self, servers: SavedServers) -> None:
        super().__init__()
        self.servers = servers
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.url = QComboBox()
        self.url.setEditable(True)
        self.url.addItems(servers.urls())
        line = self.url.lineEdit()
        assert line is not None  # an editable combo box has its line edit
        line.setPlaceholderText("https://flows.example.com")
        self.url.setMinimumWidth(360)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("a member token of the server (developer or admin)")
        self.note = QLabel("")
        self.note.setObjectName("keyring-note")
        layout.addRow("Server", self.url)
        layout.addRow("Token", self.token)
        layout.addRow("", self.note)
        self.url.currentTextChanged.connect(self._server_chosen)
        self._server_chosen(self.url.currentText())

    def _server_chosen(self, text: str) -> None:
        try:
            saved = self.servers.token(server_url(text))
        except ValueError:
            return
        if saved:
            self.token.setText(saved)

    def values(self) -> tuple[str, str]:
        """(URL, token), or a ValueError naming the field to fix."""
        url = server_url(self.url.currentText())
        token = self.token.text().strip()
        if not token:
            raise ValueError("Token: paste a member token of the server")
        return url, token

    def remember(self) -> tuple[str, str]:
        """The values, saved for next time; the note says where the token is kept."""
        url, token = self.values()
        in_keyring = self.servers.remember(url, token)
        self.note.setText(
            "The token is saved in your keyring."
            if in_keyring
            else "No keyring on this system: the token is kept until the studio closes."
        )
        return url, token


def _started(row: RunSummary) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created_at"]))


class AttachDialog(QDialog):
    """Pick a server, list its runs, attach to one (not modal: the canvas stays usable)."""

    attached = Signal(str, str, dict)
    """(server URL, token, the run's detail) once the run is fetched."""

    def __init__(
        self, servers: SavedServers, confirm: Callable[[], bool], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Attach to a remote run")
        self.confirm = confirm
        self.connection = RuntimeConnection(self)
        self.tasks = Tasks(self.connection, self)
        self.status = StatusLine(self.tasks)
        self.form = ServerForm(servers)
        self.listed_from: tuple[str, str] | None = None
        self.list_button = QPushButton("List runs")
        self.list_button.clicked.connect(self.list_runs)
        self.runs = QTreeWidget()
        self.runs.setHeaderLabels(["Run", "Flow", "Status", "Started"])
        self.runs.setRootIsDecorated(False)
        self.runs.itemDoubleClicked.connect(lambda *_: self.attach())
        self.attach_button = QPushButton("Attach")
        self.attach_button.setDefault(True)
        self.attach_button.clicked.connect(self.attach)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        row = QHBoxLayout()
        row.addWidget(self.list_button)
        row.addWidget(self.status, 1)
        layout.addLayout(row)
        layout.addWidget(self.runs, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.attach_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.resize(720, 440)

    def list_runs(self) -> None:
        try:
            url, token = self.form.remember()
        except ValueError as exc:
            self.status.warn(str(exc))
            return
        self.connection.use(url, token)
        self.listed_from = (url, token)
        self.tasks.run(
            lambda client: client.runs(limit=100),
            self._show_runs,
            long=f"Listing the runs on {url}…",
            name="runs",
        )

    def _show_runs(self, runs: list[RunSummary]) -> None:
        self.runs.clear()
        for row in runs:
            item = QTreeWidgetItem(
                [row["run_id"][:12], row["flow_id"], row["status"], _started(row)]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, row["run_id"])
            self.runs.addTopLevelItem(item)
        first = self.runs.topLevelItem(0)
        if first is not None:
            self.runs.setCurrentItem(first)
        self.status.say(f"{len(runs)} runs on {self.listed_from[0] if self.listed_from else ''}")

    def attach(self) -> None:
        item = self.runs.currentItem()
        if item is None or self.listed_from is None:
            self.status.warn("List the server's runs and choose one to attach to")
            return
        if not self.confirm():  # asked here, in a plain slot: never from an async callback
            return
        run_id = str(item.data(0, Qt.ItemDataRole.UserRole))
        url, token = self.listed_from
        self.connection.use(url, token)  # closing the dialog let go of the server

        def fetched(detail: RunDetail) -> None:
            self.attached.emit(url, token, dict(detail))

        self.tasks.run(
            lambda client: client.run(run_id),
            fetched,
            long=f"Attaching to run {run_id[:8]}…",
            name="attach",
        )

    def shutdown(self) -> None:
        self.tasks.shutdown()
        self.connection.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closed: nothing of it keeps running (the runs are listed again when it reopens)."""
        self.shutdown()
        super().closeEvent(event)


class RemoteEntry(QObject):
    """A window's ways to a server: Run ▸ Attach to remote run… / Pause / Detach, and the
    File ▸ Deploy… dialog. While attached, the window's run session talks to the server."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.servers = SavedServers(window.settings)
        self.server: str | None = None
        self.attach_dialog: AttachDialog | None = None
        self.deploy_dialog: DeployDialog | None = None
        session = window.runs
        menu: QMenu | None = None
        for top in window.menuBar().actions():
            found = top.menu()
            if top.text() == "&Run" and isinstance(found, QMenu):
                menu = found
                break
        self.actions: dict[str, QAction] = {}
        for name, text, shortcut, slot in (
            ("pause", "&Pause", "F6", session.pause),
            ("attach", "&Attach to remote run…", "Ctrl+Shift+A", self.open_attach),
            ("detach", "D&etach from the server", "", self.detach),
        ):
            action = QAction(text, self)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            self.actions[name] = action
        if menu is not None:
            menu.insertActions(session.actions["stop"], [self.actions["pause"]])
            menu.addSeparator()
            menu.addActions([self.actions["attach"], self.actions["detach"]])
        else:
            window.addActions(list(self.actions.values()))
        self.actions["detach"].setEnabled(False)
        session.connection.state_changed.connect(self._show_server)

    # ----------------------------------------------------------------------------- deploying

    def open_deploy(self) -> DeployDialog:
        from studio.deploy import DeployDialog

        if self.deploy_dialog is None:
            self.deploy_dialog = DeployDialog(self.servers, self.window)
        self.deploy_dialog.open_for(self.window.document)
        return self.deploy_dialog

    # ----------------------------------------------------------------------------- attaching

    def open_attach(self) -> AttachDialog:
        if self.attach_dialog is None:
            self.attach_dialog = AttachDialog(
                self.servers, self.window.confirm_discard, self.window
            )
            self.attach_dialog.attached.connect(self.show_remote_run)
        self.attach_dialog.show()
        self.attach_dialog.raise_()
        return self.attach_dialog

    def show_remote_run(self, url: str, token: str, detail: dict[str, Any]) -> None:
        """The run's flow on the canvas, and the panels following the run on its server."""
        try:
            flow = from_document(detail["flow"])
        except FlowLoadError as exc:
            message = f"The run's flow does not load here: {exc}"
            if self.attach_dialog is not None:
                self.attach_dialog.status.warn(message)
            return
        if dumps(self.window.document.flow) != dumps(flow):  # the open file stays if it is it
            self.window.set_document(FlowDocument(flow))
        session = self.window.runs
        self.server = url
        session.connection.use(url, token)
        session.breakpoints = set(detail.get("breakpoints") or []) & set(flow.node_map)
        session.overlay.set_breakpoints(session.breakpoints)
        session.open_run(str(detail["run_id"]))
        session.run_dock.raise_()
        self.actions["detach"].setEnabled(True)
        self._show_server(session.connection.state)
        if self.attach_dialog is not None:
            self.attach_dialog.close()

    def detach(self) -> None:
        """Back to the local runtime; the run's flow stays open."""
        if self.server is None:
            return
        self.server = None
        session = self.window.runs
        session.forget_run()
        session.connection.use_local()
        self.actions["detach"].setEnabled(False)

    def _show_server(self, state: str) -> None:
        """While attached, the status bar names the server, so nobody runs there unaware."""
        if self.server is not None:
            self.window.runs.runtime_label.setText(f"Runtime: {self.server} (remote, {state})")

    def shutdown(self) -> None:
        for dialog in (self.attach_dialog, self.deploy_dialog):
            if dialog is not None:
                dialog.shutdown()
                dialog.close()
