"""The Usage tab: a workspace's tool calls over a period, as four charts (calls over time, p50 and
p95 latency by tool, errors by server, calls by member) and a line of totals."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from engine.api.client import ApiClient
from studio.text import plural
from studio.workspaces.charts import BLUE, ORANGE, RED, TEAL, BarChart, ColumnChart, Series
from studio.workspaces.tasks import StatusLine, Tasks
from studio.workspaces.views import WorkspaceTab

CALL_LIMIT = 1000  # the most calls the API returns at once; the time chart counts these


@dataclass(frozen=True)
class Period:
    seconds: float
    bucket: datetime.timedelta
    label: str  # strftime of a bucket's start


PERIODS = {
    "Last hour": Period(3600, datetime.timedelta(minutes=5), "%H:%M"),
    "Last 24 hours": Period(86400, datetime.timedelta(hours=1), "%H:00"),
    "Last 7 days": Period(7 * 86400, datetime.timedelta(days=1), "%a %d"),
}


def bucket_starts(period: Period, now: float) -> list[datetime.datetime]:
    """The starts of the period's buckets, in local time, the last one holding `now`."""
    moment = datetime.datetime.fromtimestamp(now).replace(second=0, microsecond=0)
    if period.bucket >= datetime.timedelta(days=1):
        moment = moment.replace(hour=0, minute=0)
    elif period.bucket >= datetime.timedelta(hours=1):
        moment = moment.replace(minute=0)
    else:
        step = int(period.bucket.total_seconds() // 60)
        moment = moment.replace(minute=moment.minute // step * step)
    count = round(period.seconds / period.bucket.total_seconds())
    return [moment - period.bucket * k for k in range(count - 1, -1, -1)]


def count_calls(
    calls: Sequence[dict[str, Any]], starts: Sequence[datetime.datetime], width: datetime.timedelta
) -> tuple[list[float], list[float]]:
    """Calls per bucket: those that went well, and the rest."""
    ok, failed = [0.0] * len(starts), [0.0] * len(starts)
    first = starts[0].timestamp()
    seconds = width.total_seconds()
    for call in calls:
        index = int((float(call["started_at"]) - first) // seconds)
        if 0 <= index < len(starts):
            (ok if call["outcome"] == "ok" else failed)[index] += 1
    return ok, failed


def milliseconds(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


class UsageTab(WorkspaceTab):
    def __init__(self, tasks: Tasks, status: StatusLine) -> None:
        super().__init__(tasks, status)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.period = QComboBox()
        self.period.addItems(list(PERIODS))
        self.period.setCurrentText("Last 24 hours")
        self.period.currentIndexChanged.connect(self.refresh)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.totals = QLabel("")
        top.addWidget(self.period)
        top.addWidget(self.refresh_button)
        top.addWidget(self.totals, 1)
        layout.addLayout(top)
        self.calls_chart = ColumnChart("Calls over time")
        self.latency_chart = BarChart("Latency by tool", number=milliseconds)
        self.errors_chart = BarChart("Errors by server")
        self.members_chart = BarChart("Calls by member")
        grid = QGridLayout()
        grid.addWidget(self.calls_chart, 0, 0)
        grid.addWidget(self.latency_chart, 0, 1)
        grid.addWidget(self.errors_chart, 1, 0)
        grid.addWidget(self.members_chart, 1, 1)
        layout.addLayout(grid, 1)

    def refresh(self) -> None:
        if self.workspace is None:
            self.show_usage({"member": [], "tool": [], "server": []}, [], 0.0)
            return
        slug, period = self.workspace, PERIODS[self.period.currentText()]
        now = datetime.datetime.now().timestamp()
        since = now - period.seconds

        async def fetch(client: ApiClient) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            usage, calls = await asyncio.gather(
                client.usage(slug, since), client.calls(slug, since=since, limit=CALL_LIMIT)
            )
            return usage, calls

        self.load(fetch, lambda answer: self.show_usage(*answer, now))

    def show_usage(self, usage: dict[str, Any], calls: list[dict[str, Any]], now: float) -> None:
        period = PERIODS[self.period.currentText()]
        starts = bucket_starts(period, now)
        ok, failed = count_calls(calls, starts, period.bucket)
        self.calls_chart.set_data(
            [s.strftime(period.label) for s in starts],
            [Series("ok", ok, BLUE), Series("errors", failed, RED)],
        )
        tools = sorted(usage["tool"], key=lambda line: -line["p95_ms"])
        self.latency_chart.set_data(
            [t["tool"] for t in tools],
            [
                Series("p50", [t["p50_ms"] for t in tools], BLUE),
                Series("p95", [t["p95_ms"] for t in tools], ORANGE),
            ],
        )
        servers = usage["server"]
        self.errors_chart.set_data(
            [s["server"] for s in servers],
            [
                Series("calls", [s["calls"] for s in servers], TEAL),
                Series("errors", [_errors(s) for s in servers], RED),
            ],
        )
        members = usage["member"]
        self.members_chart.set_data(
            [m["member"] for m in members], [Series("calls", [m["calls"] for m in members], BLUE)]
        )
        total = sum(s["calls"] for s in servers)
        errors = sum(_errors(s) for s in servers)
        text = f"{plural(total, 'call')}, {plural(errors, 'error')}"
        text += f" ({errors / total:.0%})" if total else ""
        text += f", {plural(len(members), 'member')}, {plural(len(usage['tool']), 'tool')}"
        if len(calls) >= CALL_LIMIT:
            text += f" (calls over time: the newest {CALL_LIMIT})"
        self.totals.setText(text)


def _errors(line: dict[str, Any]) -> int:
    return round(float(line["calls"]) * float(line["error_rate"]))
