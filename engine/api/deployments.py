"""Deployed flows: immutable, validated, content-hashed versions per flow id, one of them
active; diffs between versions; the deliveries webhooks received (each runs once)."""

from __future__ import annotations

import difflib
import hashlib
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from engine.flow import Flow, dumps, has_errors, loads, validate
from engine.store.tables import deliveries, deployments


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


def _deployment(row: sa.Row) -> Deployment:  # type: ignore[type-arg]
    return Deployment(row.flow_id, row.version, row.hash, bool(row.active), row.created_at)


class Deployments:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

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
        return Deployment(flow.id, version, digest, False, now), True

    def versions(self, flow_id: str | None = None) -> list[Deployment]:
        query = deployments.select().order_by(deployments.c.flow_id, deployments.c.version)
        if flow_id is not None:
            query = query.where(deployments.c.flow_id == flow_id)
        with self.engine.connect() as db:
            return [_deployment(r) for r in db.execute(query).all()]

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
                .values(active=True)
            )

    def deactivate(self, flow_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                deployments.update().where(deployments.c.flow_id == flow_id).values(active=False)
            )

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
        """Record a webhook delivery; None the first time, else the run it started then."""
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
