"""The selected image, large: fit or 100%, wheel to zoom around the cursor, drag to pan. A Refine button over its
corner, and an optional footer below the picture (the thread strip of a refine thread)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QSizePolicy, QToolButton, QWidget

from ui.common import tr


class ImageView(QWidget):
    zoomChanged = Signal(float)
    stepRequested = Signal(int)  # -1 previous, +1 next
    refineRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._fit = True
        self._scale = 1.0
        self._offset = QPointF(0, 0)
        self._drag_from: QPointF | None = None
        self._message = tr("Select an image in the gallery")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 160)
        self.setAccessibleName(tr("Image viewer"))
        self.setToolTip(tr("Wheel: zoom · drag: pan · F: fit · 1: 100% · ←/→: previous/next · R: refine"))
        self.footer: QWidget | None = None
        self.refine_button = QToolButton(self)
        self.refine_button.setText(tr("✎ Refine"))
        self.refine_button.setToolTip(tr("Refine this image: say what to change (R)"))
        self.refine_button.setAccessibleName(tr("Refine this image"))
        self.refine_button.setStyleSheet("QToolButton { padding: 3px 8px; }")
        self.refine_button.clicked.connect(self.refineRequested)
        self.refine_button.hide()

    def set_footer(self, widget: QWidget) -> None:
        """A widget across the bottom (its own height, shown or hidden by its owner); the picture fits above it."""
        self.footer = widget
        widget.setParent(self)
        widget.installEventFilter(self)
        self._place_children()

    def eventFilter(self, watched, event):
        if watched is self.footer and event.type() in (event.Type.Show, event.Type.Hide, event.Type.Resize):
            self._place_children()
        return False

    def _place_children(self) -> None:
        margin = 8
        hint = self.refine_button.sizeHint()
        self.refine_button.setGeometry(self.width() - hint.width() - margin, margin, hint.width(), hint.height())
        self.refine_button.raise_()
        if self.footer is not None:
            height = self.footer.height() if self.footer.isVisible() else 0
            self.footer.setGeometry(0, self.height() - height, self.width(), height)
        self._update_scale()
        self.update()

    def _area(self) -> QRectF:
        """Where the picture is drawn: the widget less the footer, when one is shown."""
        footer = self.footer.height() if self.footer is not None and self.footer.isVisible() else 0
        return QRectF(0, 0, self.width(), max(1, self.height() - footer))

    def set_image(self, image: QImage | None, message: str = "") -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        self._message = message or tr("Select an image in the gallery")
        self._fit = True
        self._offset = QPointF(0, 0)
        self.refine_button.setVisible(self._pixmap is not None)
        self._update_scale()
        self.update()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def fit(self) -> None:
        self._fit = True
        self._offset = QPointF(0, 0)
        self._update_scale()
        self.update()

    def actual_size(self) -> None:
        self._fit = False
        self._scale = 1.0
        self._offset = QPointF(0, 0)
        self.zoomChanged.emit(self._scale)
        self.update()

    def zoom_by(self, factor: float, around: QPointF | None = None) -> None:
        if self._pixmap is None:
            return
        around = around or self._area().center()
        old = self._scale
        new = max(0.05, min(16.0, old * factor))
        centre = self._area().center()
        # keep the pixel under the cursor where it is
        self._offset = (self._offset + centre - around) * (new / old) - (centre - around)
        self._scale = new
        self._fit = False
        self.zoomChanged.emit(self._scale)
        self.update()

    def scale(self) -> float:
        return self._scale

    def _update_scale(self) -> None:
        if self._pixmap is None:
            return
        if self._fit:
            w, h = self._pixmap.width(), self._pixmap.height()
            area = self._area()
            self._scale = min(1.0, area.width() / max(w, 1), area.height() / max(h, 1))
            self.zoomChanged.emit(self._scale)

    def resizeEvent(self, event):
        self._place_children()
        super().resizeEvent(event)

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        if self._pixmap is None:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                self.rect().adjusted(12, 12, -12, -12),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._message,
            )
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._scale < 2)
        w = self._pixmap.width() * self._scale
        h = self._pixmap.height() * self._scale
        area = self._area()
        x = (area.width() - w) / 2 + self._offset.x()
        y = (area.height() - h) / 2 + self._offset.y()
        painter.setClipRect(area)
        painter.drawPixmap(QRectF(x, y, w, h), self._pixmap, QRectF(self._pixmap.rect()))

    def wheelEvent(self, event):
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(1.25**steps, event.position())

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event):
        if self._drag_from is not None:
            self._offset += event.position() - self._drag_from
            self._drag_from = event.position()
            self._fit = False
            self.update()

    def mouseReleaseEvent(self, event):
        self._drag_from = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, event):
        if self._fit:
            self.actual_size()
        else:
            self.fit()

    def keyPressEvent(self, event):
        key = event.key()
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Up):
            self.stepRequested.emit(-1)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down):
            self.stepRequested.emit(1)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.25)
        elif key == Qt.Key.Key_Minus:
            self.zoom_by(0.8)
        elif key == Qt.Key.Key_F:
            self.fit()
        elif key == Qt.Key.Key_1:
            self.actual_size()
        else:
            super().keyPressEvent(event)


def load_full_image(path: str) -> QImage | None:
    """Decodes an image for the viewer, within Qt's allocation limit. Blocking: call from a worker."""
    from PySide6.QtGui import QImageReader

    from services.imaging import QT_ALLOCATION_LIMIT_MB

    QImageReader.setAllocationLimit(QT_ALLOCATION_LIMIT_MB)
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    image = reader.read()
    return None if image.isNull() else image
