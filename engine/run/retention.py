"""Run data retention, so the runs database does not grow without bound.

A finished run is deleted, with its events, node records, messages and DBOS workflow, once it
is older than `keep_days` (by when it finished) or beyond the newest `keep_runs` finished runs
of its flow; with both set, either limit prunes. Running and paused runs are never pruned and
do not count, nor is a finished child run whose parent still runs: the parent, recovering
from a crash, would find the child gone and start it again.

The policy is the `run_retention` setting of the gateway's database (`aerostudio runs
retention`), which a runtime applies periodically; `aerostudio runs prune` applies it, or the
limits given, at once.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.run.store import FINISHED, RunStore, runs
from engine.store.tables import settings

MAX_KEEP_RUNS = 2**31 - 1

SETTING = "run_retention"


@dataclass(frozen=True)
class Retention:
    """How much run data to keep; None: no limit of that kind."""

    keep_days: float | None = None
    keep_runs: int | None = None

    def __post_init__(self) -> None:
        days, count = self.keep_days, self.keep_runs
        if days is not None and (isinstance(days, bool) or not isinstance(days, int | float)):
            raise ValueError(f"keep_days: a number of days, not {days!r}")
        if days is not None and not (0 < days < math.inf):  # NaN too: no JSON column keeps it
            raise ValueError(f"keep_days: a finite number of days above 0, not {days!r}")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise ValueError(f"keep_runs: a whole number of runs, not {count!r}")
        if count is not None and count < 1:
            raise ValueError(f"keep_runs: at least 1 run per flow, not {count!r}")
        if count is not None and count > MAX_KEEP_RUNS:  # what every database's integers hold
            raise ValueError(f"keep_runs: at most {MAX_KEEP_RUNS} runs per flow, not {count}")

    @property
    def limited(self) -> bool:
        return self.keep_days is not None or self.keep_runs is not None

    @classmethod
    def from_setting(cls, value: Any) -> Retention:
        """The saved setting; errors name it (`run_retention.keep_days: ...`)."""
        if not isinstance(value, dict) or set(value) - {"keep_days", "keep_runs"}:
            raise ValueError(f"{SETTING}: an object with keep_days and/or keep_runs, not {value!r}")
        try:
            return cls(value.get("keep_days"), value.get("keep_runs"))
        except ValueError as exc:
            raise ValueError(f"{SETTING}.{exc}") from None

    def to_setting(self) -> dict[str, Any]:
        return {"keep_days": self.keep_days, "keep_runs": self.keep_runs}


def load(engine: sa.Engine) -> Retention:
    """The saved policy (no limits if none was saved)."""
    with engine.connect() as db:
        value = db.execute(sa.select(settings.c.value).where(settings.c.key == SETTING)).scalar()
    return Retention() if value is None else Retention.from_setting(value)


def save(engine: sa.Engine, retention: Retention) -> None:
    """Save the policy; one without limits removes the setting."""
    with engine.begin() as db:
        db.execute(settings.delete().where(settings.c.key == SETTING))
        if retention.limited:
            db.execute(settings.insert().values(key=SETTING, value=retention.to_setting()))


def prunable(store: RunStore, retention: Retention, now: float | None = None) -> list[str]:
    """The runs the policy lets go, oldest first."""
    finished = runs.c.status.in_(FINISHED)
    chosen: list[sa.ColumnElement[bool]] = []
    if retention.keep_days is not None:
        cutoff = (time.time() if now is None else now) - retention.keep_days * 86400
        chosen.append(runs.c.updated_at < cutoff)
    if retention.keep_runs is not None:
        newest_first = sa.func.row_number().over(
            partition_by=runs.c.flow_id, order_by=(runs.c.created_at.desc(), runs.c.run_id.desc())
        )
        ranked = sa.select(runs.c.run_id, newest_first.label("rank")).where(finished).subquery()
        beyond = sa.select(ranked.c.run_id).where(ranked.c.rank > retention.keep_runs)
        chosen.append(runs.c.run_id.in_(beyond))
    if not chosen:
        return []
    query = (
        sa.select(runs.c.run_id, runs.c.options)
        .where(finished, sa.or_(*chosen))
        .order_by(runs.c.created_at, runs.c.run_id)
    )
    with store.engine.connect() as db:
        candidates = db.execute(query).all()
        waiting = set(
            db.execute(sa.select(runs.c.run_id).where(runs.c.status.not_in(FINISHED))).scalars()
        )
    return [
        row.run_id
        for row in candidates
        if not waiting or json.loads(row.options).get("parent") not in waiting
    ]


def forget_workflows(system_url: str, run_ids: Sequence[str]) -> None:
    """Delete the DBOS workflows of pruned runs (a run is the workflow of the same id)."""
    from dbos import DBOSClient

    client = DBOSClient(system_database_url=system_url)
    try:
        client.delete_workflows(list(run_ids))
    finally:
        client.destroy()


def prune(
    store: RunStore,
    retention: Retention,
    *,
    now: float | None = None,
    forget: Callable[[Sequence[str]], None] | None = None,
) -> list[str]:
    """Delete the runs the policy lets go; returns their ids. `forget` deletes their DBOS
    workflows first: a run left without its workflow is harmless once finished, a workflow
    left without its run is not found again."""
    run_ids = prunable(store, retention, now)
    if run_ids and forget is not None:
        forget(run_ids)
    store.delete_runs(run_ids)
    return run_ids
