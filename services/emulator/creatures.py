"""Living things for the demo pictures: (painter, x centre, ground y, height, colour, rng) like motifs.py."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath

from services.emulator.shapes import ellipse, line, poly, shade


def fox(p, x, g, s, colour, rng):
    body = shade(colour, 100)
    light = QColor(250, 246, 238)
    for dx in (-0.25, -0.1, 0.15, 0.3):  # legs
        poly(
            p,
            [(x + s * dx, g - s * 0.2), (x + s * (dx + 0.07), g - s * 0.2), (x + s * (dx + 0.07), g), (x + s * dx, g)],
            shade(body, 150),
        )
    ellipse(p, x, g - s * 0.32, s * 0.42, s * 0.22, body)  # body
    tail = QPainterPath(QPointF(x - s * 0.35, g - s * 0.35))
    tail.cubicTo(x - s * 0.9, g - s * 0.5, x - s * 0.95, g - s * 0.05, x - s * 0.55, g - s * 0.08)
    tail.cubicTo(x - s * 0.45, g - s * 0.12, x - s * 0.4, g - s * 0.2, x - s * 0.35, g - s * 0.25)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(body)
    p.drawPath(tail)
    ellipse(p, x - s * 0.8, g - s * 0.1, s * 0.09, s * 0.07, light)  # tail tip
    hx, hy = x + s * 0.45, g - s * 0.55
    poly(
        p, [(hx - s * 0.16, hy - s * 0.05), (hx + s * 0.32, hy + s * 0.05), (hx - s * 0.05, hy + s * 0.18)], body
    )  # snout
    ellipse(p, hx, hy, s * 0.16, s * 0.14, body)
    poly(
        p, [(hx - s * 0.14, hy - s * 0.06), (hx - s * 0.1, hy - s * 0.32), (hx - s * 0.01, hy - s * 0.1)], body
    )  # ears
    poly(p, [(hx + s * 0.02, hy - s * 0.1), (hx + s * 0.1, hy - s * 0.33), (hx + s * 0.14, hy - s * 0.05)], body)
    poly(p, [(hx - s * 0.02, hy + s * 0.06), (hx + s * 0.3, hy + s * 0.06), (hx - s * 0.02, hy + s * 0.17)], light)
    ellipse(p, hx + s * 0.31, hy + s * 0.05, s * 0.03, s * 0.03, QColor(30, 25, 25))
    ellipse(p, hx + s * 0.06, hy - s * 0.02, s * 0.025, s * 0.025, QColor(30, 25, 25))


def cat(p, x, g, s, colour, rng):
    body = colour
    ellipse(p, x, g - s * 0.3, s * 0.25, s * 0.3, body)
    ellipse(p, x, g - s * 0.72, s * 0.19, s * 0.17, body)
    for side in (-1, 1):
        poly(
            p,
            [
                (x + side * s * 0.17, g - s * 0.78),
                (x + side * s * 0.15, g - s * 0.98),
                (x + side * s * 0.04, g - s * 0.86),
            ],
            body,
        )
        ellipse(p, x + side * s * 0.07, g - s * 0.74, s * 0.035, s * 0.045, QColor(120, 200, 90))
        line(
            p,
            [(x + side * s * 0.05, g - s * 0.66), (x + side * s * 0.3, g - s * 0.7)],
            QColor(240, 240, 240),
            s * 0.008,
        )
    tail = [(x + s * 0.2, g - s * 0.1), (x + s * 0.45, g - s * 0.15), (x + s * 0.5, g - s * 0.45)]
    line(p, tail, body, s * 0.07)
    poly(p, [(x - s * 0.03, g - s * 0.67), (x + s * 0.03, g - s * 0.67), (x, g - s * 0.63)], QColor(230, 140, 150))


def dog(p, x, g, s, colour, rng):
    body = colour
    ellipse(p, x, g - s * 0.38, s * 0.38, s * 0.18, body)
    for dx in (-0.28, -0.14, 0.14, 0.28):
        poly(
            p,
            [(x + s * dx, g - s * 0.3), (x + s * (dx + 0.08), g - s * 0.3), (x + s * (dx + 0.08), g), (x + s * dx, g)],
            body,
        )
    line(p, [(x - s * 0.35, g - s * 0.45), (x - s * 0.5, g - s * 0.7)], body, s * 0.06)
    hx, hy = x + s * 0.4, g - s * 0.62
    ellipse(p, hx, hy, s * 0.17, s * 0.15, body)
    ellipse(p, hx + s * 0.17, hy + s * 0.05, s * 0.12, s * 0.08, body)
    ellipse(p, hx - s * 0.1, hy + s * 0.05, s * 0.06, s * 0.14, shade(body, 160))  # ear
    ellipse(p, hx + s * 0.28, hy + s * 0.02, s * 0.035, s * 0.03, QColor(25, 20, 20))
    ellipse(p, hx + s * 0.05, hy - s * 0.04, s * 0.025, s * 0.025, QColor(25, 20, 20))


def bird(p, x, g, s, colour, rng):
    for _ in range(rng.randint(3, 6)):
        bx = x + rng.uniform(-1.2, 1.2) * s
        by = g - s * rng.uniform(1.4, 2.6)
        w = s * rng.uniform(0.08, 0.16)
        line(
            p,
            [
                (bx - w, by - w * 0.3),
                (bx - w * 0.45, by - w * 0.55),
                (bx, by),
                (bx + w * 0.45, by - w * 0.55),
                (bx + w, by - w * 0.3),
            ],
            QColor(40, 40, 50, 200),
            s * 0.018,
        )


def fish(p, x, g, s, colour, rng):
    for i in range(rng.randint(2, 4)):
        fx = x + rng.uniform(-0.8, 0.8) * s
        fy = g - s * rng.uniform(0.2, 0.9)
        r = s * rng.uniform(0.12, 0.22)
        c = colour.lighter(90 + i * 15)
        ellipse(p, fx, fy, r, r * 0.55, c)
        poly(p, [(fx - r * 0.9, fy), (fx - r * 1.6, fy - r * 0.5), (fx - r * 1.6, fy + r * 0.5)], c)
        ellipse(p, fx + r * 0.5, fy - r * 0.12, r * 0.09, r * 0.09, QColor(20, 20, 30))


def flower(p, x, g, s, colour, rng):
    for _ in range(rng.randint(3, 6)):
        fx = x + rng.uniform(-0.9, 0.9) * s
        fh = s * rng.uniform(0.35, 0.75)
        line(p, [(fx, g), (fx + s * 0.03, g - fh * 0.5), (fx, g - fh)], QColor(70, 140, 70), s * 0.02)
        petal = QColor(colour).lighter(rng.randint(90, 130))
        r = s * rng.uniform(0.06, 0.1)
        for k in range(6):
            a = k * math.pi / 3
            ellipse(p, fx + math.cos(a) * r, g - fh + math.sin(a) * r, r * 0.75, r * 0.75, petal)
        ellipse(p, fx, g - fh, r * 0.55, r * 0.55, QColor(250, 210, 80))


def tree(p, x, g, s, colour, rng):
    for i in range(rng.randint(2, 4)):
        tx = x + (i - 1) * s * 0.45 + rng.uniform(-0.1, 0.1) * s
        th = s * rng.uniform(0.7, 1.05)
        poly(
            p,
            [(tx - th * 0.03, g), (tx + th * 0.03, g), (tx + th * 0.03, g - th * 0.2), (tx - th * 0.03, g - th * 0.2)],
            QColor(90, 60, 40),
        )
        green = QColor.fromHsl(rng.randint(90, 140), rng.randint(90, 150), rng.randint(60, 100))
        for level in range(3):
            base = g - th * (0.15 + level * 0.22)
            half = th * (0.3 - level * 0.07)
            poly(p, [(tx - half, base), (tx + half, base), (tx, base - th * 0.4)], green.darker(100 + level * 10))
