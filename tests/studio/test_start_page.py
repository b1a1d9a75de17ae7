"""A first start: the start page offers the examples and the recent flows, and the untouched
starter flow is not "modified", so opening an example or File ▸ New never asks to save it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from engine.paths import examples_dir
from studio.commands import move_nodes_command
from studio.window import MainWindow


def never_asked(*args, **kwargs):
    raise AssertionError("asked to save an untouched flow")


def start(qtbot) -> MainWindow:
    window = MainWindow()
    window.resize(1400, 860)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_a_start_without_a_file_shows_the_examples_and_opens_one_without_asking(qtbot, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", never_asked)
    window = start(qtbot)
    page = window.start_page
    assert window.canvas_holder.currentWidget() is page and page.isVisible()
    bundled = {p.name.removesuffix(".flow.json") for p in examples_dir().glob("*.flow.json")}
    assert set(page.examples) == bundled and "support-triage" in bundled
    assert page.examples["support-triage"].text() == "Support triage"
    assert page.examples["support-triage"].description.text().startswith("Screens a customer's")
    assert not window.document.modified and "•" not in window.windowTitle()
    assert page.recent_paths() == []

    qtbot.mouseClick(page.examples["support-triage"], Qt.MouseButton.LeftButton)
    assert window.document.flow.id == "support-triage"
    assert window.canvas_holder.currentWidget() is window.view and not page.isVisible()

    window.show_start_page()  # View ▸ Start page: the example is a recent flow now
    assert page.recent_paths() == [(examples_dir() / "support-triage.flow.json").resolve()]
    qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)  # untouched: no question
    assert window.document.path is None and window.canvas_holder.currentWidget() is window.view


def test_the_starter_is_modified_once_edited_and_not_after_undoing(qtbot, monkeypatch):
    window = start(qtbot)
    qtbot.mouseClick(window.start_page.new_button, Qt.MouseButton.LeftButton)
    assert window.canvas_holder.currentWidget() is window.view
    node_id = window.document.flow.nodes[0].id
    window.undo_stack.push(move_nodes_command(window.document, {node_id: (400, 400)}))
    assert window.document.modified and window.windowTitle().startswith("Untitled flow •")

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    window.new_flow()  # an edited starter is worth asking about; Cancel keeps it
    assert window.document.flow.node(node_id).position == (400, 400)

    window.undo_stack.undo()
    assert not window.document.modified
    monkeypatch.setattr(QMessageBox, "question", never_asked)
    window.open_path(examples_dir() / "delegation.flow.json")
    assert window.document.flow.id == "delegation"
