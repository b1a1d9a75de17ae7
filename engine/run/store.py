"""Durable run data on SQLAlchemy Core: runs, node records, events, messages to paused runs,
debug commands for a run's process.

A node record is committed once per (run, key) — the unique key means two executors can never
both commit the same node — and a replay reuses it instead of running the node again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from engine.run import faults
from engine.store.db import exclusive

metadata = sa.MetaData()

FINISHED = ("succeeded", "failed", "cancelled")  # a run's last status; before: running, paused

runs = sa.Table(
    "aero_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("flow_id", sa.String(64), nullable=False, index=True),
    sa.Column("flow", sa.Text, nullable=False),
    # The flow's workspace (None: in no workspace), so lists can be scoped to a member's.
    sa.Column("workspace", sa.String(64), index=True),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("options", sa.Text, nullable=False, default="{}"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    # The breakpoints and waiting nodes of a running run, as its process last wrote them (JSON).
    sa.Column("debug", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
records = sa.Table(
    "aero_node_records",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("node_id", sa.String(64), nullable=False),
    sa.Column("handle", sa.String(64), nullable=False),
    sa.Column("output", sa.Text, nullable=False),
    sa.Column("variables", sa.Text, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=False),
)
# Events are written in batches, one row per batch (first and last sequence numbers): a run's
# events cost one insert per flush instead of one per event.
events = sa.Table(
    "aero_run_events",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("first_seq", sa.Integer, primary_key=True),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("events", sa.Text, nullable=False),
)
messages = sa.Table(
    "aero_run_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("node_id", sa.String(64)),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("taken_by", sa.String(512)),
)
# Step-debug commands asked on a process that does not run the run, for the one that does.
debug_commands = sa.Table(
    "aero_run_debug_commands",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("node_id", sa.String(64)),
)


@dataclass(frozen=True)
class DebugCommand:
    id: int
    action: str
    node_id: str | None


@dataclass(frozen=True)
class Requests:
    """What was asked of a run from any process and not yet applied by the one running it."""

    cancel: bool
    debug: list[DebugCommand]


@dataclass(frozen=True)
class Record:
    node_id: str
    handle: str
    output: Any
    variables: dict[str, Any]
    duration_ms: float


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _add_new_columns(db: sa.Connection) -> None:
    """Upgrade a database made by an older Aerostudio: add the columns its tables lack (columns
    added later are nullable; a run's workspace is filled in from its stored flow)."""
    inspector = sa.inspect(db)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                ddl = sa.schema.CreateColumn(column).compile(dialect=db.dialect)
                db.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))
                for index in table.indexes:
                    if column.name in index.columns:
                        index.create(db, checkfirst=True)
                if column is runs.c.workspace:
                    _fill_workspaces(db)


def _fill_workspaces(db: sa.Connection) -> None:
    for run_id, flow in db.execute(sa.select(runs.c.run_id, runs.c.flow)).all():
        workspace = json.loads(flow).get("workspace")
        if workspace:
            db.execute(runs.update().where(runs.c.run_id == run_id).values(workspace=workspace))


class RunStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with exclusive(engine, "aerostudio.runs.schema"), engine.begin() as db:
            metadata.create_all(db)
            _add_new_columns(db)

    # --------------------------------------------------------------------------------- runs

    def create_run(
        self, run_id: str, flow_id: str, flow: dict[str, Any], payload: Any, options: dict[str, Any]
    ) -> None:
        now = time.time()
        with self.engine.begin() as db:
            db.execute(
                runs.insert().values(
                    run_id=run_id,
                    flow_id=flow_id,
                    flow=_dumps(flow),
                    workspace=flow.get("workspace") or None,
                    input=_dumps(payload),
                    options=_dumps(options),
                    status="running",
                    created_at=now,
                    updated_at=now,
                    cancel_requested=False,
                )
            )

    def run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = db.execute(runs.select().where(runs.c.run_id == run_id)).mappings().first()
        if row is None:
            return None
        run = dict(row)
        for column in ("flow", "input", "options", "output", "error", "debug"):
            run[column] = json.loads(run[column]) if run[column] is not None else None
        return run

    def list_runs(
        self,
        limit: int = 50,
        flow_id: str | None = None,
        workspaces: Collection[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The newest runs, of one flow if `flow_id`; with `workspaces`, only runs of flows in
        one of them or in none (None: every run)."""
        query = (
            sa.select(
                runs.c.run_id, runs.c.flow_id, runs.c.status, runs.c.created_at, runs.c.updated_at
            )
            .order_by(runs.c.created_at.desc())
            .limit(limit)
        )
        if flow_id:
            query = query.where(runs.c.flow_id == flow_id)
        if workspaces is not None:
            scope = runs.c.workspace.is_(None) | runs.c.workspace.in_(sorted(workspaces))
            query = query.where(scope)
        with self.engine.connect() as db:
            return [dict(row) for row in db.execute(query).mappings()]

    def finish_run(
        self, run_id: str, status: str, output: Any, error: Any, last_events: Sequence[Any] = ()
    ) -> None:
        """Record how the run ended, with its last events in the same transaction: whoever
        reads `run_finished` finds the run's status and output too."""
        faults.point("before_run_finished")
        with self.engine.begin() as db:
            if last_events:
                self._insert_events(db, run_id, list(last_events))
            db.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(
                    status=status,
                    output=_dumps(output),
                    error=_dumps(error) if error else None,
                    debug=None,
                    updated_at=time.time(),
                )
            )
        faults.point("after_run_finished")

    def unfinished_runs(self) -> list[dict[str, Any]]:
        """Every run not finished yet: id, options (who created it) and creation time."""
        query = sa.select(runs.c.run_id, runs.c.options, runs.c.created_at).where(
            runs.c.status.not_in(FINISHED)
        )
        with self.engine.connect() as db:
            rows = db.execute(query.order_by(runs.c.created_at)).mappings().all()
        return [{**row, "options": json.loads(row["options"])} for row in rows]

    def fail_unfinished(self, run_id: str, error: dict[str, Any], ts: float) -> bool:
        """Mark failed a run that nothing will execute any more (its workflow ended without
        recording its end): `run_finished` after its last stored event, with the status, in one
        transaction; False if the run had finished meanwhile."""
        with self.engine.begin() as db:
            ended = db.execute(
                runs.update()
                .where(runs.c.run_id == run_id, runs.c.status.not_in(FINISHED))
                .values(status="failed", error=_dumps(error), debug=None, updated_at=ts)
            )
            if ended.rowcount != 1:
                return False
            last = db.execute(
                sa.select(sa.func.max(events.c.last_seq)).where(events.c.run_id == run_id)
            ).scalar()
            finished = {
                "type": "run_finished",
                "run_id": run_id,
                "seq": int(last or 0) + 1,
                "ts": ts,
                "status": "failed",
                "output": None,
                "error": error,
                "usage": {},
            }
            self._insert_events(db, run_id, [finished])
        return True

    def request_cancel(self, run_id: str) -> None:
        with self.engine.begin() as db:
            db.execute(runs.update().where(runs.c.run_id == run_id).values(cancel_requested=True))

    def post_debug(self, run_id: str, action: str, node_id: str | None) -> None:
        """Store a debug command for the process running the run (it applies them in order)."""
        with self.engine.begin() as db:
            db.execute(
                debug_commands.insert().values(run_id=run_id, action=action, node_id=node_id)
            )

    def requests(self, run_id: str) -> Requests:
        """The cancel and the debug commands asked for the run, in one query (its process asks
        several times a second, mostly for nothing)."""
        query = (
            sa.select(
                runs.c.cancel_requested,
                debug_commands.c.id,
                debug_commands.c.action,
                debug_commands.c.node_id,
            )
            .select_from(runs.outerjoin(debug_commands, debug_commands.c.run_id == runs.c.run_id))
            .where(runs.c.run_id == run_id)
            .order_by(debug_commands.c.id)
        )
        with self.engine.connect() as db:
            rows = db.execute(query).all()
        return Requests(
            cancel=any(row.cancel_requested for row in rows),
            debug=[DebugCommand(r.id, r.action, r.node_id) for r in rows if r.id is not None],
        )

    def publish_debug(self, run_id: str, state: dict[str, Any], taken: int = 0) -> None:
        """Write the run's debug state for every process to read, and drop the debug commands
        up to `taken` (applied) in the same transaction."""
        with self.engine.begin() as db:
            db.execute(runs.update().where(runs.c.run_id == run_id).values(debug=_dumps(state)))
            if taken:
                db.execute(
                    debug_commands.delete().where(
                        debug_commands.c.run_id == run_id, debug_commands.c.id <= taken
                    )
                )

    def delete_runs(self, run_ids: Sequence[str]) -> None:
        """Delete runs with their events, node records and messages (in batches: databases
        cap the parameters of one statement)."""
        for start in range(0, len(run_ids), 500):
            batch = list(run_ids[start : start + 500])
            with self.engine.begin() as db:
                for table in (events, records, messages, debug_commands, runs):
                    db.execute(table.delete().where(table.c.run_id.in_(batch)))

    # ------------------------------------------------------------------------------ records

    def commit_record(self, run_id: str, key: str, record: Record) -> Record:
        """Commit a node's outcome once; if another executor committed first, theirs wins."""
        faults.point("before_node_record")
        try:
            with self.engine.begin() as db:
                db.execute(
                    records.insert().values(
                        run_id=run_id,
                        key=key,
                        node_id=record.node_id,
                        handle=record.handle,
                        output=_dumps(record.output),
                        variables=_dumps(record.variables),
                        duration_ms=record.duration_ms,
                        finished_at=time.time(),
                    )
                )
            faults.point("after_node_record")
            return record
        except IntegrityError:
            existing = self.records(run_id).get(key)
            assert existing is not None
            return existing

    def records(self, run_id: str) -> dict[str, Record]:
        with self.engine.connect() as db:
            rows = db.execute(records.select().where(records.c.run_id == run_id)).mappings()
            return {
                row["key"]: Record(
                    row["node_id"],
                    row["handle"],
                    json.loads(row["output"]),
                    json.loads(row["variables"]),
                    row["duration_ms"],
                )
                for row in rows
            }

    # ------------------------------------------------------------------------------- events

    def append_events(self, run_id: str, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        with self.engine.begin() as db:
            self._insert_events(db, run_id, batch)

    @staticmethod
    def _insert_events(db: sa.Connection, run_id: str, batch: list[dict[str, Any]]) -> None:
        db.execute(
            events.insert().values(
                run_id=run_id,
                first_seq=batch[0]["seq"],
                last_seq=batch[-1]["seq"],
                events=_dumps(batch),
            )
        )

    def events(self, run_id: str, after: int = 0) -> list[dict[str, Any]]:
        query = (
            sa.select(events.c.events)
            .where(events.c.run_id == run_id, events.c.last_seq > after)
            .order_by(events.c.first_seq)
        )
        with self.engine.connect() as db:
            batches = db.execute(query).scalars().all()
        return [e for batch in batches for e in json.loads(batch) if e["seq"] > after]

    # ----------------------------------------------------------------------------- messages

    def post_message(self, run_id: str, body: dict[str, Any], node_id: str | None = None) -> None:
        with self.engine.begin() as db:
            db.execute(messages.insert().values(run_id=run_id, node_id=node_id, body=_dumps(body)))

    def pending_messages(self, run_id: str) -> int:
        """Messages posted to the run that no paused node has taken yet."""
        with self.engine.connect() as db:
            return int(
                db.execute(
                    sa.select(sa.func.count())
                    .select_from(messages)
                    .where(messages.c.run_id == run_id, messages.c.taken_by.is_(None))
                ).scalar()
                or 0
            )

    def take_message(
        self, run_id: str, node_id: str, taker: str, addressed: bool = False
    ) -> dict[str, Any] | None:
        """The oldest message for this run (or this node) not yet taken; taking is once only.
        `addressed`: only a message posted to this node."""
        with self.engine.begin() as db:
            taken = db.execute(
                sa.select(messages.c.body).where(
                    messages.c.run_id == run_id, messages.c.taken_by == taker
                )
            ).scalar()
            if taken is not None:
                return dict(json.loads(taken))
            row = db.execute(
                sa.select(messages.c.id, messages.c.body)
                .where(
                    messages.c.run_id == run_id,
                    messages.c.taken_by.is_(None),
                    messages.c.node_id == node_id
                    if addressed
                    else sa.or_(messages.c.node_id.is_(None), messages.c.node_id == node_id),
                )
                .order_by(messages.c.id)
                .limit(1)
            ).first()
            if row is None:
                return None
            claimed = db.execute(
                messages.update()
                .where(messages.c.id == row.id, messages.c.taken_by.is_(None))
                .values(taken_by=taker)
            ).rowcount
        if claimed != 1:
            return None
        faults.point("after_message_taken")
        return dict(json.loads(row.body))
