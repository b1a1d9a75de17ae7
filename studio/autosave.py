"""Autosave and recovery.

While the studio runs, a modified flow is copied to `<data dir>/autosave/<name>.flow.json` every
30 s and shortly after each edit. Each running studio keeps a session file there naming its copies
(and the files they belong to); a clean close removes both. A session file whose process is gone
means a crash: the next start offers its copies back in a bar, never a modal dialog.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QToolBar

from engine.flow import Flow, FlowLoadError, load, save
from engine.paths import data_dir
from studio.document import FlowDocument

if TYPE_CHECKING:
    from studio.window import MainWindow

INTERVAL_MS = 30_000
IDLE_MS = 2_000
"""How long after the last edit a copy is written (an edit burst costs one write)."""
SUFFIX = ".flow.json"
_SESSIONS = itertools.count(1)


def autosave_dir() -> Path:
    path = data_dir() / "autosave"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Recoverable:
    """A copy left by a studio that did not close cleanly."""

    copy: Path
    original: Path | None
    session: Path

    @property
    def name(self) -> str:
        return self.original.name if self.original else self.copy.name


def stale_copies(directory: Path) -> list[Recoverable]:
    """The copies of sessions whose process is gone, newest first; empty stale sessions go."""
    found: list[Recoverable] = []
    for session in sorted(directory.glob("*.session.json")):
        record = _read_session(session)
        if _alive(record.get("pid", 0)):
            continue
        copies = [
            Recoverable(directory / key, Path(original) if original else None, session)
            for key, original in record.get("documents", {}).items()
            if (directory / key).is_file()
        ]
        if copies:
            found.extend(copies)
        else:
            session.unlink(missing_ok=True)
    return sorted(found, key=lambda r: r.copy.stat().st_mtime, reverse=True)


def forget(recoverable: Recoverable) -> None:
    """Delete a stale copy (recovered or discarded), and its session once it has none left."""
    recoverable.copy.unlink(missing_ok=True)
    record = _read_session(recoverable.session)
    record.get("documents", {}).pop(recoverable.copy.name, None)
    if record.get("documents"):
        _write_json(recoverable.session, record)
    else:
        recoverable.session.unlink(missing_ok=True)


def recovered_document(recoverable: Recoverable) -> FlowDocument:
    """The copy as a modified document of its original file (untitled if that is gone)."""
    flow = load(recoverable.copy)
    original = recoverable.original
    if original is not None and original.is_file():
        try:
            document = FlowDocument.open(original)
        except FlowLoadError:
            return FlowDocument(flow)
        document.replace(flow)
        return document
    return FlowDocument(flow)


class Autosave(QObject):
    """Copies one window's document while it is modified; `pending` holds what a crash left."""

    def __init__(
        self,
        directory: Path | None = None,
        interval_ms: int = INTERVAL_MS,
        idle_ms: int = IDLE_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.directory = directory or autosave_dir()
        self.pending = stale_copies(self.directory)
        self.session = self.directory / f"{os.getpid()}-{next(_SESSIONS)}.session.json"
        self.document: FlowDocument | None = None
        self._base: str | None = None
        self._key: str | None = None
        self._copies: dict[str, str | None] = {}
        self._pristine: Flow | None = None
        """An untitled document's first content: not worth a copy until edited."""
        self._written: Flow | None = None
        self._write_session()
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.save_now)
        self._timer.start()
        self._idle = QTimer(self, interval=idle_ms, singleShot=True)
        self._idle.timeout.connect(self.save_now)

    def track(self, document: FlowDocument) -> None:
        """Follow `document` from now on; the previous one's copy goes (it was saved or
        discarded)."""
        if self.document is not None:
            self.document.changed.disconnect(self._idle.start)
            self._drop_copy()
        self.document = document
        self._base = self._key = None
        self._pristine = document.flow if document.path is None else None
        self._written = None
        document.changed.connect(self._idle.start)

    def keep(self) -> None:
        """Copy the current document even before it is edited (it came from a copy)."""
        self._pristine = None
        self.save_now()

    def copy_path(self) -> Path | None:
        """Where the current document's copy is (or would be) written."""
        return self.directory / self._key if self._key else None

    def save_now(self) -> None:
        """Write the copy if the document is modified, else remove it."""
        document = self.document
        if document is None:
            return
        base = _base_name(document)
        key = self._key
        if base != self._base or key is None:
            self._drop_copy()
            key = self._free_key(base)
            self._base, self._key = base, key
        if not document.modified or document.flow is self._pristine:
            self._drop_copy()
            return
        if document.flow is self._written and key in self._copies:
            return
        save(document.flow, self.directory / key)
        self._written = document.flow
        self._copies[key] = str(document.path) if document.path else None
        self._write_session()

    def close(self) -> None:
        """A clean close: the copy and the session file go."""
        self._timer.stop()
        self._idle.stop()
        self._drop_copy()
        self.session.unlink(missing_ok=True)

    def _free_key(self, base: str) -> str:
        """`untitled-N` or the path's hash (`-2`, `-3`… while another session's copy has it)."""
        for n in itertools.count(1):
            if base == "untitled":
                key = f"untitled-{n}{SUFFIX}"
            else:
                key = f"{base}{'' if n == 1 else f'-{n}'}{SUFFIX}"
            if key in self._copies or not (self.directory / key).exists():
                return key
        raise AssertionError("unreachable")

    def _drop_copy(self) -> None:
        if self._key in self._copies:
            del self._copies[self._key]
            (self.directory / self._key).unlink(missing_ok=True)
            self._write_session()
        self._written = None

    def _write_session(self) -> None:
        _write_json(self.session, {"pid": os.getpid(), "documents": self._copies})


class RecoveryBar(QToolBar):
    """Offers a crashed session's copies one at a time: Recover opens it, Discard deletes it."""

    def __init__(self, window: MainWindow, autosave: Autosave) -> None:
        super().__init__("Recovery", window)
        self.setObjectName("Recovery")
        self.setMovable(False)
        self.window_ = window
        self.autosave = autosave
        self.label = QLabel()
        self.addWidget(self.label)
        self.recover_action = self.addAction("Recover", self.recover)
        self.discard_action = self.addAction("Discard", self.discard)
        self._show_next()

    def _show_next(self) -> None:
        pending = self.autosave.pending
        if not pending:
            self.hide()
            return
        more = f" ({len(pending) - 1} more after it)" if len(pending) > 1 else ""
        self.label.setText(
            f"Aerostudio did not close properly. Recover unsaved changes to "
            f"{pending[0].name}?{more}  "
        )
        self.show()

    def recover(self) -> None:
        recoverable = self.autosave.pending[0]
        try:
            document = recovered_document(recoverable)
        except FlowLoadError as exc:
            self.window_.statusBar().showMessage(f"Cannot recover: {exc}", 10_000)
            self.discard()
            return
        if not self.window_.confirm_discard():
            return
        self.window_.set_document(document)
        self.autosave.keep()
        self.discard()

    def discard(self) -> None:
        forget(self.autosave.pending.pop(0))
        self._show_next()


def _base_name(document: FlowDocument) -> str:
    if document.path is None:
        return "untitled"
    return hashlib.sha256(str(document.path.resolve()).encode()).hexdigest()[:16]


def _read_session(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_json(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _alive(pid: object) -> bool:
    """Whether process `pid` still runs (an unreadable pid counts as gone)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
