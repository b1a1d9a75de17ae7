"""`aerostudio serve` as a real process for the tests of what the API refuses: once on SQLite in
its data directory and once on a fresh database of the private PostgreSQL cluster, since the two
refuse different things (a NUL character, an over-long string) unless the API refuses first.

The server runs with an empty PATH: a server configuration a test gives can name any command,
and none may start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.postgres import new_database

DATABASES = ["sqlite", "postgresql"]


class Served(NamedTuple):
    """A running `aerostudio serve`: its address, its first admin's token, its process and its
    data folder."""

    url: str
    token: str
    process: subprocess.Popen[str]
    home: Path

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def serve_env(home: Path, **extra: str) -> dict[str, str]:
    """Our environment, with `home` as the data folder, no keyring, and `extra` on top."""
    return {
        **os.environ,
        "AEROSTUDIO_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        **extra,
    }


def aerostudio(
    home: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`aerostudio ARGS` on the host of the server whose data folder is `home` (with `check`,
    it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        env=serve_env(home),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not check or done.returncode == 0, (args, done.stderr[-2000:])
    return done


def start_serve(
    home: Path, *args: str, token: str = "", stderr: Path | None = None, **env: str
) -> Served:
    """`aerostudio serve ARGS` on a free port of loopback, with `home` as its data folder, these
    environment variables and its stderr into `stderr` (else ours); `token` is the first admin's
    when the database already has one (a first start prints it)."""
    with open(stderr, "w") if stderr else nullcontext(None) as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=sink,
            env=serve_env(home, **env),
            text=True,
        )
    assert process.stdout is not None
    printed = [process.stdout.readline().strip()]
    if printed[0].startswith("admin token: "):  # the first start only
        token = printed[0].removeprefix("admin token: ")
        printed.append(process.stdout.readline().strip())
    url = printed[-1].removeprefix("aerostudio serve at ")
    if not (token.startswith("aero_") and url.startswith("http://")):
        process.kill()
        raise AssertionError(f"aerostudio serve did not start: {printed}")
    return Served(url, token, process, home)


def stop_serve(served: Served, within_s: float = 30) -> float:
    """SIGTERM, and the seconds until the process exited cleanly."""
    began = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(within_s) == 0
    return time.monotonic() - began


@contextmanager
def serving(home: Path, *args: str, **options: Any) -> Iterator[Served]:
    """`start_serve`, stopped cleanly when the block ends."""
    served = start_serve(home, *args, **options)
    try:
        yield served
    finally:
        stop_serve(served)


@pytest.fixture(scope="module", params=DATABASES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`aerostudio serve` in a private data directory, on each database in turn."""
    home = tmp_path_factory.mktemp(f"served-{request.param}")
    empty = home / "no-commands"
    empty.mkdir()
    db = []
    if request.param == "postgresql":
        db = ["--db", new_database(request.getfixturevalue("postgres_server"))]
    with serving(home, *db, PATH=str(empty)) as running:
        yield running
