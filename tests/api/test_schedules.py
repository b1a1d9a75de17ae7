"""Cron schedules of deployed flows: ticks in a time zone across daylight saving changes, runs
started on a real runtime at each tick, once per tick however many schedulers share the
database (SQLite and PostgreSQL), missed ticks, and deactivation."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from engine.api.app import EngineApi
from engine.api.client import ApiClient
from engine.api.deployments import Deployments
from engine.api.schedules import Cron, Scheduler, tick_run_id
from engine.flow import from_document
from engine.run.durable import DurableRuntime
from engine.store import create_engine, migrate
from engine.store.migrate import VERSION
from engine.store.tables import deployments, schedule_ticks, settings
from tests.flow.builders import document, edge, end, trigger
from tests.gateway.conftest import serving
from tests.gateway_fixtures import temporary_gateway

pytestmark = [pytest.mark.timeout(120)]
TOKEN = "admin-token-for-tests"


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


def utc(tick: float) -> str:
    return datetime.fromtimestamp(tick, UTC).strftime("%Y-%m-%d %H:%M:%S")


def scheduled(flow_id: str, cron: str = "* * * * * *", timezone: str = "UTC") -> dict:
    schedule = {"cron": cron, "timezone": timezone, "input": {"who": flow_id}}
    return document(
        [trigger(kind="schedule", schedule=schedule), end("done", "{{ input.who }}")],
        [edge("start", "done")],
        id=flow_id,
    )


async def until(check, what: str, timeout_s: float = 30):
    """Poll `check` (sync) until it returns something true."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def ticks(engine: sa.Engine, flow_id: str) -> list[sa.Row]:
    with engine.connect() as db:
        return db.execute(
            schedule_ticks.select()
            .where(schedule_ticks.c.flow_id == flow_id)
            .order_by(schedule_ticks.c.tick)
        ).all()


# ----------------------------------------------------------------------------- tick computing


def test_a_daily_time_follows_the_zone_across_daylight_saving():
    cron = Cron("0 9 * * *", "Europe/Paris")
    first = cron.next_after(at(2025, 3, 28, 12))
    second = cron.next_after(first)
    third = cron.next_after(second)
    assert [utc(t) for t in (first, second, third)] == [
        "2025-03-29 08:00:00",  # CET, UTC+1
        "2025-03-30 07:00:00",  # CEST from that night on, UTC+2
        "2025-03-31 07:00:00",
    ]


def test_a_time_the_clocks_skip_runs_right_after_the_jump():
    cron = Cron("30 2 * * *", "Europe/Paris")  # 02:00 -> 03:00 on 2025-03-30
    tick = cron.next_after(at(2025, 3, 29, 12))
    assert utc(tick) == "2025-03-30 01:00:00"  # 03:00 CEST
    assert utc(cron.next_after(tick)) == "2025-03-31 00:30:00"


def test_a_time_the_clocks_repeat_runs_once():
    cron = Cron("30 2 * * *", "Europe/Paris")  # 03:00 -> 02:00 on 2025-10-26
    tick = cron.next_after(at(2025, 10, 25, 12))
    assert utc(tick) == "2025-10-26 00:30:00"  # the first 02:30, CEST
    assert utc(cron.next_after(tick)) == "2025-10-27 01:30:00"
    # during the repeated hour, the latest tick is still the first 02:30
    assert cron.latest(at(2025, 10, 26, 1, 45)) == tick


def test_an_hourly_schedule_keeps_real_time_through_the_repeated_hour():
    cron = Cron("0 * * * *", "Europe/Paris")
    tick, seen = at(2025, 10, 25, 22, 30), []
    for _ in range(4):
        tick = cron.next_after(tick)
        seen.append(utc(tick))
    assert seen == [
        "2025-10-25 23:00:00",
        "2025-10-26 00:00:00",  # 02:00 CEST
        "2025-10-26 01:00:00",  # 02:00 CET
        "2025-10-26 02:00:00",
    ]


def test_seconds_are_the_sixth_field_and_latest_includes_the_moment_itself():
    cron = Cron("* * * * * */15", "America/New_York")
    assert utc(cron.next_after(at(2025, 1, 1, 0, 0, 1))) == "2025-01-01 00:00:15"
    assert utc(cron.latest(at(2025, 1, 1, 0, 0, 44))) == "2025-01-01 00:00:30"
    assert utc(cron.latest(at(2025, 1, 1, 0, 0, 45))) == "2025-01-01 00:00:45"
    assert utc(cron.latest(at(2025, 1, 1, 0, 0, 45) + 0.9)) == "2025-01-01 00:00:45"


def test_bad_expressions_are_named():
    with pytest.raises(ValueError, match="'61 \\* \\* \\* \\*' is not a valid cron expression"):
        Cron("61 * * * *")


