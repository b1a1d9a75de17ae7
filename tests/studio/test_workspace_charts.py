"""The manager's pure parts and its QPainter charts, without a runtime."""

from __future__ import annotations

import datetime

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

from studio.workspaces.charts import BarChart, ColumnChart, Series, nice_ticks
from studio.workspaces.servers import parse_values
from studio.workspaces.usage import PERIODS, bucket_starts, count_calls


def test_axis_ticks_are_round_and_reach_the_top():
    assert nice_ticks(13) == [0, 5, 10, 15]
    assert nice_ticks(3972) == [0, 1000, 2000, 3000, 4000]
    assert nice_ticks(0.7) == [0, 0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(0) == [0.0, 1.0]


def test_calls_fall_into_local_time_buckets_ending_with_the_current_one():
    now = datetime.datetime(2026, 3, 4, 15, 47, 30).timestamp()
    hour = PERIODS["Last hour"]
    starts = bucket_starts(hour, now)
    assert len(starts) == 12
    assert (starts[0].strftime("%H:%M"), starts[-1].strftime("%H:%M")) == ("14:50", "15:45")
    calls = [
        {"started_at": now, "outcome": "ok"},
        {"started_at": now - 60, "outcome": "tool_error"},
        {"started_at": now - 300, "outcome": "ok"},
        {"started_at": now - 7200, "outcome": "ok"},  # before the period: not counted
    ]
    ok, failed = count_calls(calls, starts, hour.bucket)
    assert (ok[-1], failed[-1], ok[-2], sum(ok) + sum(failed)) == (1, 1, 1, 3)
    week = bucket_starts(PERIODS["Last 7 days"], now)
    assert len(week) == 7 and week[-1] == datetime.datetime(2026, 3, 4)


def test_env_and_header_lines_take_secret_references():
    text = "API_KEY=${secret:OPENAI_KEY}\nMODE=a=b\n\nLITERAL=${secret:bad name}"
    assert parse_values(text, "environment") == {
        "API_KEY": {"secret": "OPENAI_KEY"},
        "MODE": "a=b",
        "LITERAL": "${secret:bad name}",
    }
    with pytest.raises(ValueError, match="headers, line 2: expected NAME=value"):
        parse_values("A=1\nnonsense", "headers")


def test_charts_draw_their_data_and_answer_hovering(qtbot):
    bars = BarChart("Latency by tool", number=lambda v: f"{v:.0f} ms")
    bars.set_data(
        [f"tool{i}" for i in range(10)],
        [Series("p50", list(range(10)), QColor("blue")), Series("p95", [9] * 10, QColor("red"))],
    )
    columns = ColumnChart("Calls over time")
    columns.set_data(["10:00", "11:00"], [Series("ok", [3, 0], QColor("blue"))])
    empty = ColumnChart("Calls over time")
    empty.set_data(["10:00"], [Series("ok", [0], QColor("blue"))])
    for chart in (bars, columns, empty):
        qtbot.addWidget(chart)
        chart.resize(400, 260)
        image = chart.grab().toImage()
        assert not image.isNull()
    assert len(bars._hits) == BarChart.max_rows  # ten tools: eight rows, "and 2 more"
    tip = next(t for r, t in bars._hits if r.contains(QPointF(200, bars._hits[1][0].center().y())))
    assert tip == "tool1\np50: 1 ms\np95: 9 ms"
    assert [t for _, t in columns._hits] == ["10:00\nok: 3", "11:00\nok: 0"]
    assert not empty.has_data() and empty._hits == []
