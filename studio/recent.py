"""File ▸ Open recent: the last flows opened or saved (at most ten), remembered in QSettings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu, QWidget

from studio.document import FlowDocument

SETTINGS_KEY = "files/recent"
LIMIT = 10


def recent_files(settings: QSettings) -> list[Path]:
    value = settings.value(SETTINGS_KEY, [])
    if isinstance(value, str):  # QSettings gives a one-item list back as its string
        names = [value]
    elif isinstance(value, list | tuple):
        names = [str(name) for name in value]
    else:
        names = []
    return [Path(name) for name in names][:LIMIT]


def add_recent(settings: QSettings, path: Path) -> None:
    """Put `path` first (once)."""
    path = path.resolve()
    files = [path, *(p for p in recent_files(settings) if p != path)][:LIMIT]
    settings.setValue(SETTINGS_KEY, [str(p) for p in files])


class RecentMenu(QMenu):
    """Lists the recent files when opened; choosing one calls `open_path`."""

    def __init__(
        self, settings: QSettings, open_path: Callable[[Path], None], parent: QWidget
    ) -> None:
        super().__init__("Open &recent", parent)
        self.settings = settings
        self.open_path = open_path
        self._document: FlowDocument | None = None
        self._noted: Path | None = None
        self.aboutToShow.connect(self.refresh)
        self.refresh()

    def watch(self, document: FlowDocument) -> None:
        """Remember `document`'s file now and whenever it is saved somewhere else."""
        if self._document is not None:
            self._document.changed.disconnect(self._note)
        self._document, self._noted = document, None
        document.changed.connect(self._note)
        self._note()

    def _note(self) -> None:
        path = self._document.path if self._document else None
        if path is not None and path != self._noted:
            self._noted = path
            add_recent(self.settings, path)

    def _opener(self, path: Path) -> Callable[[], None]:
        return lambda: self.open_path(path)

    def refresh(self) -> None:
        self.clear()
        files = [p for p in recent_files(self.settings) if p.is_file()]
        for path in files:
            action = self.addAction(path.name, self._opener(path))
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
        if not files:
            self.addAction("No recent flows").setEnabled(False)
            return
        self.addSeparator()
        self.addAction("Clear list", self.clear_list)

    def clear_list(self) -> None:
        self.settings.remove(SETTINGS_KEY)
        self.refresh()
