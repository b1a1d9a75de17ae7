"""F1 shows every shortcut of the window's actions over the window; Esc or a click closes it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest


def test_f1_shows_the_shortcuts_over_the_window(window, qtbot):
    window.activateWindow()
    QTest.keyClick(window, Qt.Key.Key_F1)
    overlay = window.shortcut_overlay
    qtbot.waitUntil(overlay.isVisible, timeout=2000)
    undo = QKeySequence(QKeySequence.StandardKey.Undo).toString(
        QKeySequence.SequenceFormat.NativeText
    )
    assert ("Undo", undo) in overlay.entries()
    assert "Undo" in overlay.card.text()
    assert undo in overlay.card.text()
    assert overlay.geometry() == window.rect()


def test_escape_closes_the_overlay(window, qtbot):
    window.shortcut_overlay.open()
    QTest.keyClick(window.shortcut_overlay, Qt.Key.Key_Escape)
    assert not window.shortcut_overlay.isVisible()


def test_a_click_closes_the_overlay(window):
    window.shortcut_overlay.open()
    QTest.mouseClick(window.shortcut_overlay, Qt.MouseButton.LeftButton)
    assert not window.shortcut_overlay.isVisible()


def test_the_help_menu_lists_the_shortcuts_action(window):
    menus = {a.text(): a.menu() for a in window.menuBar().actions()}
    texts = [a.text() for a in menus["&Help"].actions()]
    assert "&Keyboard shortcuts" in texts
