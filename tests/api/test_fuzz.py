"""Schemathesis over the engine API's own OpenAPI document, against a real `aerostudio serve` on
loopback with an admin token, on SQLite and on PostgreSQL (tests/api/served.py): no input, valid
for the schema or not, makes any operation answer a server error (5xx).

`AEROSTUDIO_FUZZ_EXAMPLES` raises the examples per operation for a longer hunt.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

pytestmark = pytest.mark.timeout(300)
EXAMPLES = int(os.environ.get("AEROSTUDIO_FUZZ_EXAMPLES", "5"))


def test_no_input_makes_an_operation_fail(served):
    schema = schemathesis.openapi.from_url(f"{served.url}/api/openapi.json")
    admin = served.admin
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
