"""The gallery: a virtualized thumbnail grid that stays smooth with 100,000 images.

QListView as a wrapping grid with uniform item sizes over a model of plain tuples. data() answers with a cached
pixmap or a placeholder and asks for the thumbnail once; worker threads decode with QImageReader at the display size
(QImage only, QPixmap made on the GUI thread); a byte-capped LRU holds the pixmaps; a generation counter drops
results for a list that has changed.

The model counts its rows in C++ (a QStandardItemModel with no items): QListView's layout asks the model for an
index, and so for the row count, once per row (100,000 calls per layout). A Python rowCount made each of those a
trip into Python, and while a worker thread held the GIL (a search reading its listing, a job saving an image) each
trip waited up to the interpreter's switch interval: one 500-row layout batch took 580 ms instead of 16 in a test of
it. The tuples stay in Python; the C++ count changes with them, in the same begin/end steps a view expects.

Every index (row of a key, row of a thumbnail, day headers) counts positions from the END of the list, which
prepending leaves unchanged: a new image costs O(1), a deletion or an undo O(rows above it), never a reset.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QListView

from services.library import GalleryRow, Library
from ui.common import day_of, tr
from ui.gallery_delegate import DAY_ROLE, ROW_ROLE, GalleryDelegate, grid_size, rows_in, status_label
from ui.gallery_listing import (  # noqa: F401 - load_gallery is the gallery's API
    DISPOSE_FROM,
    FIRST_ROWS,
    GalleryListing,
    date_of,
    dispose,
    key_of,
    load_gallery,
    order_of,
)
from ui.thumbnails import ThumbnailLoader

R = GalleryRow


class GalleryModel(QStandardItemModel):
    countChanged = Signal(int)

    def __init__(self, library: Library, cache_mb: int = 96, parent=None):
        super().__init__(0, 1, parent)
        # Connected before any view: a change to the Python rows is applied after every view saw "rows about to be
        # inserted/removed" (with the old rows) and before any sees "rows inserted/removed" (see _change).
        self._apply = None
        self.rowsInserted.connect(self._apply_change)
        self.rowsRemoved.connect(self._apply_change)
        self.library = library
        self.rows: list[tuple] = []
        self._day_pos: set[int] = set()  # positions (from the end) of rows that start a day
        self._key_pos: dict = {}  # key -> position counted from the end, which prepending leaves unchanged
        self._sha_pos: dict[str, int] = {}
        self.turns: dict[str, int] = {}  # generation id -> its refine thread's turns (with threads collapsed)
        self.ratings: dict[str, int] = {}  # sha256 -> stars (1-5), -1 rejected: painted on the tiles
        self.generation = 0
        self.edge = 192
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._cache_bytes = 0
        self._cache_cap = cache_mb * 2**20
        self._pending: set[str] = set()
        self._requests: list | None = None  # inside requests_together()
        self.loader = ThumbnailLoader(library, self._thumbnail_ready)
        self.device_pixel_ratio = 1.0

    # --- content ---------------------------------------------------------------------------------------------

    def set_rows(self, listing: GalleryListing) -> None:
        self.beginResetModel()
        self.generation += 1
        self._take(listing)
        self._pending.clear()
        self.loader.forget()
        self.blockSignals(True)  # inside a reset: views learn the new count from modelReset, not from row signals
        self.setRowCount(len(self.rows))
        self.blockSignals(False)
        self.endResetModel()
        self.countChanged.emit(len(self.rows))

    def _change(self, first: int, count: int, apply, insert: bool) -> None:
        """Inserts or removes `count` C++ rows at `first`; `apply` changes the Python rows to match, between the
        model's "about to" and "done" signals (by _apply_change)."""
        self._apply = apply
        try:
            (self.insertRows if insert else self.removeRows)(first, count)
        finally:
            if self._apply is not None:  # the signals did not come (a count of 0): apply it anyway
                self._apply_change()

    def _apply_change(self, *_) -> None:
        apply, self._apply = self._apply, None
        if apply is not None:
            apply()

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
            self._change(n, len(listing.rows) - n, lambda: self._take(listing), insert=True)
        else:
            self._take(listing)
        self.countChanged.emit(len(self.rows))

    def _take(self, listing: GalleryListing) -> None:
        old = self.rows, self._key_pos, self._sha_pos, self._day_pos, self.ratings
        self.rows = listing.rows
        self._day_pos = listing.day_pos
        self._key_pos = listing.key_pos
        self._sha_pos = listing.sha_pos
        self.turns, self.ratings = listing.turns, listing.ratings
        if len(old[0]) >= DISPOSE_FROM and old[0] is not self.rows:
            dispose(*old)
        del old

    def _row_at(self, position_from_end: int) -> int:
        return len(self.rows) - 1 - position_from_end

    def row_of(self, key) -> int | None:
        position = self._key_pos.get(key)
        return None if position is None else self._row_at(position)

    def row_for(self, key) -> tuple | None:
        """The row with this key now, or None when a reload or a deletion took it away."""
        i = self.row_of(key)
        return None if i is None else self.rows[i]

    def starts_day(self, row: int) -> bool:
        return (len(self.rows) - 1 - row) in self._day_pos

    def _index_row(self, i: int) -> None:
        position = len(self.rows) - 1 - i
        row = self.rows[i]
        self._key_pos[key_of(row)] = position
        if row[R.SHA256]:
            self._sha_pos[row[R.SHA256]] = position

    def _mark_day(self, i: int) -> None:
        """Whether row i starts a day, from the row above it only."""
        position = len(self.rows) - 1 - i
        if i == 0 or date_of(self.rows[i]) != date_of(self.rows[i - 1]):
            self._day_pos.add(position)
        else:
            self._day_pos.discard(position)

    def prepend(self, rows: list[tuple]) -> None:
        """New results at the top (newest first), without reloading the list: O(new rows)."""
        if not rows:
            return

        def apply() -> None:
            self.rows[0:0] = rows
            for i in range(len(rows)):
                self._index_row(i)
                self._mark_day(i)
            if len(self.rows) > len(rows):
                self._mark_day(len(rows))  # the old top row may now share the day of the row above it

        self._change(0, len(rows), apply, insert=True)
        self.countChanged.emit(len(self.rows))

    def remove_keys(self, keys: set) -> None:
        """Removes rows one by one (rowsRemoved, no reset): the selection and the scroll position stay."""
        indexes = sorted((i for i in (self.row_of(k) for k in keys) if i is not None), reverse=True)
        for i in indexes:
            self._remove_at(i)
        if indexes:
            self.countChanged.emit(len(self.rows))

    def _remove_at(self, i: int) -> None:
        row = self.rows[i]
        position = len(self.rows) - 1 - i

        def apply() -> None:
            del self.rows[i]
            self._key_pos.pop(key_of(row), None)
            if row[R.SHA256] and self._sha_pos.get(row[R.SHA256]) == position:
                del self._sha_pos[row[R.SHA256]]
            self._day_pos = {p - 1 if p > position else p for p in self._day_pos if p != position}
            for above in range(i):
                self._index_row(above)
            if i < len(self.rows):
                self._mark_day(i)

        self._change(i, 1, apply, insert=False)
        if i < len(self.rows):
            index = self.index(i, 0)
            self.dataChanged.emit(index, index, [DAY_ROLE])

    def insert_rows(self, rows: list[tuple]) -> None:
        """Puts rows back where the order (newest first) says, e.g. deleted images an undo restores."""
        for row in sorted(rows, key=order_of):
            if key_of(row) in self._key_pos:
                continue
            i = self._insertion_point(row)

            def apply(i=i, row=row) -> None:
                position = len(self.rows) - i  # the new row's position from the end
                self._day_pos = {p + 1 if p >= position else p for p in self._day_pos}
                self.rows.insert(i, row)
                for k in range(i + 1):
                    self._index_row(k)
                self._mark_day(i)
                if i + 1 < len(self.rows):
                    self._mark_day(i + 1)

            self._change(i, 1, apply, insert=True)
        self.countChanged.emit(len(self.rows))

    def _insertion_point(self, row: tuple) -> int:
        target = order_of(row)
        low, high = 0, len(self.rows)
        while low < high:
            middle = (low + high) // 2
            if order_of(self.rows[middle]) < target:
                low = middle + 1
            else:
                high = middle
        return low

    def update_row(self, key, **changes) -> None:
        i = self.row_of(key)
        if i is None:
            return
        self.rows[i] = tuple(GalleryRow._make(self.rows[i])._replace(**changes))  # plain, as the listing's rows
        index = self.index(i, 0)
        self.dataChanged.emit(index, index)

    def set_edge(self, edge: int) -> None:
        self.edge = edge
        self._cache.clear()
        self._cache_bytes = 0
        self._pending.clear()
        self.loader.forget()
        self.generation += 1
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 0))

    # --- Qt model --------------------------------------------------------------------------------------------

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(row)
        if role == ROW_ROLE:
            return row
        if role == DAY_ROLE:
            return self._day(index.row(), row)
        if role == Qt.ItemDataRole.ToolTipRole:
            if row[R.IMAGE_ID] is None:
                return f"{status_label(row[R.STATUS])}: {row[R.REASON] or ''}\n{row[R.MODEL]}"
            return f"{row[R.MODEL]} · {row[R.WIDTH]}×{row[R.HEIGHT]}"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{row[R.MODEL]} {row[R.STATUS]}"
        return None

    def tile(self, i: int) -> tuple:
        """(row, thumbnail or None, day label or None) for the delegate: one Python call per painted tile instead of
        three trips through QVariant (a third of the paint time at 20,000 rows)."""
        row = self.rows[i]
        return row, self._thumbnail(row), self._day(i, row)

    def _day(self, i: int, row: tuple) -> str | None:
        return day_of(row[R.CREATED_AT]) if self.starts_day(i) else None

    def _thumbnail(self, row: tuple) -> QPixmap | None:
        sha = row[R.SHA256]
        if sha is None:
            return None
        pixmap = self._cache.get(sha)
        if pixmap is not None:
            self._cache.move_to_end(sha)
            return pixmap
        if sha not in self._pending:
            self._pending.add(sha)
            request = (
                self.generation,
                sha,
                str(self.library.root / row[R.PATH]),
                int(self.edge * self.device_pixel_ratio),
            )
            if self._requests is not None:
                self._requests.append(request)
            else:
                self._pending.difference_update(self.loader.request_many([request]))
        return None

    @contextlib.contextmanager
    def requests_together(self):
        """The thumbnails asked for inside, handed to the loader at once at the end (a paint's tiles)."""
        self._requests = []
        try:
            yield
        finally:
            requests, self._requests = self._requests, None
            if requests:
                self._pending.difference_update(self.loader.request_many(requests))  # asked again when back in view

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
            index = self.index(self._row_at(position), 0)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def cache_bytes(self) -> int:
        return self._cache_bytes


