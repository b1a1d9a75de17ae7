"""`aerostudio serve` as a real process for the tests of what the API refuses: once on SQLite in
its data directory and once on a fresh database of the private PostgreSQL cluster, since the two
refuse different things (a NUL character, an over-long string) unless the API refuses first.

The server runs with an empty PATH: a server configuration a test gives can name any command,
and none may start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from tests.postgres import new_database

DATABASES = ["sqlite", "postgresql"]


class Served(NamedTuple):
    url: str
    token: str  # the first admin's

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


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
    env = {
        **os.environ,
        "AEROSTUDIO_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PATH": str(empty),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--port", "0", *db],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stdout is not None
    token = process.stdout.readline().strip().removeprefix("admin token: ")
    url = process.stdout.readline().strip().removeprefix("aerostudio serve at ")
    try:
        assert token.startswith("aero_") and url.startswith("http://"), (token, url)
        yield Served(url, token)
    finally:
        process.terminate()
        assert process.wait(30) == 0
