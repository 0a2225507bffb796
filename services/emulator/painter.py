"""The demo pictures: a small scene that answers the prompt, deterministic for a prompt and a seed.

The words choose the light (day, dusk, night), the ground (sea, snow, sand, grass), mountains, colours and up to
three motifs (a lighthouse, a fox, a mug...); the prompt itself is written on the picture. An edit repaints the
previous picture, tinted, with the new instruction's motifs and words, so it visibly derives from its parent.
QtGui only, painted in the server's threads: see Painter.__init__ for why it warms up on the main thread.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import threading
from collections import OrderedDict

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QLinearGradient, QPainter, QPen, QRadialGradient

from services.emulator import glyphs
from services.emulator.motifs import MOTIFS, motifs_in
from services.emulator.shapes import mountain_range
from services.imaging import encode, prepare_qt

COLOURS = {
    "red": QColor(205, 60, 50),
    "orange": QColor(235, 130, 50),
    "yellow": QColor(240, 200, 60),
    "golden": QColor(225, 175, 60),
    "gold": QColor(225, 175, 60),
    "green": QColor(70, 160, 90),
    "blue": QColor(60, 110, 210),
    "purple": QColor(140, 80, 190),
    "violet": QColor(140, 80, 190),
    "pink": QColor(235, 120, 170),
    "white": QColor(240, 240, 240),
    "black": QColor(45, 45, 50),
    "brown": QColor(140, 90, 55),
    "silver": QColor(180, 185, 195),
    "grey": QColor(140, 140, 150),
    "gray": QColor(140, 140, 150),
}
NATURAL = {"fox": QColor(220, 110, 40), "lighthouse": QColor(200, 50, 45), "cat": QColor(90, 85, 95)}
WATER = {"sea", "ocean", "beach", "lighthouse", "boat", "ship", "harbor", "harbour", "lake", "river", "island",
         "wave", "waves", "coast", "shore", "sailboat", "fish", "whale", "underwater"}  # fmt: skip
SNOW = {"snow", "snowy", "winter", "ice", "frost", "frozen", "arctic"}
SAND = {"desert", "sand", "dune", "dunes", "sahara"}
NIGHT = {"night", "midnight", "stars", "starry", "moon", "moonlight", "space", "galaxy", "rocket"}
DUSK = {"dusk", "sunset", "sunrise", "dawn", "evening", "twilight", "golden"}
MOUNTAINS = {"mountain", "mountains", "alps", "peak", "peaks", "volcano", "hills"}


def words_of(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", re.sub(r"#\w+", " ", prompt.lower()))


def caption_of(prompt: str) -> str:
    return glyphs.normalise(re.sub(r"#\w+", " ", prompt))


class Painter:
    """Made on the main thread, it paints one small picture of each kind first: QPainter, gradients, paths and
    colours used for the first time from two server threads at once crash PySide6 (see imaging.prepare_qt)."""

    _warm = threading.Lock()
    _ready = False

    def __init__(self, texture: bool = False, cache_size: int = 16):
        self.texture = texture
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        prepare_qt()
        with Painter._warm:
            if not Painter._ready:
                every_motif = "prepare " + " ".join(MOTIFS) + " sea snow mountains night dusk red"
                for fmt, grain in (("PNG", False), ("PNG", True), ("JPEG", False), ("WEBP", False)):
                    base = self._render(every_motif, 48, 40, 0, fmt, grain)
                self._render("edit", 40, 48, 1, "PNG", False, base=base, insets=(base,))
                self._render("draft", 32, 32, 2, "PNG", False, draft=1)
                canvas = QImage(32, 32, QImage.Format.Format_RGB32)
                p = QPainter(canvas)
                for draw in MOTIFS.values():  # a scene draws at most three of them
                    draw(p, 16, 28, 20, QColor(200, 90, 60), random.Random(0))
                p.end()
                Painter._ready = True

    def png(self, prompt: str, width: int, height: int, variant: int = 0, fmt: str = "PNG") -> bytes:
        """A fresh picture for the prompt (any format Qt writes, PNG by default)."""
        return self.picture(prompt, width, height, variant, fmt)

    def picture(
        self,
        prompt: str,
        width: int,
        height: int,
        variant: int = 0,
        fmt: str = "PNG",
        *,
        base: bytes | None = None,
        insets: tuple[bytes, ...] = (),
        draft: int = 0,
        quality: int = -1,
    ) -> bytes:
        """base: the picture this one edits; insets: reference images shown in it; draft: 1 or 2 for a thought."""
        digest = hashlib.sha256(b"".join([base or b"", *insets])).hexdigest() if base or insets else ""
        key = (prompt, width, height, variant, fmt, digest, draft, quality)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        data = self._render(prompt, width, height, variant, fmt, None, base=base, insets=insets, draft=draft,
                            quality=quality)  # fmt: skip
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return data

    def _render(self, prompt, width, height, variant, fmt, texture=None, *, base=None, insets=(), draft=0, quality=-1):
        seed_text = f"{prompt}\0{variant}\0{hashlib.sha256(base).hexdigest() if base else ''}"
        rng = random.Random(int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "big"))
        words = words_of(prompt)
        image = QImage(width, height, QImage.Format.Format_RGB32)
        p = QPainter(image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        parent = QImage.fromData(base) if base else QImage()
        if not parent.isNull():
            _repaint(p, parent, width, height, words, rng)
        else:
            _scene(p, width, height, words, rng)
        if insets:
            _insets(p, insets, width, height, rng)
        if not draft:
            _caption(p, caption_of(prompt), width, height, solid=not parent.isNull())
            if not parent.isNull():
                _badge(p, "EDIT", width, height)
        if (self.texture if texture is None else texture) and not draft:
            # Grain makes the PNG as big as a real photo-like one (a few MB at 2K), for honest benchmarks.
            grain = QImage(os.urandom(width * height), width, height, width, QImage.Format.Format_Grayscale8)
            p.setOpacity(0.12)
            p.drawImage(0, 0, grain)
        p.end()
        if draft == 1:
            image = image.convertToFormat(QImage.Format.Format_Grayscale8)
        # PNG quality 80 is zlib level 1: twice as fast as the default, a third bigger, as real answers are.
        return encode(image, fmt, quality if quality >= 0 else (90 if fmt == "JPEG" else 80))


def _scene(p: QPainter, w: int, h: int, words: list[str], rng: random.Random) -> None:
    vocabulary = set(words)
    light = "night" if vocabulary & NIGHT else "dusk" if vocabulary & DUSK else "day"
    ground = (
        "water" if vocabulary & WATER else "snow" if vocabulary & SNOW else "sand" if vocabulary & SAND else "grass"
    )
    found = motifs_in(words)
    tint = next((COLOURS[word] for word in words if word in COLOURS), None)
    hue_shift = rng.randint(-12, 12)

    def hsl(h_, s_, l_) -> QColor:
        return QColor.fromHsl((h_ + hue_shift) % 360, s_, l_)

    sky = QLinearGradient(0, 0, 0, h)
    if light == "night":
        stops = [hsl(230, 140, 18), hsl(240, 110, 45)]
    elif light == "dusk":
        stops = [hsl(255, 90, 60), hsl(10, 170, 140), hsl(35, 220, 175)]
    else:
        stops = [hsl(208, 150, 140), hsl(200, 130, 205)]
    for i, colour in enumerate(stops):
        sky.setColorAt(i / (len(stops) - 1), colour)
    p.fillRect(0, 0, w, h, QBrush(sky))
    edge = min(w, h)
    horizon = h * rng.uniform(0.6, 0.7)
    p.setPen(Qt.PenStyle.NoPen)
    if light == "night":
        for _ in range(int(60 * w * h / 1e6) + 12):
            r = edge * rng.uniform(0.001, 0.004)
            p.setBrush(QColor(255, 255, 240, rng.randint(120, 255)))
            p.drawEllipse(QPointF(rng.uniform(0, w), rng.uniform(0, horizon * 0.9)), r, r)
        _glow(p, w * rng.uniform(0.65, 0.85), h * 0.2, edge * 0.07, QColor(250, 248, 225), QColor(250, 248, 225, 0))
    else:
        sun_y = horizon - edge * (0.05 if light == "dusk" else rng.uniform(0.3, 0.45))
        core = QColor(255, 200, 120) if light == "dusk" else QColor(255, 246, 200)
        _glow(
            p,
            w * rng.uniform(0.2, 0.8),
            sun_y,
            edge * (0.16 if light == "dusk" else 0.09),
            core,
            QColor(255, 220, 150, 0),
        )
    for _ in range(rng.randint(2, 4) if light != "night" else 0):  # clouds
        cx, cy, cw = rng.uniform(0, w), rng.uniform(0.08, 0.4) * horizon, edge * rng.uniform(0.12, 0.25)
        p.setBrush(QColor(255, 255, 255, 120 if light == "day" else 70))
        for k in range(4):
            p.drawEllipse(QPointF(cx + (k - 1.5) * cw * 0.35, cy + (k % 2) * cw * 0.08), cw * 0.32, cw * 0.22)
    if vocabulary & MOUNTAINS or (ground == "snow" and rng.random() < 0.6):
        rock = QColor(110, 120, 150) if light != "night" else QColor(45, 50, 80)
        mountain_range(p, w, horizon, h * 0.5, rock, rng)
    ground_colour = {"water": hsl(205, 130, 80), "snow": QColor(236, 241, 248), "sand": QColor(226, 196, 140),
                     "grass": hsl(105, 90, 95)}[ground]  # fmt: skip
    if light == "night":
        ground_colour = ground_colour.darker(220)
    elif light == "dusk" and ground == "water":
        ground_colour = QColor(90, 80, 130)
    fill = QLinearGradient(0, horizon, 0, h)
    fill.setColorAt(0, ground_colour.lighter(110))
    fill.setColorAt(1, ground_colour.darker(130))
    p.fillRect(QRectF(0, horizon, w, h - horizon), QBrush(fill))
    if ground == "water":
        pen = QPen(QColor(255, 255, 255, 70), max(1.0, edge / 300))
        p.setPen(pen)
        for _ in range(int(18 * h / 1000) + 6):
            y = rng.uniform(horizon + 3, h)
            x = rng.uniform(-0.1, 1) * w
            p.drawLine(QPointF(x, y), QPointF(x + edge * rng.uniform(0.04, 0.12), y))
        p.setPen(Qt.PenStyle.NoPen)
    if not found:
        _orbs(p, w, horizon, edge, rng, tint)
        return
    ground_line = horizon + (h - horizon) * 0.3
    if "lighthouse" in found and ground == "water":  # a rock to stand on
        p.setBrush(QColor(60, 58, 62))
        p.drawEllipse(QPointF(w * 0.5, horizon + (h - horizon) * 0.3), edge * 0.2, edge * 0.06)
    slots = [0.5] if len(found) == 1 else [0.3, 0.7] if len(found) == 2 else [0.2, 0.5, 0.8]
    for index, (name, slot) in enumerate(zip(found[:3], slots, strict=False)):
        size = h * (0.5 if index == 0 else 0.32) * (0.8 if w < h * 0.8 else 1.0)
        x = w * (slot + rng.uniform(-0.05, 0.05))
        colour = (
            QColor(tint) if tint and index == 0 else NATURAL.get(name) or QColor.fromHsl(rng.randint(0, 359), 150, 120)
        )
        MOTIFS[name](p, x, ground_line + (h - ground_line) * 0.1 * index, size, colour, rng)


def _glow(p: QPainter, x: float, y: float, r: float, core: QColor, rim: QColor) -> None:
    glow = QRadialGradient(QPointF(x, y), r * 2.2)
    glow.setColorAt(0, core)
    glow.setColorAt(0.45, core)
    glow.setColorAt(0.5, QColor(core.red(), core.green(), core.blue(), 90))
    glow.setColorAt(1, rim)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(glow))
    p.drawEllipse(QPointF(x, y), r * 2.2, r * 2.2)


def _orbs(p: QPainter, w: int, horizon: float, edge: int, rng: random.Random, tint: QColor | None) -> None:
    """No word we can draw: soft bokeh discs in the prompt's colours (flat rings: a 2K PNG stays small)."""
    base_hue = tint.hslHue() if tint is not None else rng.randint(0, 359)
    p.setPen(Qt.PenStyle.NoPen)
    for _ in range(rng.randint(5, 9)):
        centre = QPointF(rng.uniform(0.05, 0.95) * w, rng.uniform(0.15, 1.05) * horizon)
        radius = rng.uniform(0.04, 0.16) * edge
        colour = QColor.fromHsl((base_hue + rng.randint(-40, 40)) % 360, 190, rng.randint(130, 200))
        for ring, alpha in ((1.35, 40), (1.15, 70), (1.0, 150)):
            colour.setAlpha(alpha)
            p.setBrush(colour)
            p.drawEllipse(centre, radius * ring, radius * ring)


