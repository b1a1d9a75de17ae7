"""File ▸ Deploy… against a real server on loopback: compare, deploy, the endpoint and its curl
example, refusals, roles, cancelling, and where the token is kept."""

from __future__ import annotations

import contextlib
import json
import shlex

import httpx2
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest

from engine.api.client import KEYRING_SERVICE, ApiClient
from studio.document import FlowDocument
from studio.window import MainWindow
from tests.flow.builders import edge, end, flow, trigger
from tests.memory_keyring import memory_keyring, no_keyring
from tests.studio.harness import drive, until
from tests.studio.remote_server import members_server

pytestmark = pytest.mark.timeout(120)


def greet_flow(answer="hi {{ input.name }}", extra_edges=()):
    endpoint = trigger(
        kind="endpoint",
        endpoint={"slug": "greet-api", "auth": "api_key"},
        input_schema={"type": "object", "properties": {"name": {"type": "string"}}},
    )
    return flow(
        [endpoint, end("done", answer)],
        [edge("start", "done"), *extra_edges],
        id="greet",
        name="Greet",
    )


@pytest.fixture
def keyring_backend():
    with memory_keyring() as backend:
        yield backend


@pytest.fixture
def studio(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    window = MainWindow(FlowDocument(greet_flow()))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


@contextlib.asynccontextmanager
async def serving(window, folder):
    """A server for the window; its dialogs are shut down while the loop still runs."""
    async with members_server(folder) as server:
        try:
            yield server
        finally:
            window.remote.shutdown()
            dialog = window.remote.deploy_dialog
            if dialog is not None:
                await until(lambda: not dialog.tasks.running, "the dialog's calls to end")


def deploy_action(window):
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    return next(a for a in file_menu.actions() if a.text() == "&Deploy…")


def fill(dialog, url, token):
    dialog.form.url.setEditText(url)
    dialog.form.token.setText(token)


def click(widget):
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_compare_deploy_then_the_endpoint_answers_and_its_curl_example_copies(
    studio, tmp_path, keyring_backend
):
    async def scenario():
        async with serving(studio, tmp_path) as (url, tokens):
            deploy_action(studio).trigger()
            dialog = studio.remote.deploy_dialog
            assert dialog.isVisible() and not dialog.isModal()
            fill(dialog, url, tokens["developer"])
            click(dialog.compare_button)
            await until(lambda: "not deployed there yet" in dialog.summary.text(), "the compare")

            click(dialog.deploy_button)
            await until(dialog.result_box.isVisible, "the deploy")
            assert "Deployed greet v1" in dialog.outcome.text()
            assert dialog.endpoint.text() == f"{url}/api/run/greet-api"
            curl = dialog.curl.toPlainText()
            assert tokens["developer"] not in curl
            assert '"Authorization: Bearer $AEROSTUDIO_TOKEN"' in curl
            click(dialog.copy_button)
            assert QGuiApplication.clipboard().text() == curl
            # The example is a working command: its URL, headers and body call the endpoint.
            words = shlex.split(curl.replace("\\\n", " "))
            body = json.loads(words[words.index("-d") + 1])
            assert body == {"name": "text"}
            # Calling an endpoint with an API key runs the flow: a developer's (docs/security.md).
            headers = {"Authorization": f"Bearer {tokens['developer']}"}
            async with httpx2.AsyncClient() as http:
                answer = (await http.post(words[3], json=body, headers=headers)).json()
            assert answer["output"] == "hi text"
            assert keyring_backend.passwords[(KEYRING_SERVICE, url)] == tokens["developer"]

            click(dialog.deploy_button)
            await until(lambda: "Unchanged" in dialog.outcome.text(), "the second deploy")
            assert "v1" in dialog.outcome.text()

            studio.document.replace(greet_flow("hello {{ input.name }}"))
            click(dialog.compare_button)
            await until(lambda: "Changes against v1" in dialog.summary.text(), "the diff")
            assert "1 line added, 1 removed" in dialog.summary.text()
            diff = dialog.diff.toPlainText()
            assert '-          "output": "hi {{ input.name }}"' in diff
            assert '+          "output": "hello {{ input.name }}"' in diff

    drive(scenario())


def test_a_flow_with_errors_is_refused_with_its_issues_listed(studio, tmp_path, keyring_backend):
    loop_back = edge("done", "start", edge_id="back")

    async def scenario():
        async with serving(studio, tmp_path) as (url, tokens):
            studio.document.replace(greet_flow(extra_edges=[loop_back]))
            dialog = studio.remote.open_deploy()
            fill(dialog, url, tokens["developer"])
            click(dialog.deploy_button)
            await until(dialog.issues.isVisible, "the refusal")
            lines = [dialog.issues.item(i).text() for i in range(dialog.issues.count())]
            assert any(line.startswith("start") and ": error: " in line for line in lines)
            assert "refused" in dialog.status.message.text()
            assert not dialog.result_box.isVisible()

    drive(scenario())


def test_too_little_role_or_a_wrong_token_is_one_readable_line(studio, tmp_path, keyring_backend):
    async def scenario():
        async with serving(studio, tmp_path) as (url, tokens):
            dialog = studio.remote.open_deploy()
            fill(dialog, url, tokens["viewer"])
            click(dialog.deploy_button)
            await until(lambda: "developer" in dialog.status.message.text(), "the 403")
            assert dialog.deploy_button.isEnabled()
            fill(dialog, url, "aero_wrong")
            click(dialog.compare_button)
            await until(lambda: "token" in dialog.status.message.text(), "the 401")
            assert "aero_wrong" not in dialog.status.message.text()

    drive(scenario())


def test_a_deploy_can_be_cancelled_before_it_lands(studio, tmp_path, keyring_backend):
    async def scenario():
        async with serving(studio, tmp_path) as (url, tokens):
            dialog = studio.remote.open_deploy()
            fill(dialog, url, tokens["developer"])
            click(dialog.deploy_button)
            assert dialog.status.cancel_button.isVisible()
            click(dialog.status.cancel_button)
            await until(dialog.deploy_button.isEnabled, "the deploy button to come back")
            assert dialog.status.message.text().startswith("Cancelled: Deploying greet")
            async with ApiClient(url, tokens["viewer"]) as client:
                assert await client.deployments("greet") == []

    drive(scenario())


def test_without_a_keyring_the_token_is_kept_for_the_session_and_said_so(studio, qtbot):
    with no_keyring():
        dialog = studio.remote.open_deploy()
        fill(dialog, "http://127.0.0.1:9", "aero_session")
        assert dialog.form.remember() == ("http://127.0.0.1:9", "aero_session")
        assert "No keyring" in dialog.form.note.text()
        again = studio.remote.servers
        assert again.urls()[0] == "http://127.0.0.1:9"
        assert again.token("http://127.0.0.1:9") == "aero_session"
        fill(dialog, "flows.example.com", "t")
        with pytest.raises(ValueError, match="Server"):
            dialog.form.values()
