"""Deployed flows: immutable, validated, content-hashed versions per flow id, one of them
active; diffs between versions; the deliveries webhooks received and the schedule ticks
claimed (each runs once)."""

from __future__ import annotations

import difflib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from engine.flow import Flow, dumps, has_errors, loads, validate
from engine.store.tables import deliveries, deployments, schedule_ticks
from engine.store.text import storable


class DeploymentRefused(ValueError):
    """The flow has validation errors; `issues` lists them."""

    def __init__(self, issues: list[dict[str, object]]) -> None:
        errors = [i for i in issues if i["severity"] == "error"]
        super().__init__(f"the flow has {len(errors)} error(s); first: {errors[0]['message']}")
        self.issues = issues


@dataclass(frozen=True)
class Deployment:
    flow_id: str
    version: int
    hash: str
    active: bool
    created_at: float
    workspace: str | None = None  # the flow's, fixed when the version was deployed


def _workspace(flow_text: str) -> str | None:
    """The workspace of a stored flow file."""
    workspace = json.loads(flow_text).get("workspace")
    return str(workspace) if workspace else None


def _deployment(row: sa.Row[Any]) -> Deployment:
    return Deployment(
        row.flow_id,
        row.version,
        row.hash,
        bool(row.active),
        row.created_at,
        _workspace(row.flow),
    )


@dataclass(frozen=True)
class Tick:
    """A schedule tick claimed in the database (Unix seconds)."""

    tick: int
    started: bool  # its run was started (else its claimant may have died first)


