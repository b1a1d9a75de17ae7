"""Autosave and recovery: copies of modified flows, offered back after a crash."""

from __future__ import annotations

import json
import subprocess
import sys

from engine.flow import dumps
from engine.paths import examples_dir
from studio.autosave import Autosave, autosave_dir
from studio.commands import move_nodes_command
from studio.document import FlowDocument
from studio.window import MainWindow


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def _edit(window) -> None:
    window.undo_stack.push(move_nodes_command(window.document, {"screen": (123, 456)}))


def test_an_edit_is_copied_after_a_short_idle(window, qtbot):
    window.autosave._idle.setInterval(10)
    _edit(window)
    qtbot.waitUntil(lambda: window.autosave.copy_path() is not None, timeout=3000)
    copy = window.autosave.copy_path()
    qtbot.waitUntil(copy.exists, timeout=3000)
    assert copy.read_text(encoding="utf-8") == dumps(window.document.flow)
    session = json.loads(window.autosave.session.read_text(encoding="utf-8"))
    assert session["documents"] == {copy.name: str(window.document.path)}


def test_saving_removes_the_copy(window, tmp_path):
    _edit(window)
    window.autosave.save_now()
    copy = window.autosave.copy_path()
    assert copy.exists()
    window.document.save(tmp_path / "saved.flow.json")
    window.autosave.save_now()
    assert not copy.exists()


def test_an_unedited_untitled_flow_is_not_copied(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    main = MainWindow()
    qtbot.addWidget(main)
    main.autosave.save_now()
    assert list(autosave_dir().glob("*.flow.json")) == []


def test_a_clean_close_leaves_nothing_to_recover(window):
    _edit(window)
    window.autosave.save_now()
    window.close()
    assert list(autosave_dir().iterdir()) == []


def test_a_crashed_session_is_offered_back_and_recovered_exactly(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    original = examples_dir() / "support-triage.flow.json"
    crashed = Autosave()
    document = FlowDocument.open(original)
    crashed.track(document)
    move_nodes_command(document, {"screen": (123, 456)}).redo()
    crashed.save_now()
    copy = crashed.copy_path()
    expected = copy.read_bytes()
    assert expected == dumps(document.flow).encode()
    record = json.loads(crashed.session.read_text(encoding="utf-8"))
    crashed.session.write_text(json.dumps({**record, "pid": _dead_pid()}), encoding="utf-8")

    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    assert main.recovery.isVisible()
    assert "support-triage.flow.json" in main.recovery.label.text()
    main.recovery.recover_action.trigger()

    assert dumps(main.document.flow).encode() == expected
    assert main.document.path == original
    assert main.document.modified
    assert not main.recovery.isVisible()
    assert not crashed.session.exists()
    assert main.autosave.copy_path().read_bytes() == expected


def test_discarding_a_crashed_copy_deletes_it(qtbot, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self: True)
    crashed = Autosave()
    document = FlowDocument()
    crashed.track(document)
    move_nodes_command(document, {"start": (10, 10)}).redo()
    crashed.save_now()
    copy = crashed.copy_path()
    assert copy.name == "untitled-1.flow.json"
    crashed.session.write_text(
        json.dumps({"pid": _dead_pid(), "documents": {copy.name: None}}), encoding="utf-8"
    )

    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    assert main.recovery.isVisible()
    main.recovery.discard_action.trigger()
    assert not copy.exists()
    assert not main.recovery.isVisible()
    assert list(autosave_dir().glob("*.session.json")) == [main.autosave.session]


def test_a_running_session_is_not_offered(qtbot, window):
    _edit(window)
    window.autosave.save_now()
    other = Autosave()
    assert other.pending == []
