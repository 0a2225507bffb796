"""The gallery: a virtualized thumbnail grid that stays smooth with 100,000 images.

QListView in icon mode with uniform item sizes over a QAbstractListModel of plain tuples. data() answers with a
cached pixmap or a placeholder and asks for the thumbnail once; worker threads decode with QImageReader at the
display size (QImage only, QPixmap made on the GUI thread); a byte-capped LRU holds the pixmaps; a generation
counter drops results for a list that has changed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QImageReader, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from services.library import GalleryRow, HistoryQuery, Library
from ui.common import day_of, tr

R = GalleryRow
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
DAY_ROLE = Qt.ItemDataRole.UserRole + 2
VISIBLE_INSET = QPoint(8, 8)  # inside the cell margins, so indexAt() finds the first and last visible rows
STATUS_TEXT = {
    "blocked": "Blocked",
    "no_image": "No image",
    "error": "Failed",
    "cancelled": "Cancelled",
    "interrupted": "Interrupted",
}


class ThumbnailLoader:
    """Worker threads that turn thumbnail files into QImages, newest request first (what is on screen now)."""

    def __init__(self, library: Library, deliver: Callable[[int, str, QImage | None], None], workers: int = 2):
        self.library = library
        self._deliver = deliver
        self._queue: list[tuple[int, str, str, int]] = []
        self._cv = threading.Condition()
        self._stopped = False
        self._loop = asyncio.get_event_loop()
        self._threads = [
            threading.Thread(target=self._work, name=f"thumbnails-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def request(self, generation: int, sha: str, path: str, edge: int) -> list[str]:
        """Queues one thumbnail; returns the shas of the oldest requests dropped to make room (far off screen)."""
        dropped: list[tuple] = []
        with self._cv:
            self._queue.append((generation, sha, path, edge))
            if len(self._queue) > 400:
                dropped = self._queue[:200]
                del self._queue[:200]
            self._cv.notify()
        return [d[1] for d in dropped]

    def forget(self) -> None:
        with self._cv:
            self._queue.clear()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._queue.clear()
            self._cv.notify_all()

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stopped:
                    self._cv.wait()
                if self._stopped:
                    return
                generation, sha, path, edge = self._queue.pop()
            image = None
            try:
                thumb = self.library.ensure_thumbnail(path, sha)
                if thumb is not None:
                    reader = QImageReader(str(thumb))
                    size = reader.size()
                    if size.isValid():
                        scale = min(1.0, edge / max(size.width(), size.height(), 1))
                        reader.setScaledSize(
                            QSize(max(1, int(size.width() * scale)), max(1, int(size.height() * scale)))
                        )
                    image = reader.read()
                    if image.isNull():
                        image = None
            except Exception:
                image = None
            try:
                self._loop.call_soon_threadsafe(self._deliver, generation, sha, image)
            except RuntimeError:  # the loop has closed: the window is gone
                return


class GalleryModel(QAbstractListModel):
    countChanged = Signal(int)

    def __init__(self, library: Library, cache_mb: int = 96, parent=None):
        super().__init__(parent)
        self.library = library
        self.rows: list[tuple] = []
        self.day_starts: set[int] = set()
        self._key_pos: dict = {}  # key -> position counted from the end, which prepending leaves unchanged
        self._sha_pos: dict[str, int] = {}
        self.generation = 0
        self.edge = 192
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._cache_bytes = 0
        self._cache_cap = cache_mb * 2**20
        self._pending: set[str] = set()
        self.loader = ThumbnailLoader(library, self._thumbnail_ready)
        self.device_pixel_ratio = 1.0

    # --- content ---------------------------------------------------------------------------------------------

    def set_rows(self, listing: GalleryListing) -> None:
        self.beginResetModel()
        self.generation += 1
        self._take(listing)
        self._pending.clear()
        self.loader.forget()
        self.endResetModel()
        self.countChanged.emit(len(self.rows))

    def extend(self, listing: GalleryListing) -> None:
        """The whole listing, after set_rows() showed its first rows: appended without a reset, so the scroll
        position and the selection stay. Anything else (rows added or removed meanwhile) resets."""
        n = len(self.rows)
        same_start = len(listing.rows) >= n and all(
            key_of(a) == key_of(b) for a, b in zip(self.rows, listing.rows[:n], strict=True)
        )
        if not same_start:
            self.set_rows(listing)
            return
        if len(listing.rows) > n:
            self.beginInsertRows(QModelIndex(), n, len(listing.rows) - 1)
        self._take(listing)
        if len(listing.rows) > n:
            self.endInsertRows()
        self.countChanged.emit(len(self.rows))

    def _take(self, listing: GalleryListing) -> None:
        self.rows = listing.rows
        self.day_starts = listing.day_starts
        self._key_pos = listing.key_pos
        self._sha_pos = listing.sha_pos

    def _row_at(self, position_from_end: int) -> int:
        return len(self.rows) - 1 - position_from_end

    def row_of(self, key) -> int | None:
        position = self._key_pos.get(key)
        return None if position is None else self._row_at(position)

    def prepend(self, rows: list[tuple]) -> None:
        """New results at the top (newest first), without reloading the list."""
        if not rows:
            return
        self.beginInsertRows(QModelIndex(), 0, len(rows) - 1)
        base = len(self.rows)
        for offset, row in enumerate(reversed(rows)):
            self._key_pos[key_of(row)] = base + offset
            if row[R.SHA256]:
                self._sha_pos[row[R.SHA256]] = base + offset
        self.rows[0:0] = rows
        self.day_starts = compute_day_starts(self.rows)
        self.endInsertRows()
        self.countChanged.emit(len(self.rows))

    def remove_keys(self, keys: set) -> None:
        rows = [i for i in (self.row_of(k) for k in keys) if i is not None]
        if not rows:
            return
        self.beginResetModel()
        self.rows = [r for r in self.rows if key_of(r) not in keys]
        listing = GalleryListing.of(self.rows)
        self.day_starts, self._key_pos, self._sha_pos = listing.day_starts, listing.key_pos, listing.sha_pos
        self.endResetModel()
        self.countChanged.emit(len(self.rows))

    def update_row(self, key, **changes) -> None:
        i = self.row_of(key)
        if i is None:
            return
        row = list(self.rows[i])
        for name, value in changes.items():
            row[getattr(R, name.upper())] = value
        self.rows[i] = tuple(row)
        index = self.index(i)
        self.dataChanged.emit(index, index)

    def set_edge(self, edge: int) -> None:
        self.edge = edge
        self._cache.clear()
        self._cache_bytes = 0
        self._pending.clear()
        self.loader.forget()
        self.generation += 1
        if self.rows:
            self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1))

    # --- Qt model --------------------------------------------------------------------------------------------

    def rowCount(self, parent=None):
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            sha = row[R.SHA256]
            if sha is None:
                return None
            pixmap = self._cache.get(sha)
            if pixmap is not None:
                self._cache.move_to_end(sha)
                return pixmap
            if sha not in self._pending:
                self._pending.add(sha)
                edge = int(self.edge * self.device_pixel_ratio)
                dropped = self.loader.request(self.generation, sha, str(self.library.root / row[R.PATH]), edge)
                self._pending.difference_update(dropped)  # asked again when they come back into view
            return None
        if role == ROW_ROLE:
            return row
        if role == DAY_ROLE:
            return day_of(row[R.CREATED_AT]) if index.row() in self.day_starts else None
        if role == Qt.ItemDataRole.ToolTipRole:
            status = row[R.STATUS]
            if row[R.IMAGE_ID] is None:
                return f"{tr(STATUS_TEXT.get(status, status))}: {row[R.REASON] or ''}\n{row[R.MODEL]}"
            return f"{row[R.MODEL]} · {row[R.WIDTH]}×{row[R.HEIGHT]}"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{row[R.MODEL]} {row[R.STATUS]}"
        return None

    def _thumbnail_ready(self, generation: int, sha: str, image: QImage | None) -> None:
        self._pending.discard(sha)
        if generation != self.generation or image is None:
            return
        pixmap = QPixmap.fromImage(image)
        pixmap.setDevicePixelRatio(self.device_pixel_ratio)
        self._cache[sha] = pixmap
        self._cache_bytes += pixmap.width() * pixmap.height() * 4
        while self._cache_bytes > self._cache_cap and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= old.width() * old.height() * 4
        position = self._sha_pos.get(sha)
        if position is not None:
            index = self.index(self._row_at(position))
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def cache_bytes(self) -> int:
        return self._cache_bytes


FIRST_ROWS = 1500  # several screens even at the smallest thumbnails: shown before the rest is read


async def load_gallery(model: GalleryModel, library: Library, query: HistoryQuery) -> AsyncIterator[bool]:
    """Shows the first screens of a query at once, then all of it: a 100,000-image library or a broad search
    paints in tens of ms instead of waiting ~0.5 s for every row. Yields after each step; True when complete."""
    first = await asyncio.to_thread(lambda: GalleryListing.of(library.gallery(query, limit=FIRST_ROWS)))
    model.set_rows(first)
    complete = len(first.rows) < FIRST_ROWS
    yield complete
    if not complete:
        everything = await asyncio.to_thread(lambda: GalleryListing.of(library.gallery(query)))
        model.extend(everything)
        yield True


def key_of(row: tuple):
    return row[R.IMAGE_ID] if row[R.IMAGE_ID] is not None else ("g", row[R.GENERATION_ID])


@dataclass
class GalleryListing:
    """A query's rows with their indexes, built in a worker thread (100,000 rows take tens of ms)."""

    rows: list[tuple]
    day_starts: set[int]
    key_pos: dict
    sha_pos: dict

    @classmethod
    def of(cls, rows: list[tuple]) -> GalleryListing:
        last = len(rows) - 1
        key_pos = {key_of(r): last - i for i, r in enumerate(rows)}
        sha_pos = {r[R.SHA256]: last - i for i, r in enumerate(rows) if r[R.SHA256]}
        return cls(rows, compute_day_starts(rows), key_pos, sha_pos)


