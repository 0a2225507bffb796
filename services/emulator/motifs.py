"""Things the demo pictures can show, each drawn from simple shapes standing on the ground line.

Every function takes (painter, x centre, ground y, height in pixels, main colour, rng) and draws one motif.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath

from services.emulator.creatures import bird, cat, dog, fish, flower, fox, tree
from services.emulator.shapes import ellipse, line, poly


def lighthouse(p, x, g, s, colour, rng):
    w0, w1 = s * 0.16, s * 0.10
    top = g - s * 0.78
    poly(
        p,
        [(x - s * 0.3, g), (x + s * 0.3, g), (x + s * 0.22, g - s * 0.06), (x - s * 0.22, g - s * 0.06)],
        QColor(70, 64, 60),
    )
    bands = 5
    for i in range(bands):
        y0 = g - s * 0.06 - (top - (g - s * 0.06)) * -i / bands
        y1 = g - s * 0.06 - (top - (g - s * 0.06)) * -(i + 1) / bands
        f0 = (y0 - top) / (g - top)
        f1 = (y1 - top) / (g - top)
        half0 = w1 + (w0 - w1) * f0
        half1 = w1 + (w0 - w1) * f1
        band = colour if i % 2 == 0 else QColor(245, 242, 235)
        poly(p, [(x - half0, y0), (x + half0, y0), (x + half1, y1), (x - half1, y1)], band)
    beam = QPainterPath()
    lamp = QPointF(x, top - s * 0.07)
    beam.moveTo(lamp)
    beam.lineTo(x + s * 2.2, top - s * 0.35)
    beam.lineTo(x + s * 2.2, top + s * 0.15)
    beam.closeSubpath()
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(255, 240, 170, 70))
    p.drawPath(beam)
    poly(
        p,
        [(x - w1 * 1.3, top), (x + w1 * 1.3, top), (x + w1 * 1.3, top + s * 0.02), (x - w1 * 1.3, top + s * 0.02)],
        QColor(40, 40, 45),
    )
    poly(
        p,
        [(x - w1 * 0.8, top), (x + w1 * 0.8, top), (x + w1 * 0.8, top - s * 0.1), (x - w1 * 0.8, top - s * 0.1)],
        QColor(255, 226, 120),
    )
    poly(p, [(x - w1, top - s * 0.1), (x + w1, top - s * 0.1), (x, top - s * 0.2)], QColor(40, 40, 45))
    ellipse(p, lamp.x(), lamp.y(), s * 0.12, s * 0.12, QColor(255, 245, 200, 90))


def house(p, x, g, s, colour, rng):
    w, h = s * 0.7, s * 0.45
    poly(p, [(x - w / 2, g), (x + w / 2, g), (x + w / 2, g - h), (x - w / 2, g - h)], colour)
    poly(p, [(x - w * 0.62, g - h), (x + w * 0.62, g - h), (x, g - h - s * 0.38)], QColor(120, 50, 45))
    poly(
        p,
        [(x - w * 0.1, g), (x + w * 0.1, g), (x + w * 0.1, g - h * 0.55), (x - w * 0.1, g - h * 0.55)],
        QColor(80, 55, 40),
    )
    for dx in (-0.3, 0.3):
        poly(
            p,
            [
                (x + w * (dx - 0.09), g - h * 0.75),
                (x + w * (dx + 0.09), g - h * 0.75),
                (x + w * (dx + 0.09), g - h * 0.45),
                (x + w * (dx - 0.09), g - h * 0.45),
            ],
            QColor(255, 220, 130),
        )
    poly(
        p,
        [
            (x + w * 0.25, g - h - s * 0.2),
            (x + w * 0.36, g - h - s * 0.2),
            (x + w * 0.36, g - h - s * 0.38),
            (x + w * 0.25, g - h - s * 0.38),
        ],
        QColor(90, 60, 50),
    )


def boat(p, x, g, s, colour, rng):
    poly(
        p,
        [
            (x - s * 0.5, g - s * 0.12),
            (x + s * 0.5, g - s * 0.12),
            (x + s * 0.36, g + s * 0.04),
            (x - s * 0.36, g + s * 0.04),
        ],
        QColor(90, 50, 35),
    )
    line(p, [(x, g - s * 0.12), (x, g - s * 0.95)], QColor(70, 50, 40), s * 0.025)
    poly(
        p,
        [(x + s * 0.02, g - s * 0.92), (x + s * 0.02, g - s * 0.18), (x + s * 0.42, g - s * 0.18)],
        QColor(250, 248, 240),
    )
    poly(p, [(x - s * 0.02, g - s * 0.8), (x - s * 0.02, g - s * 0.2), (x - s * 0.32, g - s * 0.2)], colour)


def mug(p, x, g, s, colour, rng):
    w, h = s * 0.5, s * 0.55
    ellipse(p, x, g, w * 0.75, s * 0.05, QColor(0, 0, 0, 50))
    line(
        p,
        [(x + w / 2, g - h * 0.75), (x + w * 0.8, g - h * 0.7), (x + w * 0.8, g - h * 0.35), (x + w / 2, g - h * 0.3)],
        colour.darker(130),
        s * 0.06,
    )
    poly(p, [(x - w / 2, g - h), (x + w / 2, g - h), (x + w * 0.45, g), (x - w * 0.45, g)], colour)
    ellipse(p, x, g - h, w / 2, s * 0.05, colour.darker(140))
    ellipse(p, x, g - h * 0.55, w * 0.18, w * 0.18, QColor(255, 255, 255, 200))  # the logo's place
    for dx in (-0.12, 0.0, 0.12):
        line(
            p,
            [(x + s * dx, g - h - s * 0.1), (x + s * (dx + 0.04), g - h - s * 0.2), (x + s * dx, g - h - s * 0.3)],
            QColor(255, 255, 255, 120),
            s * 0.02,
        )


def car(p, x, g, s, colour, rng):
    w = s * 1.0
    poly(
        p,
        [
            (x - w / 2, g - s * 0.12),
            (x + w / 2, g - s * 0.12),
            (x + w / 2, g - s * 0.32),
            (x + w * 0.25, g - s * 0.35),
            (x + w * 0.12, g - s * 0.55),
            (x - w * 0.22, g - s * 0.55),
            (x - w * 0.35, g - s * 0.35),
            (x - w / 2, g - s * 0.32),
        ],
        colour,
    )
    poly(
        p,
        [
            (x - w * 0.18, g - s * 0.38),
            (x + w * 0.08, g - s * 0.38),
            (x + w * 0.05, g - s * 0.5),
            (x - w * 0.15, g - s * 0.5),
        ],
        QColor(190, 220, 240),
    )
    for dx in (-0.3, 0.3):
        ellipse(p, x + w * dx, g - s * 0.12, s * 0.12, s * 0.12, QColor(30, 30, 35))
        ellipse(p, x + w * dx, g - s * 0.12, s * 0.05, s * 0.05, QColor(180, 180, 190))


def robot(p, x, g, s, colour, rng):
    metal = QColor(colour).lighter(120)
    poly(
        p,
        [
            (x - s * 0.2, g - s * 0.25),
            (x + s * 0.2, g - s * 0.25),
            (x + s * 0.2, g - s * 0.62),
            (x - s * 0.2, g - s * 0.62),
        ],
        metal,
    )
    poly(
        p,
        [
            (x - s * 0.15, g - s * 0.66),
            (x + s * 0.15, g - s * 0.66),
            (x + s * 0.15, g - s * 0.9),
            (x - s * 0.15, g - s * 0.9),
        ],
        metal.lighter(110),
    )
    for side in (-1, 1):
        ellipse(p, x + side * s * 0.07, g - s * 0.79, s * 0.04, s * 0.04, QColor(120, 230, 255))
        line(p, [(x + side * s * 0.2, g - s * 0.58), (x + side * s * 0.34, g - s * 0.42)], metal.darker(130), s * 0.05)
        line(p, [(x + side * s * 0.1, g - s * 0.25), (x + side * s * 0.1, g)], metal.darker(130), s * 0.06)
    line(p, [(x, g - s * 0.9), (x, g - s * 1.0)], metal.darker(150), s * 0.02)
    ellipse(p, x, g - s * 1.01, s * 0.03, s * 0.03, QColor(255, 90, 90))


def castle(p, x, g, s, colour, rng):
    stone = QColor(colour).lighter(130)
    poly(p, [(x - s * 0.5, g), (x + s * 0.5, g), (x + s * 0.5, g - s * 0.45), (x - s * 0.5, g - s * 0.45)], stone)
    for dx in (-0.5, 0.35):
        poly(
            p,
            [
                (x + s * dx, g),
                (x + s * (dx + 0.15), g),
                (x + s * (dx + 0.15), g - s * 0.75),
                (x + s * dx, g - s * 0.75),
            ],
            stone.darker(110),
        )
        poly(
            p,
            [
                (x + s * (dx - 0.03), g - s * 0.75),
                (x + s * (dx + 0.18), g - s * 0.75),
                (x + s * (dx + 0.075), g - s * 0.98),
            ],
            QColor(110, 60, 80),
        )
    poly(
        p,
        [
            (x - s * 0.08, g),
            (x + s * 0.08, g),
            (x + s * 0.08, g - s * 0.2),
            (x, g - s * 0.27),
            (x - s * 0.08, g - s * 0.2),
        ],
        QColor(70, 50, 40),
    )
    line(p, [(x + s * 0.425, g - s * 0.98), (x + s * 0.425, g - s * 1.12)], QColor(60, 50, 50), s * 0.012)
    poly(
        p,
        [(x + s * 0.43, g - s * 1.12), (x + s * 0.55, g - s * 1.08), (x + s * 0.43, g - s * 1.04)],
        QColor(220, 60, 60),
    )


def balloon(p, x, g, s, colour, rng):
    for i in range(rng.randint(2, 4)):
        bx = x + rng.uniform(-0.7, 0.7) * s
        by = g - s * rng.uniform(1.0, 1.8)
        r = s * rng.uniform(0.14, 0.22)
        c = QColor.fromHsl((colour.hslHue() + i * 70) % 360, 200, 140)
        line(p, [(bx, by + r), (bx + r * 0.3, by + r * 2.2), (bx, by + r * 3.2)], QColor(60, 60, 60, 160), s * 0.006)
        ellipse(p, bx, by, r * 0.85, r, c)
        ellipse(p, bx - r * 0.3, by - r * 0.35, r * 0.2, r * 0.25, QColor(255, 255, 255, 110))


def rocket(p, x, g, s, colour, rng):
    poly(
        p,
        [
            (x - s * 0.12, g - s * 0.3),
            (x + s * 0.12, g - s * 0.3),
            (x + s * 0.12, g - s * 0.85),
            (x, g - s * 1.1),
            (x - s * 0.12, g - s * 0.85),
        ],
        QColor(235, 235, 240),
    )
    for side in (-1, 1):
        poly(
            p,
            [
                (x + side * s * 0.12, g - s * 0.3),
                (x + side * s * 0.25, g - s * 0.2),
                (x + side * s * 0.12, g - s * 0.5),
            ],
            colour,
        )
    ellipse(p, x, g - s * 0.72, s * 0.06, s * 0.06, QColor(90, 160, 220))
    poly(p, [(x - s * 0.08, g - s * 0.3), (x + s * 0.08, g - s * 0.3), (x, g - s * 0.05)], QColor(255, 170, 60))


def heart(p, x, g, s, colour, rng):
    cy = g - s * 0.9
    path = QPainterPath(QPointF(x, cy + s * 0.35))
    path.cubicTo(x - s * 0.55, cy, x - s * 0.3, cy - s * 0.35, x, cy - s * 0.12)
    path.cubicTo(x + s * 0.3, cy - s * 0.35, x + s * 0.55, cy, x, cy + s * 0.35)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    p.drawPath(path)


MOTIFS = {
    "lighthouse": lighthouse,
    "fox": fox,
    "cat": cat,
    "dog": dog,
    "bird": bird,
    "tree": tree,
    "house": house,
    "boat": boat,
    "fish": fish,
    "flower": flower,
    "mug": mug,
    "car": car,
    "robot": robot,
    "castle": castle,
    "balloon": balloon,
    "rocket": rocket,
    "heart": heart,
}


# Words (and plurals by a trailing s) that call a motif.


WORDS = {
    "lighthouse": "lighthouse",
    "beacon": "lighthouse",
    "fox": "fox",
    "foxes": "fox",
    "cat": "cat",
    "kitten": "cat",
    "dog": "dog",
    "puppy": "dog",
    "bird": "bird",
    "gull": "bird",
    "seagull": "bird",
    "crow": "bird",
    "tree": "tree",
    "forest": "tree",
    "pine": "tree",
    "woods": "tree",
    "house": "house",
    "cabin": "house",
    "cottage": "house",
    "home": "house",
    "village": "house",
    "boat": "boat",
    "ship": "boat",
    "sailboat": "boat",
    "yacht": "boat",
    "fish": "fish",
    "koi": "fish",
    "whale": "fish",
    "flower": "flower",
    "rose": "flower",
    "tulip": "flower",
    "garden": "flower",
    "mug": "mug",
    "cup": "mug",
    "coffee": "mug",
    "tea": "mug",
    "car": "car",
    "truck": "car",
    "taxi": "car",
    "robot": "robot",
    "android": "robot",
    "castle": "castle",
    "tower": "castle",
    "palace": "castle",
    "balloon": "balloon",
    "rocket": "rocket",
    "spaceship": "rocket",
    "heart": "heart",
    "love": "heart",
}


def motifs_in(words: list[str]) -> list[str]:
    found: list[str] = []
    for word in words:
        name = WORDS.get(word) or (WORDS.get(word[:-1]) if word.endswith("s") else None)
        if name and name not in found:
            found.append(name)
    return found