def _repaint(p: QPainter, parent: QImage, w: int, h: int, words: list[str], rng: random.Random) -> None:
    """The previous picture, cover-scaled, recoloured toward the new words, with their motifs added."""
    scaled = parent.scaled(
        w, h, Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation
    )
    p.drawImage(QPointF((w - scaled.width()) / 2, (h - scaled.height()) / 2), scaled)
    tint = next((COLOURS[word] for word in words if word in COLOURS), None)
    if tint is None:
        tint = QColor(30, 40, 110) if set(words) & NIGHT else QColor.fromHsl(rng.randint(0, 359), 160, 130)
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SoftLight)
    p.fillRect(0, 0, w, h, QColor(tint.red(), tint.green(), tint.blue(), 200))
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
    if set(words) & NIGHT:
        p.fillRect(0, 0, w, h, QColor(10, 15, 50, 90))
    edge = min(w, h)
    for index, name in enumerate(motifs_in(words)[:2]):
        x = w * (0.78 - index * 0.5)
        colour = QColor(tint) if index == 0 and tint else NATURAL.get(name) or QColor(200, 90, 60)
        MOTIFS[name](p, x, h * 0.8, edge * 0.3, colour, rng)


def _insets(p: QPainter, insets, w: int, h: int, rng: random.Random) -> None:
    """Reference images pinned on the picture like photos, up to three."""
    edge = min(w, h) * 0.28
    for index, data in enumerate(insets[:3]):
        picture = QImage.fromData(data)
        if picture.isNull():
            continue
        picture = picture.scaled(
            int(edge), int(edge), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        p.save()
        p.translate(w * 0.06 + index * edge * 1.15 + picture.width() / 2, h * 0.08 + picture.height() / 2)
        p.rotate(rng.uniform(-6, 6))
        frame = QRectF(-picture.width() / 2 - edge * 0.05, -picture.height() / 2 - edge * 0.05,
                       picture.width() + edge * 0.1, picture.height() + edge * 0.1)  # fmt: skip
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 60))
        p.drawRect(frame.translated(edge * 0.02, edge * 0.03))
        p.setBrush(QColor(250, 250, 246))
        p.drawRect(frame)
        p.drawImage(QPointF(-picture.width() / 2, -picture.height() / 2), picture)
        p.restore()