def compute_day_starts(rows: list[tuple]) -> set[int]:
    from datetime import datetime

    starts = set()
    previous = None
    for i, row in enumerate(rows):
        day = datetime.fromtimestamp(row[R.CREATED_AT]).date()
        if day != previous:
            starts.add(i)
            previous = day
    return starts


class GalleryDelegate(QStyledItemDelegate):
    def __init__(self, view: GalleryView):
        super().__init__(view)
        self.view = view

    def sizeHint(self, option, index):
        edge = self.view.edge
        return QSize(edge + 12, edge + 12)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        row = index.data(ROW_ROLE)
        if row is None:
            return
        painter.save()
        rect = option.rect.adjusted(4, 4, -4, -4)
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if row[R.IMAGE_ID] is None:
            self._paint_attempt(painter, rect, row, palette)
        elif pixmap is not None:
            size = pixmap.deviceIndependentSize().toSize()
            size.scale(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(rect.center())
            painter.drawPixmap(target, pixmap)
        if row[R.FAVOURITE]:
            painter.setPen(QColor(255, 196, 0))
            font = QFont(painter.font())
            font.setPointSizeF(font.pointSizeF() * 1.4)
            painter.setFont(font)
            painter.drawText(rect.adjusted(0, 2, -6, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, "★")
        day = index.data(DAY_ROLE)
        if day:
            self._paint_chip(painter, rect, day)
        if selected:
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -1, -1))
        painter.restore()

    def _paint_chip(self, painter: QPainter, rect: QRect, text: str) -> None:
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        chip = QRect(rect.left() + 4, rect.top() + 4, metrics.horizontalAdvance(text) + 12, metrics.height() + 4)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 160))
        painter.drawRoundedRect(chip, 4, 4)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_attempt(self, painter: QPainter, rect: QRect, row: tuple, palette: QPalette) -> None:
        colour = QColor(200, 60, 60) if row[R.STATUS] in ("error", "interrupted") else QColor(210, 140, 30)
        painter.setPen(QPen(colour, 2, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect.adjusted(2, 2, -2, -2))
        painter.setPen(colour)
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        inner = rect.adjusted(10, 28, -10, -10)
        painter.drawText(
            inner,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            tr(STATUS_TEXT.get(row[R.STATUS], row[R.STATUS])),
        )
        font.setBold(False)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(
            inner.adjusted(0, painter.fontMetrics().height() + 6, 0, 0),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
            (row[R.REASON] or "")[:160],
        )


class GalleryView(QListView):
    activatedRow = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.edge = 192
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSpacing(0)
        self.setItemDelegate(GalleryDelegate(self))
        self.setAccessibleName(tr("Gallery"))
        self.verticalScrollBar().setSingleStep(24)

    def set_edge(self, edge: int) -> None:
        self.edge = edge
        model = self.model()
        if isinstance(model, GalleryModel):
            model.device_pixel_ratio = self.devicePixelRatioF()
            model.set_edge(edge)
        self.setGridSize(QSize(edge + 12, edge + 12))
        self.doItemsLayout()

    def visible_rows(self) -> range:
        model = self.model()
        if model is None or model.rowCount() == 0:
            return range(0)
        area = self.viewport().rect()
        first = self.indexAt(area.topLeft() + VISIBLE_INSET)
        # The bottom-left cell: the bottom-right corner often falls in the strip beside the last column.
        last_line = self.indexAt(QPoint(area.left() + VISIBLE_INSET.x(), area.bottom() - VISIBLE_INSET.y()))
        columns = max(1, area.width() // max(1, self.gridSize().width()))
        start = first.row() if first.isValid() else 0
        end = last_line.row() + columns - 1 if last_line.isValid() else model.rowCount() - 1
        return range(start, min(end, model.rowCount() - 1) + 1)