def test_a_tick_s_run_id_is_the_same_everywhere_and_differs_per_tick():
    one = tick_run_id("flow", "start", 1_800_000_000)
    assert one == tick_run_id("flow", "start", 1_800_000_000)
    assert len(one) == 32
    assert (
        len(
            {
                one,
                tick_run_id("flow", "start", 1_800_000_001),
                tick_run_id("flow", "other", 1_800_000_000),
                tick_run_id("flow2", "start", 1_800_000_000),
            }
        )
        == 4
    )


def test_a_version_3_database_gains_activation_times_and_the_ticks_table(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    migrate(engine)
    with engine.begin() as db:
        schedule_ticks.drop(db)
        db.execute(sa.text("ALTER TABLE aero_deployments DROP COLUMN activated_at"))
        db.execute(
            deployments.insert().values(
                flow_id="kept", version=1, hash="h", flow="{}", active=True, created_at=1.0
            )
        )
        db.execute(settings.update().values(value=3))
    assert migrate(engine) == VERSION
    inspector = sa.inspect(engine)
    assert "aero_schedule_ticks" in inspector.get_table_names()
    assert "activated_at" in {c["name"] for c in inspector.get_columns("aero_deployments")}
    assert Deployments(engine).active_versions() == {"kept": (1, None)}


# ------------------------------------------------------------------------ on a real runtime


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def api(tmp_path, monkeypatch):
    """The engine API over HTTP on a real durable runtime; yields (client, EngineApi)."""
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path / "home"))
    gateway = temporary_gateway(tmp_path)
    runtime = DurableRuntime(f"sqlite:///{tmp_path / 'runs.sqlite'}", poll_s=0.02)
    runtime.launch()
    engine_api = EngineApi(runtime, gateway, TOKEN)
    try:
        async with serving(engine_api.app) as base, ApiClient(base, TOKEN) as client:
            yield client, engine_api
    finally:
        await runtime.aclose()


def finished(runtime: DurableRuntime, flow_id: str) -> list[dict]:
    rows = runtime.store.list_runs(1000, flow_id)
    return [r for r in rows if r["status"] == "succeeded"]


@pytest.mark.anyio
async def test_a_per_second_schedule_runs_at_its_ticks_in_its_zone_until_deactivated(api):
    client, engine_api = api
    runtime = engine_api.runtime
    hour = datetime.now(ZoneInfo("Asia/Kolkata")).hour  # UTC+5:30: never the UTC hour
    hours = f"{hour},{(hour + 1) % 24}"
    await client.deploy(scheduled("tick", f"* {hours} * * * *", "Asia/Kolkata"))
    await client.deploy(scheduled("clock"))

    await until(lambda: len(finished(runtime, "tick")) >= 3, "three scheduled runs")
    claimed = ticks(engine_api.deployments.engine, "tick")
    for row in claimed:
        assert row.run_id == tick_run_id("tick", "start", row.tick)
        run = runtime.store.run(row.run_id)
        assert run is not None
        assert run["input"] == {"who": "tick"}
        assert row.tick <= run["created_at"] < row.tick + 5  # never early, and on time
    done = [runtime.store.run(r["run_id"]) for r in finished(runtime, "tick")]
    assert {r["output"] for r in done} == {"tick"}

    await client.deactivate("tick")
    await until(lambda: ("tick", "start") not in engine_api.scheduler.schedules, "unscheduling")
    count, clock = len(runtime.store.list_runs(1000, "tick")), len(finished(runtime, "clock"))
    await until(lambda: len(finished(runtime, "clock")) >= clock + 2, "two more ticks elsewhere")
    assert len(runtime.store.list_runs(1000, "tick")) == count


