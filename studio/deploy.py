"""File ▸ Deploy…: the open flow to a runtime server. It shows what would change against the
version deployed there, deploys in the background (cancellable), then gives the URLs the flow
answers on with a curl example to copy. Refusals show the server's issues, node by node.
"""

from __future__ import annotations

import difflib
import json
import shlex
from typing import Any

from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QFontDatabase,
    QGuiApplication,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.api.client import ApiClient, ApiError, Deployment, diff_summary
from engine.flow import Flow, dumps, from_document, to_document
from studio.document import FlowDocument
from studio.remote import SavedServers, ServerForm
from studio.runtime import RuntimeConnection
from studio.workspaces.tasks import StatusLine, Tasks

EXAMPLE_VALUES = {"string": "text", "number": 1, "integer": 1, "boolean": True, "array": []}


def deployed_diff(deployed: dict[str, Any] | None, flow: Flow) -> tuple[str, str]:
    """(a sentence, a unified diff) comparing the active deployed version with `flow`."""
    if deployed is None:
        return f"{flow.id} is not deployed there yet: this would be its version 1.", ""
    version = deployed["version"]
    before = dumps(from_document(deployed["flow"])).splitlines(keepends=True)
    after = dumps(flow).splitlines(keepends=True)
    diff = "".join(difflib.unified_diff(before, after, f"v{version} (deployed)", "this flow"))
    if not diff:
        return f"No changes: v{version} on the server is this flow.", ""
    return f"Changes against v{version} (active): {diff_summary(diff)}.", diff


def _example_input(trigger: Any) -> dict[str, Any]:
    """A payload shaped by the trigger's input schema, for the curl example."""
    schema = trigger.config.get("input_schema") or {}
    properties = schema.get("properties") or {}
    return {
        name: spec.get("default", EXAMPLE_VALUES.get(str(spec.get("type")), {}))
        for name, spec in properties.items()
        if isinstance(spec, dict)
    } or {"text": "hello"}


def curl_example(base_url: str, flow: Flow) -> str:
    """How to call the deployed flow from a shell; the token is an environment variable, never
    the one the studio holds."""
    for node in flow.nodes:
        endpoint = node.config.get("endpoint") or {}
        if node.type == "trigger" and node.config.get("kind") == "endpoint":
            url = f"{base_url}/api/run/{endpoint.get('slug')}"
            lines = [f"curl -X POST {shlex.quote(url)}"]
            if endpoint.get("auth", "api_key") != "public":
                lines.append('-H "Authorization: Bearer $AEROSTUDIO_TOKEN"')
            lines.append("-H 'Content-Type: application/json'")
            lines.append(f"-d {shlex.quote(json.dumps(_example_input(node)))}")
            return " \\\n  ".join(lines)
    for node in flow.nodes:
        if node.type == "trigger" and node.config.get("kind") == "webhook":
            source = (node.config.get("webhook") or {}).get("source", "generic")
            return (
                f"# the sender ({source}) signs each delivery with the webhook's secret\n"
                f"curl -X POST {shlex.quote(f'{base_url}/hooks/{flow.id}')} "
                "-H 'Content-Type: application/json' -d '{}'"
            )
    return (
        "# this flow has no endpoint or webhook trigger: start its runs from the studio,\n"
        "# or with POST /api/runs and a member token"
    )


