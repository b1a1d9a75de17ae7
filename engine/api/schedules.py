"""The runtime's clock: the cron triggers of active deployed flows, and the periodic pruning of
old run data (engine.run.retention).

A flow's `schedule` trigger starts a run with the trigger's input at each tick of its cron
expression (5 fields, or 6 with seconds last) read in its IANA time zone. A tick runs once
however many runtimes share the database: a runtime claims it in `aero_schedule_ticks` (its
primary key is the flow, the trigger and the tick) and only the claimant starts the run. The
run's id is derived from the tick, so if a claimant dies between claiming and starting, the
runtime that recovers the tick and any other that tries collide on the run id instead of
running it twice.

Missed ticks: a schedule never runs a backlog. Ticks missed while no runtime ran, or while a
runtime was too busy to wake on time, run once: the latest of them, as soon as a runtime
notices. Ticks from before the flow's activation never run.

Daylight saving time: ticks are wall-clock times in the zone. A time the clocks skip runs at the
first instant after the jump (02:30 on a spring-forward night runs at 03:00); a time the clocks
repeat runs once, at its first occurrence, unless the hour field is `*` (such a schedule keeps
real-time pace through the repeated hour).

Activation in this process wakes the scheduler at once; activation in another process is seen
within `refresh_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter
from sqlalchemy.exc import IntegrityError

from engine.api.deployments import Deployments
from engine.flow import Flow
from engine.run import retention
from engine.run.durable import DurableRuntime

logger = logging.getLogger(__name__)

TICKS_KEPT_S = 86400.0  # claimed ticks are forgotten after a day, but each schedule's latest
STOP_S = 10.0  # how long stopping waits for the step under way
_RUN_IDS = uuid.UUID("5b0f3f0e-6d1c-4d4e-9a35-6a2c1f8e7b10")


class Cron:
    """A cron expression read in an IANA time zone; ticks are Unix seconds."""

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        if not croniter.is_valid(expression):
            raise ValueError(f"'{expression}' is not a valid cron expression")
        self.expression = expression
        self.zone = ZoneInfo(timezone)
        self._hourly = expression.split()[1] == "*"

    def next_after(self, moment: float) -> int:
        """The first tick after `moment`."""
        ticks = croniter(self.expression, datetime.fromtimestamp(moment, self.zone))
        while True:
            tick = ticks.get_next(datetime)
            if not self._repeated(tick):
                return int(tick.timestamp())

    def latest(self, moment: float) -> int:
        """The last tick at or before `moment`."""
        start = datetime.fromtimestamp(math.floor(moment) + 1, self.zone)
        ticks = croniter(self.expression, start)
        while True:
            tick = ticks.get_prev(datetime)
            if not self._repeated(tick):
                return int(tick.timestamp())

    def _repeated(self, tick: datetime) -> bool:
        """Whether the tick is the second occurrence of a wall time the clocks repeat, which a
        schedule with a fixed hour skips."""
        if self._hourly:
            return False
        wall = tick.replace(tzinfo=None)
        first = wall.replace(tzinfo=self.zone, fold=0)
        second = wall.replace(tzinfo=self.zone, fold=1)
        return first.utcoffset() != second.utcoffset() and tick.timestamp() != first.timestamp()


def tick_run_id(flow_id: str, trigger: str, tick: int) -> str:
    """The run a schedule's tick starts: the same in every process."""
    return uuid.uuid5(_RUN_IDS, f"{flow_id}\n{trigger}\n{tick}").hex


@dataclass
class Schedule:
    """One schedule trigger of an active flow, and where it stands."""

    flow: Flow
    trigger: str
    cron: Cron
    input: dict[str, Any]
    after: float  # the latest tick handled, or the activation: only later ticks run
    next: int  # the first tick after `after`


