"""Pictures decoded no larger than needed, on a worker thread (never a QPixmap there): a running job's draft
previews (a 20 MB draft must not stall the GUI thread), the gallery's thumbnails, the compare view's images, the
duplicates view's icons."""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt
from PySide6.QtGui import QImage, QImageReader

DRAFT_EDGE = 72  # pixels: the longest side of a preview in a job's row


def _read_scaled(reader: QImageReader, edge: int) -> QImage | None:
    reader.setAutoTransform(True)  # a JPEG's EXIF orientation, as every viewer shows it
    size = reader.size()
    if size.isValid():
        scale = min(1.0, edge / max(size.width(), size.height(), 1))
        reader.setScaledSize(QSize(max(1, round(size.width() * scale)), max(1, round(size.height() * scale))))
    image = reader.read()
    if image.isNull():
        return None
    if max(image.width(), image.height()) > edge:  # a format the reader cannot scale while it reads
        image = image.scaled(edge, edge, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return image


def preview_image(data: bytes, edge: int = DRAFT_EDGE) -> QImage | None:
    """The picture in `data` at most `edge` pixels on its longest side; None when it is not a picture. Call it on a
    worker thread."""
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    if not buffer.open(QIODevice.OpenModeFlag.ReadOnly):
        return None
    try:
        reader = QImageReader(buffer)
        reader.setAllocationLimit(512)  # MB: a picture bomb is refused, not decoded
        return _read_scaled(reader, edge)
    finally:
        buffer.close()


def preview_file(path: str, edge: int = DRAFT_EDGE) -> QImage | None:
    """The image file at `path` as a preview; None when it cannot be read. Call it on a worker thread."""
    reader = QImageReader(path)
    reader.setAllocationLimit(512)
    return _read_scaled(reader, edge)