class CountedStarts:
    """The real runtime, with the run ids schedulers asked it to start, in order."""

    def __init__(self, runtime: DurableRuntime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.asked: list[str] = []

    async def submit(self, flow, payload=None, **options):
        self.asked.append(options["run_id"])
        return await self.runtime.submit(flow, payload, **options)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db(request, tmp_path) -> str:
    """The database two schedulers share (deployments and claimed ticks)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def runtime(tmp_path):
    async with DurableRuntime(f"sqlite:///{tmp_path / 'runs.sqlite'}", poll_s=0.02) as runtime:
        yield runtime


def two_schedulers(url: str, runtime) -> tuple[Scheduler, Scheduler]:
    """Two schedulers, each with its own connections to the one database."""
    first, second = Deployments(create_engine(url)), Deployments(create_engine(url))
    migrate(first.engine)
    return Scheduler(first, runtime), Scheduler(second, runtime)


def deploy(deployments_: Deployments, doc: dict) -> None:
    deployment, _ = deployments_.deploy(from_document(doc))
    deployments_.activate(deployment.flow_id, deployment.version)


@pytest.mark.anyio
async def test_two_schedulers_on_one_database_run_each_tick_once(shared_db, runtime):
    starts = CountedStarts(runtime)
    one, two = two_schedulers(shared_db, starts)
    deploy(one.deployments, scheduled("shared"))
    async with one.running(), two.running():
        await until(lambda: len(finished(runtime, "shared")) >= 3, "three scheduled runs")
    claimed = ticks(one.deployments.engine, "shared")
    assert len(starts.asked) == len(set(starts.asked))  # no tick was started twice
    assert sorted(starts.asked) == sorted(r.run_id for r in claimed)
    assert all(r.started_at is not None for r in claimed)
    assert {r["run_id"] for r in runtime.store.list_runs(1000, "shared")} == set(starts.asked)


@pytest.mark.anyio
async def test_a_tick_claimed_by_a_runtime_that_died_runs_once(shared_db, runtime):
    starts = CountedStarts(runtime)
    one, two = two_schedulers(shared_db, starts)
    deploy(one.deployments, scheduled("yearly", "0 0 1 1 *"))
    tick = Cron("0 0 1 1 *").latest(time.time())
    run_id = tick_run_id("yearly", "start", tick)
    assert one.deployments.claim_tick("yearly", "start", tick, run_id)  # then it died
    async with one.running(), two.running():
        await until(lambda: finished(runtime, "yearly"), "the claimed tick's run")
        await until(lambda: ticks(one.deployments.engine, "yearly")[0].started_at, "its mark")
    assert [r["run_id"] for r in runtime.store.list_runs(1000, "yearly")] == [run_id]
    assert set(starts.asked) == {run_id}


@pytest.mark.anyio
async def test_missed_ticks_run_once_and_ticks_before_activation_never(tmp_path, runtime):
    deployments_ = Deployments(create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}"))
    migrate(deployments_.engine)
    deploy(deployments_, scheduled("missed", "0 9 * * *", "Europe/Paris"))
    deploy(deployments_, scheduled("fresh", "0 9 * * *", "Europe/Paris"))
    two_days_ago = time.time() - 2 * 86400  # activated, then no runtime ran for two days
    with deployments_.engine.begin() as db:
        db.execute(
            deployments.update()
            .where(deployments.c.flow_id == "missed")
            .values(activated_at=two_days_ago)
        )
    async with Scheduler(deployments_, runtime).running():
        await until(lambda: finished(runtime, "missed"), "the missed tick's run")
    latest = Cron("0 9 * * *", "Europe/Paris").latest(time.time())
    assert [r.tick for r in ticks(deployments_.engine, "missed")] == [latest]
    assert len(runtime.store.list_runs(1000, "missed")) == 1
    assert ticks(deployments_.engine, "fresh") == []
    assert runtime.store.list_runs(1000, "fresh") == []


@pytest.mark.anyio
async def test_a_schedule_that_cannot_run_is_logged_and_others_still_run(tmp_path, runtime, caplog):
    deployments_ = Deployments(create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}"))
    migrate(deployments_.engine)
    deploy(deployments_, scheduled("broken", "0 0 31 2 *"))  # valid, but no 31st of February
    deploy(deployments_, scheduled("fine"))
    with caplog.at_level(logging.ERROR, logger="engine.api.schedules"):
        async with Scheduler(deployments_, runtime).running():
            await until(lambda: finished(runtime, "fine"), "the other schedule's run")
    assert any(
        "flow 'broken', trigger 'start': not scheduled" in r.getMessage()
        and "'0 0 31 2 *'" in r.getMessage()
        for r in caplog.records
    )
    assert runtime.store.list_runs(1000, "broken") == []


@pytest.mark.anyio
async def test_ticks_are_forgotten_after_a_day_but_each_schedule_s_latest(tmp_path):
    deployments_ = Deployments(create_engine(f"sqlite:///{tmp_path / 'app.sqlite'}"))
    migrate(deployments_.engine)
    for tick in (100, 200, 300):
        deployments_.claim_tick("a", "start", tick, f"run-{tick}")
    deployments_.claim_tick("b", "start", 50, "run-b")
    assert not deployments_.claim_tick("a", "start", 200, "again")
    assert deployments_.prune_ticks(time.time() + 1) == 2
    assert deployments_.last_tick("a", "start").tick == 300
    assert [r.tick for r in ticks(deployments_.engine, "a")] == [300]
    assert [r.tick for r in ticks(deployments_.engine, "b")] == [50]
    assert deployments_.prune_ticks(time.time() - 60) == 0
