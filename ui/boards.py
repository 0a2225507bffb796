"""The boards sidebar: every board with its count; drop gallery images on one to add them; select one to filter.

Gallery drags carry IMAGE_SHA_MIME: the images' sha256s, one per line (utf-8). The first row, "All images", clears
the filter. `boardSelected(name or None)` is the filter; `changed()` fires once a drop is in the library.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ui.common import TaskSlots, tr

IMAGE_SHA_MIME = "application/x-atelier-image-sha256"
BOARD_ROLE = Qt.ItemDataRole.UserRole + 1


def image_mime(shas: list[str]) -> QMimeData:
    """What a gallery puts in its drag (and clipboard) so the boards can take the images."""
    mime = QMimeData()
    mime.setData(IMAGE_SHA_MIME, "\n".join(shas).encode())
    return mime


def shas_of(mime: QMimeData) -> list[str]:
    if not mime.hasFormat(IMAGE_SHA_MIME):
        return []
    text = bytes(mime.data(IMAGE_SHA_MIME)).decode("utf-8", "replace")
    return [line.strip() for line in text.splitlines() if len(line.strip()) == 64]


class BoardList(QListWidget):
    dropped = Signal(str, list)  # board name, sha256s

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.viewport().setAcceptDrops(True)

    def dragEnterEvent(self, event):  # noqa: N802 - Qt's name
        if shas_of(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):  # noqa: N802
        item = self.itemAt(event.position().toPoint())
        if item is not None and item.data(BOARD_ROLE) and shas_of(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event):  # noqa: N802
        item = self.itemAt(event.position().toPoint())
        shas = shas_of(event.mimeData())
        if item is None or not item.data(BOARD_ROLE) or not shas:
            event.ignore()
            return
        event.acceptProposedAction()
        self.dropped.emit(item.data(BOARD_ROLE), shas)


class BoardsSidebar(QWidget):
    boardSelected = Signal(object)  # noqa: N815 - a Qt signal: the board's name, or None for all images
    changed = Signal()
    failed = Signal(str)

    def __init__(self, library, tasks: TaskSlots | None = None, parent=None):
        super().__init__(parent)
        self.library = library
        self.tasks = tasks or TaskSlots(self.failed.emit)
        self.list = BoardList(self)
        self.new_board = QLineEdit(self)
        self.new_board.setPlaceholderText(tr("New board: type a name, then drop images on it"))
        self.new_board.returnPressed.connect(self._add_pending_board)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addWidget(self.new_board)
        self.list.dropped.connect(self.add_images)
        self.list.currentItemChanged.connect(self._selected)
        self._pending: list[str] = []  # boards named but not yet holding an image
        self.boards: list[dict] = []

    def refresh(self) -> asyncio.Task:
        async def load():
            self.show_boards(await asyncio.to_thread(self.library.boards))

        return self.tasks.run("boards", load())

    def show_boards(self, boards: list[dict]) -> None:
        self.boards = boards
        current = self.current_board()
        names = {b["name"] for b in boards}
        self._pending = [p for p in self._pending if p not in names]
        self.list.blockSignals(True)
        self.list.clear()
        everything = QListWidgetItem(tr("All images"))
        self.list.addItem(everything)
        rows = [(b["name"], b["count"]) for b in boards] + [(p, 0) for p in self._pending]
        for name, count in sorted(rows, key=lambda r: r[0].casefold()):
            item = QListWidgetItem(f"{name}  ({count})")
            item.setData(BOARD_ROLE, name)
            item.setToolTip(tr("Drop images here to add them to this board"))
            self.list.addItem(item)
            if name == current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None:
            self.list.setCurrentItem(everything)
        self.list.blockSignals(False)

    def current_board(self) -> str | None:
        item = self.list.currentItem()
        return item.data(BOARD_ROLE) if item is not None else None

    def add_images(self, board: str, shas: list[str]) -> asyncio.Task:
        async def add():
            await asyncio.to_thread(self.library.board_add, board, shas)
            self.show_boards(await asyncio.to_thread(self.library.boards))
            self.changed.emit()

        return self.tasks.run(None, add())

    def _add_pending_board(self) -> None:
        name = " ".join(self.new_board.text().split())
        if name and name not in self._pending and all(b["name"] != name for b in self.boards):
            self._pending.append(name)
        self.new_board.clear()
        self.show_boards(self.boards)

    def _selected(self, item, _previous) -> None:
        self.boardSelected.emit(item.data(BOARD_ROLE) if item is not None else None)
