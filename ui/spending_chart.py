"""A bar per day, drawn with QPainter; hovering a bar shows its day and value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from ui.common import money, tr

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 10, 12, 24


@dataclass(frozen=True)
class DayBar:
    day: date
    usd: float
    images: int
    attempts: int


class DayBarChart(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumHeight(170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._bars: list[DayBar] = []
        self._top = 0.0
        self.hovered: int | None = None

    def set_bars(self, bars: list[DayBar]) -> None:
        self._bars = list(bars)
        self._top = _nice_ceiling(max((b.usd for b in self._bars), default=0.0))
        self.hovered = None
        self.update()

    def bars(self) -> list[DayBar]:
        return list(self._bars)

    # --- geometry ----------------------------------------------------------------------------------------------
    def _plot(self) -> QRectF:
        return QRectF(self.rect()).adjusted(MARGIN_LEFT, MARGIN_TOP, -MARGIN_RIGHT, -MARGIN_BOTTOM)

    def _slot(self, i: int) -> QRectF:
        plot = self._plot()
        width = plot.width() / max(1, len(self._bars))
        return QRectF(plot.left() + i * width, plot.top(), width, plot.height())

    def bar_rect(self, i: int) -> QRectF:
        """Where bar `i` is drawn (at least 1 px tall when it has spending, so a cheap day can still be hovered)."""
        slot = self._slot(i)
        gap = min(4.0, slot.width() * 0.2)
        usd = self._bars[i].usd
        height = 0.0 if not self._top else max(1.0 if usd > 0 else 0.0, slot.height() * usd / self._top)
        return QRectF(slot.left() + gap / 2, slot.bottom() - height, max(1.0, slot.width() - gap), height)

    def index_at(self, point: QPointF) -> int | None:
        """The day under the pointer: the whole column counts, not only the bar, so small bars are easy to hover."""
        if not self._bars or not self._plot().contains(point):
            return None
        i = int((point.x() - self._plot().left()) / (self._plot().width() / len(self._bars)))
        return i if 0 <= i < len(self._bars) else None

    def tooltip_for(self, i: int) -> str:
        bar = self._bars[i]
        text = tr("{0}: {1} · {2} images · {3} attempts").format(
            bar.day.strftime("%a %d %b %Y"), money(bar.usd), bar.images, bar.attempts
        )
        return text

    # --- input -------------------------------------------------------------------------------------------------
    def mouseMoveEvent(self, event):
        i = self.index_at(event.position())
        if i != self.hovered:
            self.hovered = i
            self.update()
        if i is None:
            QToolTip.hideText()
        else:
            QToolTip.showText(event.globalPosition().toPoint(), self.tooltip_for(i), self)
        super().mouseMoveEvent(event)

    def leaveEvent(self, event):
        self.hovered = None
        self.update()
        super().leaveEvent(event)

    # --- painting ----------------------------------------------------------------------------------------------
    def paintEvent(self, _event):
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        palette = self.palette()
        text_colour = palette.color(QPalette.ColorRole.WindowText)
        grid = QColor(text_colour)
        grid.setAlpha(40)
        plot = self._plot()
        metrics = QFontMetrics(self.font())
        if not self._bars or not self._top:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, tr("Nothing spent in this period."))
            painter.end()
            return
        for step in range(5):  # horizontal grid lines with their value
            value = self._top * step / 4
            y = plot.bottom() - plot.height() * step / 4
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(text_colour)
            label = QRectF(0, y - metrics.height() / 2, MARGIN_LEFT - 6, metrics.height())
            painter.drawText(label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self._axis(value))
        colour = palette.color(QPalette.ColorRole.Highlight)
        hover = colour.lighter(130) if colour.lightness() < 128 else colour.darker(125)
        painter.setPen(Qt.PenStyle.NoPen)
        for i, _bar in enumerate(self._bars):
            painter.setBrush(hover if i == self.hovered else colour)
            painter.drawRect(self.bar_rect(i))
        painter.setPen(text_colour)
        for i in self._label_indices(metrics):
            slot = self._slot(i)
            text = self._bars[i].day.strftime("%d %b")
            box = QRectF(slot.center().x() - 40, plot.bottom() + 4, 80, metrics.height())
            painter.drawText(box, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, text)
        painter.end()

    def _axis(self, value: float) -> str:
        if not value:
            return "$0"
        return f"${value:.2f}" if self._top >= 1 else f"${value:.3f}"

    def _label_indices(self, metrics: QFontMetrics) -> list[int]:
        """Day labels that fit without overlapping: every n-th day, always the first and the last."""
        n = len(self._bars)
        room = self._plot().width() / max(1, n)
        every = max(1, int((metrics.horizontalAdvance("00 Mmm") + 12) // max(1.0, room)) + 1)
        indices = list(range(0, n, every))
        if indices and n - 1 - indices[-1] >= every / 2:
            indices.append(n - 1)
        return indices


def _nice_ceiling(value: float) -> float:
    """The top of the axis: a round step (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8) times a power of ten, at or above `value`."""
    if value <= 0:
        return 0.0
    magnitude = 10 ** int(f"{value:e}".split("e")[1])
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude + 1e-12:
            return step * magnitude
    return 10 * magnitude
