"""Schemathesis over the engine API's own OpenAPI document, against a real `aerostudio serve` on
loopback with an admin token: no input, valid for the schema or not, makes any operation answer
a server error (5xx).

The server runs with an empty PATH: a generated server configuration can name any command, and
none may start. `AEROSTUDIO_FUZZ_EXAMPLES` raises the examples per operation for a longer hunt.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

pytestmark = pytest.mark.timeout(300)
EXAMPLES = int(os.environ.get("AEROSTUDIO_FUZZ_EXAMPLES", "5"))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """`aerostudio serve` in a private data directory: its URL and its admin token."""
    home = tmp_path_factory.mktemp("fuzz")
    empty = home / "no-commands"
    empty.mkdir()
    env = {
        **os.environ,
        "AEROSTUDIO_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PATH": str(empty),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stdout is not None
    token = process.stdout.readline().strip().removeprefix("admin token: ")
    url = process.stdout.readline().strip().removeprefix("aerostudio serve at ")
    try:
        assert token.startswith("aero_") and url.startswith("http://"), (token, url)
        yield url, token
    finally:
        process.terminate()
        assert process.wait(30) == 0


def test_no_input_makes_an_operation_fail(server):
    url, token = server
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    admin = {"Authorization": f"Bearer {token}"}
    failures = []
    for operation in (result.ok() for result in schema.get_all_operations()):
        for mode in GenerationMode:

            @given(case=operation.as_strategy(mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def answers_without_a_server_error(case):
                response = case.call(headers=admin, timeout=60)
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} -> {response.status_code} "
                    f"{response.text[:300]}\n{case.as_curl_command(headers=admin)}"
                )

            try:
                answers_without_a_server_error()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing there to make invalid
            except AssertionError as exc:
                failures.append(f"{mode}: {exc}")
    assert not failures, "\n\n".join(failures)
