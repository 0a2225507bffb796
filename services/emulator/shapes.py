"""Drawing primitives for the demo pictures, and the mountains behind them."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QPolygonF


def poly(p: QPainter, points, colour: QColor) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(colour))
    p.drawPolygon(QPolygonF([QPointF(x, y) for x, y in points]))


def ellipse(p: QPainter, cx, cy, rx, ry, colour: QColor) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(colour))
    p.drawEllipse(QPointF(cx, cy), rx, ry)


def line(p: QPainter, points, colour: QColor, width: float) -> None:
    pen = QPen(colour, max(1.0, width))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPolyline(QPolygonF([QPointF(x, y) for x, y in points]))


def shade(colour: QColor, factor: int) -> QColor:
    """factor > 100 darker, < 100 lighter."""
    return colour.darker(factor) if factor >= 100 else colour.lighter(int(100 * 100 / factor))


def mountain_range(p, width, horizon, height, colour, rng):
    """Peaks behind the ground line, with snowy tops."""
    for layer in range(2):
        peaks = rng.randint(2, 4)
        points = [(0, horizon)]
        for i in range(peaks):
            px = width * (i + rng.uniform(0.2, 0.8)) / peaks
            top = horizon - height * rng.uniform(0.45, 0.8) * (1 - layer * 0.3)
            points += [(px - width * 0.18, horizon), (px, top), (px + width * 0.18, horizon)]
        points.append((width, horizon))
        tint = QColor(colour).darker(110 + layer * 25)
        poly(p, points, tint)
        for i in range(1, len(points) - 1, 3):
            (lx, ly), (tx, ty), (rx, ry) = points[i], points[i + 1], points[i + 2]
            f = 0.22
            poly(
                p,
                [(tx, ty), (tx + (rx - tx) * f, ty + (ry - ty) * f), (tx + (lx - tx) * f, ty + (ly - ty) * f)],
                QColor(248, 248, 252, 230),
            )
