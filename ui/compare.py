"""Compare 2 to 4 images side by side: zoom and pan kept in step, a slider mode for two, and beside them what differs
in their settings and a word-level diff of their prompts (services.compare_text, pure and tested without Qt).

    view = CompareView(library)
    view.compare(rows)           # GalleryRows (or anything with .path and .generation_id); decoding happens off the GUI thread
"""

from __future__ import annotations

import asyncio
import html

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QSlider,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from services.compare_text import settings_diff, word_diff
from ui.common import TaskSlots, tr
from ui.drafts import preview_file

MAX_EDGE = 4096  # decoded no larger: four 4K images stay under 300 MB
ZOOM_STEP = 1.25


def decode(path: str) -> QImage:
    """The image, scaled down to MAX_EDGE, in a worker thread (a null QImage if it cannot be read)."""
    return preview_file(path, MAX_EDGE) or QImage()


class Pane(QGraphicsView):
    """One image; its wheel zooms and its scrolling pans every pane of the view together."""

    zoomed = Signal(float, QPointF)  # factor, the scene point under the mouse
    resized = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)

    def set_image(self, image: QImage) -> None:
        self.item.setPixmap(QPixmap.fromImage(image))
        self.scene().setSceneRect(QRectF(self.item.boundingRect()))

    def zoom(self) -> float:
        return self.transform().m11()

    def resizeEvent(self, event):  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self.resized.emit()

    def wheelEvent(self, event):  # noqa: N802
        steps = event.angleDelta().y() / 120
        if not steps:
            return
        self.zoomed.emit(ZOOM_STEP**steps, self.mapToScene(event.position().toPoint()))
        event.accept()


