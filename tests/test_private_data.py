"""The data folder is private: what was left readable is tightened at first use, others' files
and what links point to are left alone, and a shared sticky folder is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine import paths
from engine.store.db import create_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_first_use_tightens_what_an_older_version_left_open(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "outbox").mkdir(parents=True)
    for path, mode in ((home, 0o755), (home / "outbox", 0o775)):
        path.chmod(mode)
    files = {home / "runs.sqlite": 0o644, home / "outbox" / "1.eml": 0o664, home / "run.sh": 0o755}
    for path, mode in files.items():
        path.write_text("x")
        path.chmod(mode)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not ours")
    outside.chmod(0o644)
    (home / "link").symlink_to(outside)
    monkeypatch.setenv("AEROSTUDIO_HOME", str(home))
    monkeypatch.setattr(paths, "_secured", set())
    assert paths.data_dir() == home
    assert (_mode(home), _mode(home / "outbox")) == (0o700, 0o700)
    assert [_mode(p) for p in files] == [0o600, 0o600, 0o700]
    assert _mode(outside) == 0o644  # a link's target is not ours to change


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a file of another user")
def test_another_users_file_is_left_alone(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    theirs = home / "theirs.txt"
    theirs.write_text("x")
    theirs.chmod(0o644)
    os.chown(theirs, 65534, 65534)
    paths.make_private(home)
    assert _mode(theirs) == 0o644


def test_a_new_data_folder_and_its_databases_are_private(tmp_path, monkeypatch):
    home = tmp_path / "a" / "home"
    monkeypatch.setenv("AEROSTUDIO_HOME", str(home))
    monkeypatch.setattr(paths, "_secured", set())
    old = os.umask(0o022)
    try:
        created = paths.data_dir()
        engine = create_engine(f"sqlite:///{created / 'runs.sqlite'}")
        with engine.connect() as db:
            db.exec_driver_sql("CREATE TABLE t (x)")
            db.commit()
            modes = {p.name: _mode(p) for p in home.iterdir()}  # while SQLite has its WAL
        engine.dispose()
    finally:
        os.umask(old)
    assert _mode(home) == 0o700
    assert modes == {"runs.sqlite": 0o600, "runs.sqlite-wal": 0o600, "runs.sqlite-shm": 0o600}


def test_a_shared_sticky_folder_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setenv("AEROSTUDIO_HOME", str(shared))
    monkeypatch.setattr(paths, "_secured", set())
    with pytest.raises(paths.SharedDataDir, match="a folder of its own"):
        paths.data_dir()
    assert _mode(shared) == 0o1777
