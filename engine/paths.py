"""Where Aerostudio keeps its data and finds its bundled resources."""

from __future__ import annotations

import os
import stat
from pathlib import Path

_ENGINE_DIR = Path(__file__).resolve().parent


class SharedDataDir(ValueError):
    """The data directory is a folder others write to (like /tmp): secrets must not go there."""


_secured: set[Path] = set()


def data_dir() -> Path:
    """The data directory: `AEROSTUDIO_HOME`, else the platform's user data directory. It is
    private to its owner: created 0700, and the first time a process uses it, it and everything
    of ours in it lose any access by group or others (files 0600, folders 0700)."""
    override = os.environ.get("AEROSTUDIO_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir("aerostudio", appauthor=False))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path not in _secured:
        make_private(path)
        _secured.add(path)
    return path


def make_private(root: Path) -> None:
    """Take group and other access away from `root` and what this user owns beneath it (links
    are not followed). A shared folder with the sticky bit is refused, not changed."""
    info = root.stat()
    if info.st_mode & stat.S_ISVTX:
        raise SharedDataDir(
            f"AEROSTUDIO_HOME={root} is a shared folder (sticky bit, like /tmp): give Aerostudio "
            "a folder of its own"
        )
    me = os.geteuid()
    _tighten(root, info, me)
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            entry = Path(folder) / name
            try:
                _tighten(entry, entry.lstat(), me)
            except OSError:
                continue  # gone meanwhile


def _tighten(path: Path, info: os.stat_result, owner: int) -> None:
    if info.st_uid != owner or not info.st_mode & 0o077:
        return
    if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
        path.chmod(stat.S_IMODE(info.st_mode) & 0o700)


def private_file(path: Path) -> Path:
    """`path`, created empty with mode 0600 if missing, else made 0600 if it was looser: a file
    whose later writers (SQLite, DBOS, a lock) would create it with the process's umask."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        info = path.stat()
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            path.chmod(stat.S_IMODE(info.st_mode) & 0o700)
    return path


def resources_dir() -> Path:
    """The bundled resources: the source tree's `resources/`, or its copy inside a wheel."""
    for candidate in (_ENGINE_DIR.parent / "resources", _ENGINE_DIR / "_resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("Aerostudio's resources folder is missing from this installation")


def examples_dir() -> Path:
    return resources_dir() / "examples"
