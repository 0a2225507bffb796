"""How one gallery tile is painted: the thumbnail, a favourite star, the day's chip, an imported image's tool, or a
failed attempt's reason."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QPen, QRegion
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from services.library import GalleryRow
from services.status import Status
from ui.common import tr

R = GalleryRow
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
DAY_ROLE = Qt.ItemDataRole.UserRole + 2


# The mark on an imported image's tile: the tool that made it (interop.SOURCES). Atelier's own images, imported
# from another library, look like the rest and carry none.
SOURCE_MARKS = {"a1111": "A1111", "comfyui": "ComfyUI", "invokeai": "InvokeAI", "fooocus": "Fooocus",
                "unknown": "Imported"}  # fmt: skip


def source_mark(row: tuple) -> str | None:
    """The label painted on the tile for this row, or None (Atelier's images, attempts without an image)."""
    if row[R.IMAGE_ID] is None or len(row) <= R.SOURCE or row[R.STATUS] != Status.IMPORTED:
        return None
    source = row[R.SOURCE]
    return tr(SOURCE_MARKS.get(source, SOURCE_MARKS["unknown"])) if source != "atelier" else None


def _picture_rect(rect: QRect, pixmap) -> QRect:
    """Where the thumbnail is drawn in the tile (centred, aspect kept), or the tile while it has none."""
    if pixmap is None:
        return rect
    size = pixmap.deviceIndependentSize().toSize()
    fitted = size.scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
    if 0 <= fitted.width() - size.width() <= 8 and 0 <= fitted.height() - size.height() <= 8:
        fitted = size  # drawn 1:1, as paint() does
    shown = QRect(0, 0, fitted.width(), fitted.height())
    shown.moveCenter(rect.center())
    return shown


def status_label(status: str) -> str:
    try:
        return tr(Status(status).label)
    except ValueError:  # a status from a newer Atelier
        return status


def grid_size(width: int, edge: int) -> QSize:
    """A grid cell for a view `width` wide: as many columns as tiles of `edge` fit, the width shared between them."""
    cell, width = edge + 12, width - 1  # Qt wraps a line that reaches the edge
    return QSize(max(cell, width // max(1, width // cell)), cell)


def tile_rect(cell: QRect, edge: int) -> QRect:
    """Where a tile is drawn in its grid cell: a square of the tile size, centred across the cell. The cells share
    the view's width between its columns (grid_size), so the space left over is spread between the
    tiles instead of lying in one strip on the right."""
    side = edge + 4
    return QRect(cell.left() + (cell.width() - side) // 2, cell.top() + 4, side, side)


def rows_in(view, area: QRect) -> range:
    """The rows of a GalleryView (a wrapping grid of equal tiles, laid out left to right) whose tiles may meet
    `area` (viewport coordinates): whole lines, from Qt's own positions of the first row and of the first row of
    the second line."""
    model = view.model()
    count = model.rowCount() if model is not None else 0
    if count == 0:
        return range(0)
    first = view.visualRect(model.index(0, 0))
    if not first.isValid():
        return range(0)  # not laid out yet: nothing is shown
    top, height = first.top(), max(1, first.height())  # equal tiles: the first one's size is every line's
    below = view.indexAt(QPoint(first.left() + 1, top + height + 1))  # the first row of the second line: the columns
    low, high = (below.row(), below.row()) if below.row() > 0 else (1, min(count, 4096))
    while low < high:  # not laid out there yet, or a single line: found from the rows of the first line
        middle = (low + high) // 2
        rect = view.visualRect(model.index(middle, 0))
        if rect.isValid() and rect.top() == top:
            low = middle + 1
        else:
            high = middle
    first_line, last_line = max(0, (area.top() - top) // height), max(0, (area.bottom() - top) // height)
    return range(min(count, first_line * low), min(count, (last_line + 1) * low))


class GalleryDelegate(QStyledItemDelegate):
    def __init__(self, view):  # a GalleryView, its parent: its `edge` is the tile size
        super().__init__(view)

    @property
    def view(self):
        # Not an attribute: the view's wrapper holds its child's, and a reference back made a cycle that only the
        # cycle collector freed, at any moment, while Qt could still send the closed view events (a segfault in
        # the test suite, 1 run in 2-16 under load).
        return self.parent()

    def paint_area(self, painter: QPainter, area: QRegion) -> None:
        """Every tile that meets `area` of the view's viewport, in one call from Qt into Python. QListView's own
        paintEvent calls the delegate and the model's flags once per tile, and each call from Qt into Python waits
        for the GIL while a worker thread holds it (up to the switch interval, 5 ms): a screen of tiles took
        120 ms to paint while a search read its rows in a worker. Only the tiles in the region: two tiles that
        changed far apart (a selection moved) repaint two tiles, not every tile of the rectangle around both."""
        view = self.view
        model, selection = view.model(), view.selectionModel()
        option = QStyleOptionViewItem()
        view.initViewItemOption(option)
        state = option.state
        with model.requests_together():
            for row in rows_in(view, area.boundingRect()):
                index = model.index(row, 0)
                option.rect = view.visualRect(index)
                if area.intersects(option.rect):
                    selected = selection is not None and selection.isSelected(index)
                    option.state = state | QStyle.StateFlag.State_Selected if selected else state
                    self.paint(painter, option, index)

    def sizeHint(self, option, index):
        grid = self.view.gridSize()  # a list view's tiles are their size hint wide, whatever its grid's width
        edge = self.view.edge
        return QSize(max(grid.width(), edge + 12), edge + 12)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        model = index.model()
        tile = getattr(model, "tile", None)
        if tile is not None and 0 <= index.row() < len(model.rows):
            row, pixmap, day = tile(index.row())
        else:
            row = index.data(ROW_ROLE)
            pixmap, day = index.data(Qt.ItemDataRole.DecorationRole), index.data(DAY_ROLE)
        if row is None:
            return
        painter.save()
        rect = tile_rect(option.rect, self.view.edge)
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        if row[R.IMAGE_ID] is None:
            self._paint_attempt(painter, rect, row, palette)
        elif pixmap is not None:
            size = pixmap.deviceIndependentSize().toSize()
            fitted = size.scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            if 0 <= fitted.width() - size.width() <= 8 and 0 <= fitted.height() - size.height() <= 8:
                # Decoded at the tile's size: drawn 1:1 (scaling it by the few pixels of the margin cost a
                # transformed blit per tile, most of a scroll's paint time). Smaller pictures are still enlarged.
                painter.drawPixmap(
                    rect.left() + (rect.width() - size.width()) // 2,
                    rect.top() + (rect.height() - size.height()) // 2,
                    pixmap,
                )
            else:
                target = QRect(0, 0, fitted.width(), fitted.height())
                target.moveCenter(rect.center())
                painter.drawPixmap(target, pixmap)
        if row[R.FAVOURITE]:
            painter.setPen(QColor(255, 196, 0))
            font = QFont(painter.font())
            font.setPointSizeF(font.pointSizeF() * 1.4)
            painter.setFont(font)
            painter.drawText(rect.adjusted(0, 2, -6, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, "★")
        if day:
            self._paint_chip(painter, rect, day)
        rating = getattr(model, "ratings", {}).get(row[R.SHA256]) if row[R.SHA256] else None
        if rating:
            self._paint_rating(painter, rect, rating)
        turns = getattr(model, "turns", None)  # set with threads collapsed: the tile stands for its whole thread
        if turns and row[R.GENERATION_ID] in turns:
            self._paint_turns(painter, rect, turns[row[R.GENERATION_ID]])
        if not (turns and row[R.GENERATION_ID] in turns) and (mark := source_mark(row)):
            self._paint_source(painter, _picture_rect(rect, pixmap), mark)
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

    def _paint_rating(self, painter: QPainter, rect: QRect, rating: int) -> None:
        """The stars (or "rejected"), bottom left, on a dark chip."""
        painter.save()
        text = tr("rejected") if rating < 0 else "★" * rating
        metrics = painter.fontMetrics()
        chip = QRect(
            rect.left() + 4,
            rect.bottom() - metrics.height() - 8,
            metrics.horizontalAdvance(text) + 10,
            metrics.height() + 4,
        )
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(chip, 4, 4)
        painter.setPen(QColor(200, 70, 70) if rating < 0 else QColor(255, 196, 0))
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _paint_turns(self, painter: QPainter, rect: QRect, turns: int) -> None:
        """A refine thread's turn count, bottom right: "⟳ 4"."""
        painter.save()
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        text = f"\u27f3 {turns}"
        metrics = painter.fontMetrics()
        width, height = metrics.horizontalAdvance(text) + 14, metrics.height() + 6
        badge = QRect(rect.right() - width - 4, rect.bottom() - height - 4, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(40, 110, 220, 220))
        painter.drawRoundedRect(badge, height / 2, height / 2)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _paint_source(self, painter: QPainter, rect: QRect, text: str) -> None:
        """A small pill in the picture's bottom-right corner (the stars take the left), quieter than the day's chip."""
        font = QFont(painter.font())
        font.setBold(False)
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        pill = QRect(0, 0, metrics.horizontalAdvance(text) + 10, metrics.height() + 2)
        pill.moveBottomRight(rect.bottomRight() + QPoint(-5, -5))
        painter.setPen(QPen(QColor(255, 255, 255, 120), 1))
        painter.setBrush(QColor(45, 80, 140, 215))
        painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_attempt(self, painter: QPainter, rect: QRect, row: tuple, palette: QPalette) -> None:
        colour = QColor(200, 60, 60) if row[R.STATUS] in (Status.ERROR, Status.INTERRUPTED) else QColor(210, 140, 30)
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
            status_label(row[R.STATUS]),
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
