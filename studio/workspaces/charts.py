"""Small charts drawn with QPainter (PySide6-Essentials has no QtCharts): horizontal bars per
category, and stacked columns over time. Colours follow the application's palette; hovering a
bar or column shows its values."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QHelpEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QToolTip, QWidget

BLUE, ORANGE, RED, TEAL = QColor("#3d8ee8"), QColor("#e8a33d"), QColor("#e5534b"), QColor("#2fb8a6")
PAD = 8.0


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: QColor


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round axis values from 0 up to at least `top`: steps of 1, 2 or 5 times a power of ten."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [round(i * step, 9) for i in range(math.ceil(top / step - 1e-9) + 1)]


def plain_number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:.1f}"


class Chart(QWidget):
    """A titled chart with a legend and a note when there is nothing to show."""

    def __init__(
        self,
        title: str,
        *,
        number: Callable[[float], str] = plain_number,
        empty: str = "No calls in this period",
    ) -> None:
        super().__init__()
        self.title = title
        self.number = number
        self.empty = empty
        self.labels: list[str] = []
        self.series: list[Series] = []
        self._hits: list[tuple[QRectF, str]] = []
        self.setMinimumSize(280, 190)

    def set_data(self, labels: Sequence[str], series: Sequence[Series]) -> None:
        self.labels, self.series = list(labels), list(series)
        self.update()

    def has_data(self) -> bool:
        return bool(self.labels) and any(v > 0 for s in self.series for v in s.values)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._hits = []
        text = self.palette().windowText().color()
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(text)
        title_height = QFontMetrics(bold).height()
        painter.drawText(QPointF(PAD, PAD + QFontMetrics(bold).ascent()), self.title)
        painter.setFont(self.font())
        if len(self.series) > 1:
            self._legend(painter, text)
        plot = QRectF(self.rect()).adjusted(PAD, PAD + title_height + PAD, -PAD, -PAD)
        if not self.has_data():
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, self.empty)
        else:
            self.draw_plot(painter, plot, text)
        painter.end()

    def _legend(self, painter: QPainter, text: QColor) -> None:
        metrics = QFontMetrics(self.font())
        x = self.width() - PAD
        for series in reversed(self.series):
            x -= metrics.horizontalAdvance(series.name)
            painter.setPen(text)
            painter.drawText(QPointF(x, PAD + metrics.ascent()), series.name)
            x -= 14
            swatch = QRectF(x, PAD + (metrics.height() - 10) / 2, 10, 10)
            painter.fillRect(swatch, series.color)
            x -= 12

    def grid_pen(self) -> QPen:
        color = QColor(self.palette().windowText().color())
        color.setAlpha(40)
        return QPen(color, 1)

    def draw_plot(self, painter: QPainter, plot: QRectF, text: QColor) -> None:
        raise NotImplementedError

    def hit(self, rect: QRectF, tip: str) -> None:
        self._hits.append((rect, tip))

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            tip = next((t for r, t in self._hits if r.contains(QPointF(event.pos()))), "")
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)


class BarChart(Chart):
    """One row per label, one horizontal bar per series in it (e.g. p50 and p95 of a tool)."""

    max_rows = 8

    def draw_plot(self, painter: QPainter, plot: QRectF, text: QColor) -> None:
        metrics = QFontMetrics(self.font())
        shown = self.labels[: self.max_rows]
        hidden = len(self.labels) - len(shown)
        if hidden:  # room for a line saying so under the rows
            plot = plot.adjusted(0, 0, 0, -metrics.height())
        label_width = min(
            plot.width() * 0.4, max(metrics.horizontalAdvance(s) for s in shown) + 2 * PAD
        )
        top_value = max(v for s in self.series for v in s.values[: len(shown)]) or 1.0
        value_room = metrics.horizontalAdvance(self.number(top_value)) + PAD
        bars = QRectF(plot.left() + label_width, plot.top(), plot.width() - label_width, 0)
        bars.setWidth(max(10.0, bars.width() - value_room))
        row_height = min(plot.height() / len(shown), metrics.height() * (1.2 + len(self.series)))
        bar_height = row_height * 0.72 / len(self.series)
        painter.setPen(self.grid_pen())
        rows_bottom = plot.top() + row_height * len(shown)
        painter.drawLine(QPointF(bars.left(), plot.top()), QPointF(bars.left(), rows_bottom))
        if hidden:
            painter.setPen(self.palette().placeholderText().color())
            note = QRectF(plot.left(), rows_bottom, plot.width(), metrics.height())
            painter.drawText(note, Qt.AlignmentFlag.AlignRight, f"and {hidden} more")
        for index, label in enumerate(shown):
            top = plot.top() + index * row_height
            painter.setPen(text)
            label_rect = QRectF(plot.left(), top, label_width - PAD, row_height)
            elided = metrics.elidedText(
                label, Qt.TextElideMode.ElideMiddle, int(label_rect.width())
            )
            painter.drawText(
                label_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, elided
            )
            y = top + row_height * 0.14
            tips = [label] + [f"{s.name}: {self.number(s.values[index])}" for s in self.series]
            for series in self.series:
                value = series.values[index]
                bar = QRectF(bars.left(), y, bars.width() * value / top_value, bar_height)
                painter.fillRect(bar, series.color)
                painter.setPen(text)
                value_rect = QRectF(bar.right() + 4, y, value_room, bar_height)
                painter.drawText(value_rect, Qt.AlignmentFlag.AlignVCenter, self.number(value))
                y += bar_height
            self.hit(QRectF(plot.left(), top, plot.width(), row_height), "\n".join(tips))


class ColumnChart(Chart):
    """Columns over time buckets, the series stacked (e.g. calls that went well, and errors)."""

    def draw_plot(self, painter: QPainter, plot: QRectF, text: QColor) -> None:
        metrics = QFontMetrics(self.font())
        totals = [sum(s.values[i] for s in self.series) for i in range(len(self.labels))]
        ticks = nice_ticks(max(totals))
        axis_width = max(metrics.horizontalAdvance(self.number(t)) for t in ticks) + PAD
        area = plot.adjusted(axis_width, metrics.height() * 0.5, 0, -(metrics.height() + 4))
        for tick in ticks:
            y = area.bottom() - area.height() * tick / ticks[-1]
            painter.setPen(self.grid_pen())
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(text)
            tick_rect = QRectF(
                plot.left(), y - metrics.height() / 2, axis_width - 4, metrics.height()
            )
            painter.drawText(
                tick_rect,
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                self.number(tick),
            )
        slot = area.width() / len(self.labels)
        widest = max(metrics.horizontalAdvance(label) for label in self.labels) + PAD
        every = max(1, math.ceil(widest / slot))
        for index, label in enumerate(self.labels):
            x = area.left() + index * slot
            bottom = area.bottom()
            for series in self.series:
                height = area.height() * series.values[index] / ticks[-1]
                painter.fillRect(
                    QRectF(x + slot * 0.15, bottom - height, slot * 0.7, height), series.color
                )
                bottom -= height
            tips = [label] + [f"{s.name}: {self.number(s.values[index])}" for s in self.series]
            self.hit(QRectF(x, area.top(), slot, area.height()), "\n".join(tips))
            if (len(self.labels) - 1 - index) % every == 0:  # the latest bucket is labelled
                painter.setPen(text)
                label_rect = QRectF(
                    x + slot / 2 - widest / 2, area.bottom() + 4, widest, metrics.height()
                )
                painter.drawText(label_rect, Qt.AlignmentFlag.AlignHCenter, label)
