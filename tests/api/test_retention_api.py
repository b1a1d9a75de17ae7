"""Run retention through the engine API, over HTTP on loopback against a real durable runtime:
the policy is the setting the scheduler applies, pruning keeps paused runs, only admins change
either, and a bad value is refused naming its field."""

from __future__ import annotations

import httpx2
import pytest

from engine.api.app import EngineApi
from engine.api.client import ApiClient, ApiError
from engine.api.members import SERVER
from engine.gateway.tokens import ServerTokens
from engine.run import retention
from engine.run.durable import DurableRuntime
from engine.run.retention import Retention
from tests.api.test_api import TOKEN, _until
from tests.gateway.conftest import serving
from tests.gateway_fixtures import temporary_gateway
from tests.run.test_retention import finished_run, gone, intact, paused_run, quick

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def served(tmp_path, monkeypatch):
    """The API on loopback over a launched runtime: an admin's client, the URL, the runtime
    (to make runs of any age) and the gateway (whose database holds the policy)."""
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    gateway = temporary_gateway(tmp_path)
    runtime = DurableRuntime(f"sqlite:///{tmp_path / 'runs.sqlite'}", poll_s=0.02)
    async with (
        runtime,
        serving(EngineApi(runtime, gateway, TOKEN).app) as base,
        ApiClient(base, TOKEN) as client,
    ):
        yield client, base, runtime, gateway


async def test_pruning_by_the_policy_set_keeps_recent_and_paused_runs(served):
    client, _base, runtime, gateway = served
    assert await client.retention() == {"keep_days": None, "keep_runs": None}
    waiting = await paused_run(runtime, 30)
    old = [await finished_run(runtime, quick("a"), days) for days in (3, 2)]
    recent = [await finished_run(runtime, quick("a"), days) for days in (0.5, 0)]

    assert await client.set_retention(keep_days=1) == {"keep_days": 1, "keep_runs": None}
    assert retention.load(gateway.engine) == Retention(keep_days=1)  # what the scheduler reads
    assert await client.retention() == {"keep_days": 1, "keep_runs": None}
    pruned = await client.prune_runs()

    assert pruned == {"pruned": 2, "run_ids": old, "keep_days": 1, "keep_runs": None}
    assert all(gone(runtime, r) for r in old)
    assert all(intact(runtime, r) for r in [*recent, waiting])
    for run_id in old:
        with pytest.raises(ApiError, match=f"no run '{run_id}'"):
            await client.run(run_id)
    assert (await client.prune_runs())["pruned"] == 0

    await client.set_retention(keep_runs=1)
    assert await client.prune_runs() == {
        "pruned": 1,
        "run_ids": recent[:1],
        "keep_days": None,
        "keep_runs": 1,
    }
    await client.resume(waiting, decision="approve", reviewer="test")  # still answerable
    finished = await _until(client, waiting, lambda e: e["type"] == "run_finished")
    assert finished["output"] == "shipped"


async def test_pruning_with_no_policy_is_refused_and_an_empty_one_keeps_every_run(served):
    client, _base, runtime, gateway = served
    kept = await finished_run(runtime, quick("a"), 400)
    with pytest.raises(ApiError, match="no retention is set") as refused:
        await client.prune_runs()
    assert refused.value.status == 409
    await client.set_retention(keep_runs=5)
    assert await client.set_retention() == {"keep_days": None, "keep_runs": None}
    assert not retention.load(gateway.engine).limited
    with pytest.raises(ApiError, match="no retention is set"):
        await client.prune_runs()
    assert intact(runtime, kept)


async def test_a_viewer_reads_the_policy_but_neither_sets_it_nor_prunes(served):
    client, base, _runtime, gateway = served
    await client.set_retention(keep_days=7)
    viewer = ServerTokens(gateway.engine).create(SERVER, "a viewer", "viewer")[1]
    async with ApiClient(base, viewer) as as_viewer:
        assert await as_viewer.retention() == {"keep_days": 7, "keep_runs": None}
        for refused_call in (as_viewer.set_retention(keep_runs=1), as_viewer.prune_runs()):
            with pytest.raises(ApiError) as refused:
                await refused_call
            assert (refused.value.status, refused.value.body["needs"]) == (403, "admin")
    assert await client.retention() == {"keep_days": 7, "keep_runs": None}


BAD = [
    ({"keep_days": -1}, "keep_days: a finite number of days above 0, not -1"),
    ({"keep_days": "7"}, "keep_days: a number of days, not '7'"),
    ({"keep_days": True}, "keep_days: a number of days, not True"),
    ({"keep_runs": 0}, "keep_runs: at least 1 run per flow, not 0"),
    ({"keep_runs": 2.5}, "keep_runs: a whole number of runs, not 2.5"),
    ({"keep_runs": 2**40}, "keep_runs: at most 2147483647 runs per flow"),
    ({"keep_days": 1, "keep_forever": True}, "keep_forever: not a retention field"),
]


async def test_a_bad_value_is_refused_naming_its_field_and_changes_nothing(served):
    client, base, _runtime, _gateway = served
    await client.set_retention(keep_days=30, keep_runs=100)
    admin = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx2.AsyncClient(base_url=base, headers=admin) as http:
        for body, message in BAD:
            answer = await http.put("/api/retention", json=body)
            assert answer.status_code == 422, body
            assert answer.json()["error"] == "invalid_retention", body
            assert answer.json()["message"].startswith(message), (body, answer.json())
        not_finite = await http.put(
            "/api/retention",
            content=b'{"keep_days": NaN}',
            headers={"Content-Type": "application/json"},
        )
        assert not_finite.status_code == 400  # not JSON at all: NaN is no JSON number
        assert not_finite.json()["error"] == "bad_json"
        not_an_object = await http.put("/api/retention", json=[1])
        assert not_an_object.status_code == 400
    assert await client.retention() == {"keep_days": 30, "keep_runs": 100}