class Scheduler:
    """Runs the schedules of the active deployments on a runtime while `running`: it sleeps
    until the next tick (or a change of the deployments, or the next pruning) and no longer."""

    def __init__(
        self,
        deployments: Deployments,
        runtime: DurableRuntime,
        *,
        refresh_s: float = 2.0,
        prune_every_s: float = 3600.0,
    ) -> None:
        self.deployments = deployments
        self.runtime = runtime
        self.refresh_s = refresh_s
        self.prune_every_s = prune_every_s
        self.schedules: dict[tuple[str, str], Schedule] = {}
        self._versions: dict[str, tuple[int, float | None]] = {}
        self._changed = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look at the deployments again now (callable from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._changed.set)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Scheduler]:
        """Schedule in the background while the block runs. On the way out the step under way
        (a claim, a run being started) finishes first, so no tick is left half started; one
        that hangs longer than STOP_S is cancelled."""
        self._loop, self._stopping = asyncio.get_running_loop(), False
        self.deployments.listeners.append(self.wake)
        task = asyncio.ensure_future(self._run())
        try:
            yield self
        finally:
            self.deployments.listeners.remove(self.wake)
            self._stopping = True
            self._changed.set()
            if not (await asyncio.wait({task}, timeout=STOP_S))[0]:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._loop = None

    async def _run(self) -> None:
        refresh_at = prune_at = 0.0
        while not self._stopping:
            now = time.time()
            if self._changed.is_set() or now >= refresh_at:
                self._changed.clear()
                await self._guarded(self._refresh(now), "reading the active deployments")
                refresh_at = now + self.refresh_s
            if now >= prune_at and not self._stopping:
                await self._guarded(self._prune(now), "pruning old runs")
                prune_at = now + self.prune_every_s
            for schedule in list(self.schedules.values()):
                if schedule.next <= now and not self._stopping:
                    await self._guarded(self._tick(schedule, now), f"flow '{schedule.flow.id}'")
            wake_at = min([refresh_at, prune_at, *(s.next for s in self.schedules.values())])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.0, wake_at - time.time()))

    @staticmethod
    async def _guarded(step: Awaitable[None], what: str) -> None:
        """A failed step (the database away, say) is logged and tried again later; the
        scheduler goes on."""
        try:
            await step
        except Exception:
            logger.exception("scheduler: %s failed", what)

    # ---------------------------------------------------------------------------- schedules

    async def _refresh(self, now: float) -> None:
        """Register the schedules of flows activated since the last look, drop those of flows
        deactivated."""
        versions = await asyncio.to_thread(self.deployments.active_versions)
        for flow_id in sorted(set(self._versions) | set(versions)):
            if self._versions.get(flow_id) == versions.get(flow_id):
                continue
            for key in [k for k in self.schedules if k[0] == flow_id]:
                del self.schedules[key]
            self._versions.pop(flow_id, None)
            if flow_id in versions:
                await self._register(flow_id, *versions[flow_id], now)
                self._versions[flow_id] = versions[flow_id]

    async def _register(
        self, flow_id: str, version: int, activated_at: float | None, now: float
    ) -> None:
        flow = await asyncio.to_thread(self.deployments.flow, flow_id, version)
        for node in flow.nodes:
            settings = node.config.get("schedule") if node.type == "trigger" else None
            if node.config.get("kind") != "schedule" or not settings:
                continue
            try:
                cron = Cron(settings["cron"], settings.get("timezone", "UTC"))
                cron.next_after(now)  # an expression no date matches fails here
            except (ValueError, CroniterError) as exc:
                logger.error(
                    "flow '%s', trigger '%s': not scheduled: cron '%s': %s",
                    flow_id,
                    node.id,
                    settings["cron"],
                    exc,
                )
                continue
            last = await asyncio.to_thread(self.deployments.last_tick, flow_id, node.id)
            after = max(now if activated_at is None else activated_at, last.tick if last else 0)
            schedule = Schedule(
                flow,
                node.id,
                cron,
                dict(settings.get("input") or {}),
                after,
                cron.next_after(after),
            )
            self.schedules[flow_id, node.id] = schedule
            if last is not None and not last.started and cron.latest(now) == last.tick:
                # Claimed but perhaps never started (its claimant died): the run id decides.
                await self._start(schedule, last.tick)

    async def _tick(self, schedule: Schedule, now: float) -> None:
        """Run the latest tick that came due (earlier ones missed since are not run)."""
        tick = schedule.cron.latest(now)
        schedule.after, schedule.next = tick, schedule.cron.next_after(tick)
        run_id = tick_run_id(schedule.flow.id, schedule.trigger, tick)
        claim = partial(self.deployments.claim_tick, schedule.flow.id, schedule.trigger)
        if await asyncio.to_thread(claim, tick, run_id):
            await self._start(schedule, tick)

    async def _start(self, schedule: Schedule, tick: int) -> None:
        flow_id, trigger = schedule.flow.id, schedule.trigger
        run_id = tick_run_id(flow_id, trigger, tick)
        try:
            await self.runtime.submit(schedule.flow, schedule.input, run_id=run_id, trigger=trigger)
        except IntegrityError:
            return  # another runtime started this tick's run
        except Exception:
            logger.exception(
                "flow '%s', trigger '%s': the run of tick %d failed to start",
                flow_id,
                trigger,
                tick,
            )
            return
        await asyncio.to_thread(self.deployments.tick_started, flow_id, trigger, tick)
        logger.info(
            "flow '%s', trigger '%s': tick %d started run %s", flow_id, trigger, tick, run_id
        )

    # ------------------------------------------------------------------------------ pruning

    async def _prune(self, now: float) -> None:
        """Apply the saved run retention, and forget old claimed ticks."""
        policy = await asyncio.to_thread(retention.load, self.deployments.engine)
        if policy.limited:
            pruned = await asyncio.to_thread(self.runtime.prune, policy)
            if pruned:
                logger.info("retention: pruned %d finished runs", len(pruned))
        await asyncio.to_thread(self.deployments.prune_ticks, now - TICKS_KEPT_S)