class GalleryView(QListView):
    activatedRow = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.edge = 192
        # A wrapping list, not IconMode: the same grid, but IconMode keeps a spatial tree of every item and lays out
        # all 20,000 again on each inserted or removed row (40 ms here against 10 ms).
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSpacing(0)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # the model's C++ flags say editable
        self.setItemDelegate(GalleryDelegate(self))
        self.setAccessibleName(tr("Gallery"))
        self.verticalScrollBar().setSingleStep(24)

    def keyboardSearch(self, search: str) -> None:  # noqa: N802 (Qt's virtual)
        """Off: Qt's matches typed letters against the text of every row, a call into Python per row (100,000 at a
        key press), and tiles have no text. The window's shortcuts take the letters they use."""

    def dataChanged(self, top_left, bottom_right, roles=()):  # noqa: N802 (Qt's virtual slot)
        # Repaint only: QListView lays out every row (20,000 Python rowCount calls) on any dataChanged; uniform tiles.
        if top_left == bottom_right:
            self.update(top_left)
        else:
            self.viewport().update()

    def set_edge(self, edge: int) -> None:
        self.edge = edge
        model = self.model()
        if isinstance(model, GalleryModel):
            model.device_pixel_ratio = self.devicePixelRatioF()
            model.set_edge(edge)
        self.fit_columns()
        self.doItemsLayout()

    def fit_columns(self) -> None:
        if (grid := grid_size(self.viewport().width(), self.edge)) != self.gridSize():
            self.setGridSize(grid)

    def resizeEvent(self, event):  # noqa: N802 (Qt's virtual)
        super().resizeEvent(event)
        self.fit_columns()

    def first_rows(self) -> int:
        """How many rows to show before the rest is read: FIRST_ROWS, or three screens of this view when more."""
        grid, area = self.gridSize(), self.viewport().size()
        tiles = max(1, area.width() // max(1, grid.width())) * (area.height() // max(1, grid.height()) + 1)
        return max(FIRST_ROWS, 3 * tiles)

    def visible_rows(self) -> range:
        return rows_in(self, self.viewport().rect())

    def paintEvent(self, event):  # noqa: N802 (Qt's virtual)
        if self.model() is None or self.model().rowCount() == 0:
            super().paintEvent(event)
            return
        painter = QPainter(self.viewport())
        self.itemDelegate().paint_area(painter, event.region())
        painter.end()