class SliderPane(QWidget):
    """Two images in one frame: the first left of the split, the second right of it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.images: list[QPixmap] = []
        self.split = 0.5
        self.setMinimumSize(200, 150)

    def set_images(self, images: list[QImage]) -> None:
        self.images = [QPixmap.fromImage(i) for i in images[:2]]
        self.update()

    def set_split(self, value: int) -> None:
        self.split = max(0.0, min(1.0, value / 1000))
        self.update()

    def paintEvent(self, _event):  # noqa: N802
        if len(self.images) < 2:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        first = self.images[0]
        scale = min(self.width() / max(1, first.width()), self.height() / max(1, first.height()))
        target = QRectF(0, 0, first.width() * scale, first.height() * scale)
        target.moveCenter(QRectF(self.rect()).center())
        cut = target.left() + target.width() * self.split
        for index, pixmap in enumerate(self.images):
            painter.save()
            clip = QRectF(target.left(), target.top(), cut - target.left(), target.height())
            if index:
                clip = QRectF(cut, target.top(), target.right() - cut, target.height())
            painter.setClipRect(clip)
            painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
            painter.restore()
        painter.setPen(QPen(Qt.GlobalColor.white, 2))
        painter.drawLine(QPointF(cut, target.top()), QPointF(cut, target.bottom()))
        painter.end()


class CompareView(QWidget):
    failed = Signal(str)
    loaded = Signal()

    def __init__(self, library, tasks: TaskSlots | None = None, parent=None):
        super().__init__(parent)
        self.library = library
        self.tasks = tasks or TaskSlots(self.failed.emit)
        self.panes: list[Pane] = []
        self.images: list[QImage] = []
        self._syncing = False
        self._fitted = True
        self.pane_row = QWidget(self)
        self.pane_layout = QHBoxLayout(self.pane_row)
        self.pane_layout.setContentsMargins(0, 0, 0, 0)
        self.slider_pane = SliderPane(self)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 1000)
        self.slider.setValue(500)
        self.slider.valueChanged.connect(self.slider_pane.set_split)
        self.slider_mode = QCheckBox(tr("Slider (two images)"), self)
        self.slider_mode.toggled.connect(self._show_mode)
        self.details = QTextBrowser(self)
        images = QWidget(self)
        column = QVBoxLayout(images)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.pane_row, 1)
        column.addWidget(self.slider_pane, 1)
        column.addWidget(self.slider)
        column.addWidget(self.slider_mode)
        splitter = QSplitter(self)
        splitter.addWidget(images)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._show_mode(False)

    def compare(self, rows) -> asyncio.Task:
        rows = list(rows)[:4]
        if len(rows) < 2:
            raise ValueError("compare needs 2 to 4 images")

        async def load():
            def read():
                images = [decode(str(self.library.root / r.path)) for r in rows]
                entries = [self.library.generation(r.generation_id) for r in rows]
                return images, entries

            images, entries = await asyncio.to_thread(read)
            records = [readable_lineage(e.params) if e else {} for e in entries]
            self.show_images(images, records, [e.prompt if e else "" for e in entries])
            self.loaded.emit()

        return self.tasks.run("compare", load())

    def show_images(self, images: list[QImage], records: list[dict], prompts: list[str]) -> None:
        self.images = images
        for pane in self.panes:
            pane.deleteLater()
        self.panes = []
        for image in images:
            pane = Pane(self.pane_row)
            pane.set_image(image)
            pane.zoomed.connect(self.zoom_all)
            pane.resized.connect(self._refit)
            pane.horizontalScrollBar().valueChanged.connect(lambda _v, p=pane: self._pan_from(p))
            pane.verticalScrollBar().valueChanged.connect(lambda _v, p=pane: self._pan_from(p))
            self.pane_layout.addWidget(pane, 1)
            self.panes.append(pane)
        self.slider_pane.set_images(images)
        self.slider_mode.setEnabled(len(images) == 2)
        if len(images) != 2:
            self.slider_mode.setChecked(False)
        self.details.setHtml(differences_html(records, prompts))
        self._show_mode(self.slider_mode.isChecked())
        self._fitted = True
        self.fit_all()

    def fit_all(self) -> None:
        """Every image whole in its pane, all at one zoom (the smallest fit), so the panes stay in step."""
        scales = []
        for pane in self.panes:
            box = pane.item.boundingRect()
            if box.width() and box.height():
                area = pane.viewport().rect()
                scales.append(min((area.width() - 2) / box.width(), (area.height() - 2) / box.height()))
        if not scales:
            return
        scale = max(0.01, min(scales))
        for pane in self.panes:
            pane.resetTransform()
            pane.scale(scale, scale)
            pane.centerOn(pane.item)

    def _refit(self) -> None:
        if self._fitted:  # until the artist zooms, the images stay whole as the panes change size
            self.fit_all()

    def zoom_all(self, factor: float, anchor: QPointF) -> None:
        self._fitted = False
        self._syncing = True
        try:
            for pane in self.panes:
                pane.scale(factor, factor)
                pane.centerOn(anchor)
        finally:
            self._syncing = False

    def _pan_from(self, source: Pane) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            centre = source.mapToScene(source.viewport().rect().center())
            for pane in self.panes:
                if pane is not source:
                    pane.centerOn(centre)
        finally:
            self._syncing = False

    def _show_mode(self, slider: bool) -> None:
        self.pane_row.setVisible(not slider)
        self.slider_pane.setVisible(slider)
        self.slider.setVisible(slider)


def readable_lineage(params: dict) -> dict:
    """A refine's lineage as words ("refine of 4a96cc70"), not the JSON of its ids."""
    lineage = params.get("lineage")
    if not isinstance(lineage, dict) or not lineage.get("parent_generation_id"):
        return params
    return {**params, "lineage": tr("refine of {0}").format(str(lineage["parent_generation_id"])[:8])}


def differences_html(records: list[dict], prompts: list[str]) -> str:
    """The settings table (differing rows bold) and each prompt against the first, word by word."""
    head = "".join(f"<th>{chr(65 + n)}</th>" for n in range(len(records)))
    rows = []
    for key, values, differs in settings_diff(records):
        cells = "".join(f"<td>{html.escape(v)}</td>" for v in values)
        style = ' style="font-weight:bold;color:#c06000"' if differs else ""
        rows.append(f"<tr{style}><td>{html.escape(key)}</td>{cells}</tr>")
    parts = [f"<h3>{tr('Settings')}</h3><table cellpadding='3'><tr><th></th>{head}</tr>{''.join(rows)}</table>"]
    parts.append(f"<h3>{tr('Prompt')} A</h3><p>{html.escape(prompts[0] if prompts else '')}</p>")
    for n, prompt in enumerate(prompts[1:], 1):
        pieces = []
        for kind, text in word_diff(prompts[0], prompt):
            text = html.escape(text)
            if kind == "removed":
                pieces.append(f"<span style='color:#b00020;text-decoration:line-through'>{text}</span>&#8201;")
            elif kind == "added":
                pieces.append(f"<span style='color:#007a33;font-weight:bold'>{text}</span>")
            else:
                pieces.append(text)
        parts.append(f"<h3>{tr('Prompt')} {chr(65 + n)} {tr('against')} A</h3><p>{''.join(pieces)}</p>")
    return "".join(parts)