class Deployments:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # Called after this process activates or deactivates a flow (the scheduler wakes at
        # once; other processes notice when they next look).
        self.listeners: list[Callable[[], None]] = []

    def deploy(self, flow: Flow) -> tuple[Deployment, bool]:
        """A new version of the flow (validated), or the existing one with the same content;
        the second value says whether a version was created."""
        issues = validate(flow)
        if has_errors(issues):
            raise DeploymentRefused([i.to_dict() for i in issues])
        text = dumps(flow)
        digest = hashlib.sha256(text.encode()).hexdigest()
        with self.engine.begin() as db:
            latest = db.execute(
                deployments.select()
                .where(deployments.c.flow_id == flow.id)
                .order_by(deployments.c.version.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.hash == digest:
                return _deployment(latest), False
            version = (latest.version if latest else 0) + 1
            now = time.time()
            db.execute(
                deployments.insert().values(
                    flow_id=flow.id,
                    version=version,
                    hash=digest,
                    flow=text,
                    active=False,
                    created_at=now,
                )
            )
        return Deployment(flow.id, version, digest, False, now, flow.workspace or None), True

    def versions(self, flow_id: str | None = None) -> list[Deployment]:
        query = deployments.select().order_by(deployments.c.flow_id, deployments.c.version)
        if flow_id is not None:
            query = query.where(deployments.c.flow_id == flow_id)
        with self.engine.connect() as db:
            return [_deployment(r) for r in db.execute(query).all()]

    def workspaces(self, flow_id: str) -> set[str | None]:
        """The workspaces of a flow id's deployed versions: who may deploy, activate or read
        them must belong to each (a flow id cannot be taken over from another workspace)."""
        query = sa.select(deployments.c.flow).where(deployments.c.flow_id == flow_id)
        with self.engine.connect() as db:
            return {_workspace(text) for text in db.execute(query).scalars()}

    def flow(self, flow_id: str, version: int | None = None) -> Flow:
        """A version's flow, the active one by default."""
        query = deployments.select().where(deployments.c.flow_id == flow_id)
        query = query.where(
            deployments.c.version == version if version is not None else deployments.c.active
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        if row is None:
            which = f"version {version}" if version is not None else "an active version"
            raise LookupError(f"flow '{flow_id}' has no deployed {which}")
        return loads(row.flow)

    def active(self) -> list[Flow]:
        with self.engine.connect() as db:
            rows = db.execute(deployments.select().where(deployments.c.active)).all()
        return [loads(r.flow) for r in rows]

    def active_versions(self) -> dict[str, tuple[int, float | None]]:
        """Each active flow's version and activation time: cheap to poll for changes."""
        query = sa.select(
            deployments.c.flow_id, deployments.c.version, deployments.c.activated_at
        ).where(deployments.c.active)
        with self.engine.connect() as db:
            return {r.flow_id: (r.version, r.activated_at) for r in db.execute(query)}

    def activate(self, flow_id: str, version: int) -> None:
        """Make a version the active one (deploying forward or rolling back)."""
        self.flow(flow_id, version)
        with self.engine.begin() as db:
            db.execute(
                deployments.update().where(deployments.c.flow_id == flow_id).values(active=False)
            )
            db.execute(
                deployments.update()
                .where(deployments.c.flow_id == flow_id, deployments.c.version == version)
                .values(active=True, activated_at=time.time())
            )
        self._changed()

    def deactivate(self, flow_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                deployments.update().where(deployments.c.flow_id == flow_id).values(active=False)
            )
        self._changed()

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def diff(self, flow_id: str, older: int, newer: int) -> str:
        """A unified diff of two versions' flow files."""
        a, b = dumps(self.flow(flow_id, older)), dumps(self.flow(flow_id, newer))
        return "".join(
            difflib.unified_diff(
                a.splitlines(keepends=True),
                b.splitlines(keepends=True),
                f"{flow_id} v{older}",
                f"{flow_id} v{newer}",
            )
        )

    def first_delivery(self, flow_id: str, delivery_id: str, run_id: str) -> str | None:
        """Record a webhook delivery; None the first time, else the run it started then (a
        ValueError for a delivery id no database holds: too long, or with a NUL character)."""
        storable(deliveries.c.delivery_id, delivery_id, "the delivery id")
        try:
            with self.engine.begin() as db:
                db.execute(
                    deliveries.insert().values(
                        flow_id=flow_id,
                        delivery_id=delivery_id,
                        run_id=run_id,
                        received_at=time.time(),
                    )
                )
            return None
        except IntegrityError:
            with self.engine.connect() as db:
                return db.execute(
                    sa.select(deliveries.c.run_id).where(
                        deliveries.c.flow_id == flow_id, deliveries.c.delivery_id == delivery_id
                    )
                ).scalar()

    # --------------------------------------------------------------------------- schedule ticks

    def claim_tick(self, flow_id: str, trigger: str, tick: int, run_id: str) -> bool:
        """Claim a schedule's tick for this process: True for the one claimant across all
        processes on the database."""
        try:
            with self.engine.begin() as db:
                db.execute(
                    schedule_ticks.insert().values(
                        flow_id=flow_id,
                        trigger=trigger,
                        tick=tick,
                        run_id=run_id,
                        claimed_at=time.time(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def tick_started(self, flow_id: str, trigger: str, tick: int) -> None:
        with self.engine.begin() as db:
            db.execute(
                schedule_ticks.update()
                .where(
                    schedule_ticks.c.flow_id == flow_id,
                    schedule_ticks.c.trigger == trigger,
                    schedule_ticks.c.tick == tick,
                )
                .values(started_at=time.time())
            )

    def last_tick(self, flow_id: str, trigger: str) -> Tick | None:
        """The latest tick claimed for a schedule, by any process."""
        query = (
            schedule_ticks.select()
            .where(schedule_ticks.c.flow_id == flow_id, schedule_ticks.c.trigger == trigger)
            .order_by(schedule_ticks.c.tick.desc())
            .limit(1)
        )
        with self.engine.connect() as db:
            row = db.execute(query).first()
        return Tick(row.tick, row.started_at is not None) if row else None

    def prune_ticks(self, claimed_before: float) -> int:
        """Forget ticks claimed before a time, but each schedule's latest (it says where the
        schedule is); returns how many went."""
        later = schedule_ticks.alias("later")
        newest = (
            sa.select(sa.func.max(later.c.tick))
            .where(
                later.c.flow_id == schedule_ticks.c.flow_id,
                later.c.trigger == schedule_ticks.c.trigger,
            )
            .scalar_subquery()
        )
        with self.engine.begin() as db:
            return db.execute(
                schedule_ticks.delete().where(
                    schedule_ticks.c.claimed_at < claimed_before, schedule_ticks.c.tick < newest
                )
            ).rowcount