def _strokes(p: QPainter, text: str, x: float, y: float, cap: float, colour: QColor, weight: float) -> None:
    pen = QPen(colour, max(1.0, cap * weight))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    for line in glyphs.strokes(text, x, y, cap):
        p.drawPolyline([QPointF(px, py) for px, py in line])


def _caption(p: QPainter, text: str, w: int, h: int, solid: bool = False) -> None:
    """The prompt's words on a translucent band along the bottom."""
    cap = max(6.0, min(w, h) * 0.042)
    margin = min(w, h) * 0.04
    if not text or cap * 3 > h or w < 48:
        return
    lines = glyphs.wrap(text, w - 4 * margin, cap)
    band_h = len(lines) * cap * 1.9 + cap * 1.2
    band = QRectF(margin, h - margin - band_h, w - 2 * margin, band_h)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(12, 14, 28, 255 if solid else 130))  # an edit's words cover its parent's
    p.drawRoundedRect(band, cap * 0.8, cap * 0.8)
    for index, line in enumerate(lines):
        x = (w - glyphs.text_width(line, cap)) / 2
        y = band.top() + cap * 0.75 + index * cap * 1.9
        _strokes(p, line, x + cap * 0.06, y + cap * 0.08, cap, QColor(0, 0, 0, 120), 0.16)
        _strokes(p, line, x, y, cap, QColor(252, 250, 244), 0.13)


def _badge(p: QPainter, text: str, w: int, h: int) -> None:
    cap = max(6.0, min(w, h) * 0.03)
    width = glyphs.text_width(text, cap)
    margin = min(w, h) * 0.04
    box = QRectF(w - margin - width - cap * 1.6, margin, width + cap * 1.6, cap * 2.4)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(230, 80, 60, 220))
    p.drawRoundedRect(box, cap * 0.6, cap * 0.6)
    _strokes(p, text, box.left() + cap * 0.8, box.top() + cap * 0.7, cap, QColor(255, 255, 255), 0.16)
