"""The main window: palette, canvas, problems; files, undo and examples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from engine.flow import FlowLoadError, Issue
from engine.paths import examples_dir
from studio import editing, export, theme
from studio.autosave import Autosave, RecoveryBar
from studio.canvas.scene import FlowScene
from studio.canvas.view import FlowView
from studio.document import FlowDocument
from studio.help import ShortcutOverlay
from studio.panels.inspector import Inspector
from studio.panels.palette import Palette
from studio.panels.problems import ProblemsPanel
from studio.recent import RecentMenu
from studio.remote import RemoteEntry
from studio.run_session import RunSession
from studio.start_page import StartPage
from studio.text import plural
from studio.workspaces import WorkspacesEntry

FILE_FILTER = "Aerostudio flows (*.flow.json);;JSON files (*.json)"


class MainWindow(QMainWindow):
    def __init__(self, document: FlowDocument | None = None) -> None:
        super().__init__()
        self.settings = QSettings("Aerostudio", "Aerostudio")
        self.undo_stack = QUndoStack(self)
        self.node_palette = Palette()
        self.problems = ProblemsPanel()
        nodes = self._dock(self.node_palette, "Nodes", Qt.DockWidgetArea.LeftDockWidgetArea)
        problems = self._dock(self.problems, "Problems", Qt.DockWidgetArea.BottomDockWidgetArea)
        self.inspector = Inspector()
        inspector = self._dock(self.inspector, "Inspector", Qt.DockWidgetArea.RightDockWidgetArea)
        self.problems.node_activated.connect(self.show_node)
        self.theme = theme.saved(self.settings)
        theme.apply_to_app(self.theme)
        self.autosave = Autosave(parent=self)
        self._build_menus()
        self.runs = RunSession(self)
        self.workspaces = WorkspacesEntry(self)
        self.remote = RemoteEntry(self)
        self.resize(1400, 860)
        # Each document gets a new canvas inside this one holder: replacing the central widget
        # itself let the docks take the room and left the new canvas a sliver.
        self.canvas_holder = QStackedWidget()
        self.setCentralWidget(self.canvas_holder)
        self.start_page = StartPage(self.settings)
        self.start_page.chosen.connect(self.open_path)
        self.start_page.new_requested.connect(self.new_flow)
        self.start_page.open_requested.connect(self.open_dialog)
        self.canvas_holder.addWidget(self.start_page)
        self.set_document(document or FlowDocument())
        if document is None:
            self.show_start_page()
        self.recovery = RecoveryBar(self, self.autosave)
        self.addToolBar(self.recovery)
        self.shortcut_overlay = ShortcutOverlay(self)
        # The canvas gets the room: a short problems list, a palette whose names read in full, a
        # fair inspector; then whatever layout the user left last time.
        self.resizeDocks([problems], [150], Qt.Orientation.Vertical)
        self.resizeDocks([nodes, inspector], [210, 340], Qt.Orientation.Horizontal)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)

    def _dock(self, widget: QWidget, title: str, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&New", QKeySequence.StandardKey.New, self.new_flow)
        self._action(file_menu, "&Open…", QKeySequence.StandardKey.Open, self.open_dialog)
        self.recent_menu = RecentMenu(self.settings, self.open_path, self)
        file_menu.addMenu(self.recent_menu)
        examples = file_menu.addMenu("Open &example")
        for path in sorted(examples_dir().glob("*.flow.json")):
            action = examples.addAction(path.name.removesuffix(".flow.json"))
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        self._action(file_menu, "&Save", QKeySequence.StandardKey.Save, self.save)
        self._action(file_menu, "Save &as…", QKeySequence.StandardKey.SaveAs, self.save_as)
        self._action(
            file_menu, "&Export image…", QKeySequence("Ctrl+E"), lambda: export.export_dialog(self)
        )
        self._action(
            file_menu, "&Deploy…", QKeySequence("Ctrl+Shift+D"), lambda: self.remote.open_deploy()
        )
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        edit_menu = self.menuBar().addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        edit_menu.addActions([undo, redo])
        edit_menu.addSeparator()
        keys = QKeySequence.StandardKey
        for text, shortcut, operation in (
            ("Cu&t", keys.Cut, editing.cut),
            ("&Copy", keys.Copy, editing.copy),
            ("&Paste", keys.Paste, editing.paste),
            ("&Duplicate", QKeySequence("Ctrl+D"), editing.duplicate),
            ("De&lete", keys.Delete, editing.delete),
        ):
            self._action(edit_menu, text, shortcut, lambda _=False, op=operation: op(self.scene))
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "&Start page", QKeySequence(), self.show_start_page)
        self._action(view_menu, "&Fit to window", QKeySequence("F"), lambda: self.view.fit())
        self.minimap_action = self._action(
            view_menu, "&Minimap", QKeySequence("Ctrl+M"), self._minimap_toggled
        )
        self.minimap_action.setCheckable(True)
        self.minimap_action.setChecked(bool(self.settings.value("view/minimap", True, bool)))
        self._action(
            view_menu, "Zoom &in", QKeySequence.StandardKey.ZoomIn, lambda: self.view.zoom(1.25)
        )
        self._action(
            view_menu, "Zoom &out", QKeySequence.StandardKey.ZoomOut, lambda: self.view.zoom(0.8)
        )
        view_menu.addSeparator()
        self._action(
            view_menu,
            "Auto-&layout",
            QKeySequence("Ctrl+Shift+L"),
            self._auto_layout,
        )
        self.theme_actions = theme.add_menu(view_menu, self.theme, self.set_theme)
        panels = view_menu.addMenu("&Panels")  # a closed dock comes back from here
        panels.aboutToShow.connect(lambda: self._list_panels(panels))
        help_menu = self.menuBar().addMenu("&Help")
        self._action(
            help_menu,
            "&Keyboard shortcuts",
            QKeySequence("F1"),
            lambda: self.shortcut_overlay.open(),
        )

    def _action(
        self,
        menu: QMenu,
        text: str,
        shortcut: QKeySequence | QKeySequence.StandardKey,
        slot: Callable[..., object],
    ) -> QAction:
        action = menu.addAction(text)
        action.setShortcut(shortcut)
        action.triggered.connect(slot)
        return action

    def _list_panels(self, menu: QMenu) -> None:
        """Fill View ▸ Panels with Qt's own dock and toolbar toggles."""
        menu.clear()
        toggles = self.createPopupMenu()
        if toggles is not None:
            menu.addActions(toggles.actions())

    def set_document(self, document: FlowDocument) -> None:
        self.document = document
        self.undo_stack.clear()
        self.scene = FlowScene(document, self.undo_stack)
        theme.apply_to_scene(self.scene, self.theme)
        self.view = FlowView(self.scene)
        # The scene goes with its view, on this thread, when a new document replaces both: left
        # to Python, the old one would wait for a garbage collection, on whatever thread that
        # runs, and a Qt object destroyed off the GUI thread can crash Qt's event dispatch.
        self.scene.setParent(self.view)
        theme.smooth_grid(self.view)
        self.view.minimap.wanted = self.minimap_action.isChecked()
        self.autosave.track(document)
        self.recent_menu.watch(document)
        held = (self.canvas_holder.widget(i) for i in range(self.canvas_holder.count()))
        old_views = [w for w in held if w is not None and w is not self.start_page]
        self.canvas_holder.addWidget(self.view)
        self.canvas_holder.setCurrentWidget(self.view)
        for old_view in old_views:
            self.canvas_holder.removeWidget(old_view)
            old_view.deleteLater()
        self.scene.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.inspector.attach(self.scene)
        self.runs.attach(self.scene)
        document.changed.connect(self._refresh_title)
        document.validated.connect(self._show_issues)
        self._refresh_title()
        self._show_issues(document.issues)

    def _auto_layout(self) -> None:
        """Edit ▸ Auto-layout, then the whole new layout in view."""
        editing.auto_layout(self.scene)
        self.view.fit()

    def _minimap_toggled(self) -> None:
        """View ▸ Minimap: shown while part of the flow is out of view, or never."""
        wanted = self.minimap_action.isChecked()
        self.settings.setValue("view/minimap", wanted)
        self.view.minimap.wanted = wanted
        self.view.minimap.update_visibility()

    def set_theme(self, chosen: theme.Theme) -> None:
        """View ▸ Theme: applied to the whole application and the canvas, and remembered."""
        self.theme = chosen
        theme.remember(self.settings, chosen)
        theme.apply_to_app(chosen)
        theme.apply_to_scene(self.scene, chosen)

    def _refresh_title(self) -> None:
        self.setWindowTitle(f"{self.document.title} — Aerostudio")

    def _show_issues(self, issues: list[Issue]) -> None:
        self.problems.show_issues(issues)
        errors = sum(i.severity == "error" for i in issues)
        self.statusBar().showMessage(
            f"{plural(errors, 'error')}, {plural(len(issues) - errors, 'warning')}"
        )

    def show_node(self, node_id: str) -> None:
        item = self.scene.node_items.get(node_id)
        if item is not None:
            self.scene.clearSelection()
            item.setSelected(True)
            self.view.centerOn(item)

    def confirm_discard(self) -> bool:
        if not self.document.modified:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save changes to {self.document.title.rstrip(' •')}?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def show_start_page(self) -> None:
        """View ▸ Start page (and a start without a file): examples, recent flows, New, Open."""
        self.start_page.refresh()
        self.canvas_holder.setCurrentWidget(self.start_page)

    def new_flow(self) -> None:
        if self.confirm_discard():
            self.set_document(FlowDocument())

    def open_dialog(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open flow", "", FILE_FILTER)
        if name:
            self.open_path(Path(name))

    def open_path(self, path: Path) -> None:
        if not self.confirm_discard():
            return
        try:
            self.set_document(FlowDocument.open(path))
        except FlowLoadError as exc:
            QMessageBox.warning(self, "Cannot open flow", str(exc))

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        self.document.save()
        return True

    def save_as(self) -> bool:
        name, _ = QFileDialog.getSaveFileName(
            self, "Save flow", f"{self.document.flow.id}.flow.json", FILE_FILTER
        )
        if not name:
            return False
        self.document.save(Path(name))
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.confirm_discard():
            self.settings.setValue("window/geometry", self.saveGeometry())
            self.settings.setValue("window/state", self.saveState())
            self.autosave.close()
            self.workspaces.shutdown()
            self.remote.shutdown()
            self.runs.shutdown()
            event.accept()
        else:
            event.ignore()