class DiffHighlighter(QSyntaxHighlighter):
    """Added lines green, removed lines red, file and hunk headers muted."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.formats: dict[str, QTextCharFormat] = {}
        for mark, color in (("+", "#2e9d4f"), ("-", "#d0463b"), ("@", "#8a8f98")):
            text_format = QTextCharFormat()
            text_format.setForeground(QColor(color))
            self.formats[mark] = text_format

    def highlightBlock(self, text: str) -> None:
        header = text.startswith(("+++", "---"))
        text_format = self.formats.get("@" if header else text[:1])
        if text_format is not None:
            self.setFormat(0, len(text), text_format)


def _monospace(widget: QWidget) -> None:
    widget.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))


class DeployDialog(QDialog):
    """Not modal: the user can look at the canvas while it compares or deploys."""

    def __init__(self, servers: SavedServers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: FlowDocument | None = None
        self.connection = RuntimeConnection(self)
        self.tasks = Tasks(self.connection, self)
        self.status = StatusLine(self.tasks)
        self.form = ServerForm(servers)
        self.heading = QLabel("")
        self.summary = QLabel("Compare with the server to see what a deploy would change.")
        self.summary.setWordWrap(True)
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)
        self.diff.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.diff.setPlaceholderText("The differences with the deployed version show here.")
        _monospace(self.diff)
        self.highlighter = DiffHighlighter(self.diff.document())
        self.issues = QListWidget()
        self.issues.setVisible(False)
        self.compare_button = QPushButton("Compare")
        self.compare_button.clicked.connect(self.compare)
        self.deploy_button = QPushButton("Deploy")
        self.deploy_button.setDefault(True)
        self.deploy_button.clicked.connect(self.deploy)
        self.confirming = False  # the server said anyone could start the flow: ask once more
        self.result_box = self._result_box()
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.form)
        actions = QHBoxLayout()
        actions.addWidget(self.compare_button)
        actions.addWidget(self.deploy_button)
        actions.addWidget(self.status, 1)
        layout.addLayout(actions)
        layout.addWidget(self.summary)
        layout.addWidget(self.diff, 1)
        layout.addWidget(self.issues, 1)
        layout.addWidget(self.result_box)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)
        layout.addLayout(bottom)
        self.resize(760, 620)

    def _result_box(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        self.endpoint = QLineEdit()
        self.endpoint.setReadOnly(True)
        self.curl = QPlainTextEdit()
        self.curl.setReadOnly(True)
        self.curl.setMaximumHeight(96)
        _monospace(self.curl)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the curl command")
        self.copy_button.clicked.connect(self.copy_curl)
        endpoint_row = QHBoxLayout()
        endpoint_row.addWidget(QLabel("Endpoint"))
        endpoint_row.addWidget(self.endpoint, 1)
        curl_row = QHBoxLayout()
        curl_row.addWidget(self.curl, 1)
        curl_row.addWidget(self.copy_button)
        layout.addWidget(self.outcome)
        layout.addLayout(endpoint_row)
        layout.addLayout(curl_row)
        box.setVisible(False)
        return box

    # -------------------------------------------------------------------------------- opening

    def open_for(self, document: FlowDocument) -> None:
        """Show the dialog for a window's flow, comparing at once when the server is known."""
        if document is not self.document:
            self.document = document
            self._confirm(False)
            self.result_box.setVisible(False)
            self.issues.setVisible(False)
            self.diff.clear()
        flow = document.flow
        self.heading.setText(f"<b>Deploy {flow.name}</b> ({flow.id})")
        self.setWindowTitle(f"Deploy {flow.name}")
        self.show()
        self.raise_()
        self.activateWindow()
        if self.form.token.text():
            self.compare()

    def _server(self) -> tuple[str, str] | None:
        try:
            url, token = self.form.remember()
        except ValueError as exc:
            self.status.warn(str(exc))
            return None
        self.connection.use(url, token)
        return url, token

    # ------------------------------------------------------------------------------ comparing

    def compare(self) -> None:
        if self.document is None or self._server() is None:
            return
        flow = self.document.flow

        async def deployed(client: ApiClient) -> dict[str, Any] | None:
            try:
                return await client.deployed_flow(flow.id)
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise

        self.tasks.run(
            deployed,
            lambda found: self._show_diff(found, flow),
            long="Comparing with the deployed version…",
            name="compare",
        )

    def _show_diff(self, deployed: dict[str, Any] | None, flow: Flow) -> None:
        sentence, diff = deployed_diff(deployed, flow)
        self.summary.setText(sentence)
        self.diff.setPlainText(diff)
        self.issues.setVisible(False)
        self.diff.setVisible(True)

    # ------------------------------------------------------------------------------ deploying

    def deploy(self) -> None:
        if self.document is None or (server := self._server()) is None:
            return
        flow = self.document.flow
        self.tasks.cancel("compare")

        confirm = self.confirming

        async def upload(client: ApiClient) -> Deployment | ApiError:
            try:
                return await client.deploy(to_document(flow), confirm=confirm)
            except ApiError as exc:
                if exc.status in (409, 422):
                    return exc
                raise

        self.deploy_button.setEnabled(False)
        task = self.tasks.run(
            upload,
            lambda answer: self._deployed(answer, flow, server[0]),
            long=f"Deploying {flow.id} to {server[0]}…",
            name="deploy",
        )
        if task is not None:
            task.add_done_callback(lambda _: self.deploy_button.setEnabled(True))

    def _deployed(self, answer: Deployment | ApiError, flow: Flow, url: str) -> None:
        if isinstance(answer, ApiError):
            self._show_refusal(answer)
            self._confirm(answer.status == 409)
            return
        self._confirm(False)
        version, state = answer["version"], "active" if answer["active"] else "not active"
        if answer["created"]:
            self.outcome.setText(f"<b>Deployed {flow.id} v{version}</b> to {url} ({state}).")
        else:
            self.outcome.setText(f"<b>Unchanged:</b> v{version} on {url} is this flow ({state}).")
        paths = answer.get("endpoints") or []
        self.endpoint.setText(url + paths[0] if paths else "(no endpoint or webhook trigger)")
        self.curl.setPlainText(curl_example(url, flow))
        self.result_box.setVisible(True)
        self.status.say(f"{flow.id} v{version} is deployed")
        self.summary.setText(f"No changes: v{version} on the server is this flow.")
        self.diff.clear()

    def _confirm(self, needed: bool) -> None:
        """The deploy button asks to deploy anyway once the server has said why it should not."""
        self.confirming = needed
        self.deploy_button.setText("Deploy anyway" if needed else "Deploy")

    def _show_refusal(self, refusal: ApiError) -> None:
        issues = (refusal.body or {}).get("issues") if isinstance(refusal.body, dict) else None
        self.status.warn(f"The server refused the flow: {refusal.message}")
        self.issues.clear()
        for issue in issues or []:
            where = ".".join(str(p) for p in (issue.get("node_id"), issue.get("field")) if p)
            self.issues.addItem(f"{where or 'flow'}: {issue['severity']}: {issue['message']}")
        self.issues.setVisible(True)
        self.diff.setVisible(False)
        self.result_box.setVisible(False)

    def copy_curl(self) -> None:
        QGuiApplication.clipboard().setText(self.curl.toPlainText())
        self.status.say("Copied the curl command")

    # -------------------------------------------------------------------------------- closing

    def shutdown(self) -> None:
        self.tasks.shutdown()
        self.connection.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closed: nothing of it keeps running (the server is asked again when it reopens)."""
        self.shutdown()
        super().closeEvent(event)
