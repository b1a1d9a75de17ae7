"""The call log: one row per tool call through the gateway, secret values redacted from every
text it records; retention; usage by member, tool and server over a time window.

A call is logged off its request: `record` only queues the row, and a writer thread commits what
is queued in one transaction at most every BATCH_S, so a call never waits for the database. A
process killed loses at most the rows of its last BATCH_S (never a call's result, which went to
its caller without waiting), and no row is half written: a batch commits whole or not at all.
Reads of the log in this process, a clean stop (`flush`, which the gateway's shutdown calls) and
the interpreter's exit write what is queued first.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.redaction import MARKER, Redactor
from engine.store.tables import calls, settings
from engine.store.text import clipped

REDACTED = MARKER
DEFAULT_RETENTION_DAYS = 30
BATCH_S = 0.05  # at most one commit of the log this often while calls come
RETRY_S = 1.0  # after a failed write (the database busy or away): the batch is written again
IDLE_S = 30.0  # the writer thread ends after this long without calls (started again by one)

log = logging.getLogger(__name__)
_open_logs: weakref.WeakSet[CallLog] = weakref.WeakSet()


@dataclass(frozen=True)
class Call:
    workspace: str
    server: str
    tool: str
    member: str
    started_at: float
    latency_ms: float
    outcome: str  # ok, tool_error, error, denied
    error: str | None = None


def redact(text: str, secret_values: Iterable[str]) -> str:
    """The text with every secret value, and its simple encodings, replaced (engine.redaction)."""
    return Redactor(secret_values).text(text)


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return 0.0
    rank = max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))
    return values[rank]


class CallLog:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._queued: list[dict[str, Any]] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()  # one batch at a time, in order
        self._arrived = threading.Event()
        self._writer: threading.Thread | None = None
        _open_logs.add(self)

    def record(self, call: Call, redactor: Redactor | None = None) -> None:
        """Queue a call's row whatever names its client sent (cut and cleaned to what the
        columns hold on every database, secret values redacted): the log never makes a call
        fail or wait."""
        redact = redactor.text if redactor else str
        values = {
            name: clipped(calls.c[name], redact(value)) if isinstance(value, str) else value
            for name, value in call.__dict__.items()
        }
        with self._queue_lock:
            self._queued.append(values)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_batches, name="aerostudio-call-log", daemon=True
                )
                self._writer.start()
        self._arrived.set()

    def flush(self) -> None:
        """Write every queued row now (in this thread), in one transaction."""
        with self._write_lock:
            with self._queue_lock:
                batch, self._queued = self._queued, []
            if not batch:
                return
            try:
                with self.engine.begin() as db:
                    db.execute(calls.insert(), batch)
            except Exception:
                with self._queue_lock:
                    self._queued[:0] = batch  # first in line again: no row is skipped
                raise

    def _write_batches(self) -> None:
        """The writer thread: a batch every BATCH_S while calls come, then it ends when idle."""
        while True:
            if not self._arrived.wait(IDLE_S):
                with self._queue_lock:
                    if not self._queued:
                        self._writer = None
                        return
            self._arrived.clear()
            time.sleep(BATCH_S)  # let a batch gather: one commit for many calls
            try:
                self.flush()
            except Exception as exc:
                log.error("writing the call log failed: %s", getattr(exc, "orig", None) or exc)
                self._arrived.set()
                time.sleep(RETRY_S)

    def entries(
        self,
        workspace: str,
        *,
        since: float | None = None,
        tool: str | None = None,
        server: str | None = None,
        member: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
    ) -> list[Call]:
        """The newest calls first, filtered."""
        self.flush()
        query = sa.select(calls).where(calls.c.workspace == workspace)
        for column, value in (
            (calls.c.tool, tool),
            (calls.c.server, server),
            (calls.c.member, member),
            (calls.c.outcome, outcome),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(calls.c.started_at >= since)
        query = query.order_by(calls.c.started_at.desc(), calls.c.id.desc()).limit(limit)
        with self.engine.connect() as db:
            rows = db.execute(query).mappings().all()
        return [Call(**{k: v for k, v in row.items() if k != "id"}) for row in rows]

    def usage(self, workspace: str, since: float | None = None) -> dict[str, list[dict[str, Any]]]:
        """Per member, tool and server: calls, error rate, p50 and p95 latency (ms)."""
        self.flush()
        query = sa.select(
            calls.c.member, calls.c.tool, calls.c.server, calls.c.latency_ms, calls.c.outcome
        ).where(calls.c.workspace == workspace)
        if since is not None:
            query = query.where(calls.c.started_at >= since)
        with self.engine.connect() as db:
            rows = db.execute(query).all()
        report: dict[str, list[dict[str, Any]]] = {}
        for dimension in ("member", "tool", "server"):
            groups: dict[str, list[Any]] = defaultdict(list)
            for row in rows:
                groups[getattr(row, dimension)].append(row)
            lines = []
            for key, group in groups.items():
                latencies = sorted(r.latency_ms for r in group)
                errors = sum(1 for r in group if r.outcome != "ok")
                lines.append(
                    {
                        dimension: key,
                        "calls": len(group),
                        "error_rate": round(errors / len(group), 4),
                        "p50_ms": round(_percentile(latencies, 0.50), 2),
                        "p95_ms": round(_percentile(latencies, 0.95), 2),
                    }
                )
            report[dimension] = sorted(lines, key=lambda line: (-line["calls"], line[dimension]))
        return report

    # ----------------------------------------------------------------------------- retention

    def retention_days(self) -> float:
        with self.engine.connect() as db:
            value = db.execute(
                sa.select(settings.c.value).where(settings.c.key == "call_log_retention_days")
            ).scalar()
        return float(value) if value is not None else DEFAULT_RETENTION_DAYS

    def set_retention_days(self, days: float) -> None:
        if days <= 0:
            raise ValueError("retention: a number of days above 0")
        with self.engine.begin() as db:
            db.execute(settings.delete().where(settings.c.key == "call_log_retention_days"))
            db.execute(settings.insert().values(key="call_log_retention_days", value=days))

    def prune(self, now: float | None = None) -> int:
        """Delete calls older than the retention; returns how many."""
        self.flush()
        cutoff = (time.time() if now is None else now) - self.retention_days() * 86400
        with self.engine.begin() as db:
            return db.execute(calls.delete().where(calls.c.started_at < cutoff)).rowcount


@atexit.register
def _flush_at_exit() -> None:
    """What is queued reaches the log when the interpreter exits, stopped or not by a call to
    `flush` (a `kill -9` runs nothing: its last batch is lost)."""
    for call_log in list(_open_logs):
        try:
            call_log.flush()
        except Exception as exc:
            log.error("writing the call log at exit failed: %s", exc)
