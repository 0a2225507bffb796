"""The boards sidebar: every board with its count; drop gallery images on one to add them; select one to filter;
its context menu renames a board (in place, F2 too) or deletes it (its images stay in the library).

Gallery drags carry IMAGE_SHA_MIME: the images' sha256s, one per line (utf-8). The first row, "All images", clears
the filter. `boardSelected(name or None)` is the filter; `changed()` fires once a drop, a rename or a deletion is in
the library. Every change goes through the Library facade (which journals it) off the GUI thread.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from ui.common import TaskSlots, ask, tr

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


class BoardNameDelegate(QStyledItemDelegate):
    """Renaming in place: the editor holds the board's name (not "name  (count)"); the list is redrawn from the
    library once the rename is in, so the model is never written here."""

    renamed = Signal(str, str)  # old name, new name

    def setEditorData(self, editor, index):  # noqa: N802 - Qt's name
        editor.setText(index.data(BOARD_ROLE) or "")
        editor.selectAll()

    def setModelData(self, editor, model, index):  # noqa: N802
        old, new = index.data(BOARD_ROLE), " ".join(editor.text().split())
        if old and new and new != old:
            self.renamed.emit(old, new)


class BoardList(QListWidget):
    dropped = Signal(str, list)  # board name, sha256s

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.viewport().setAcceptDrops(True)
        self.setSpacing(2)
        self.names = BoardNameDelegate(self)
        self.setItemDelegate(self.names)
        self.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)  # F2; and "Rename" in the menu
        self.menu_target: QListWidgetItem | None = None
        self.rename_action = QAction(tr("Rename board"), self)
        self.rename_action.triggered.connect(lambda: self.menu_target is not None and self.editItem(self.menu_target))
        self.delete_action = QAction(tr("Delete board…"), self)
        self.delete_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.addAction(self.delete_action)

    def contextMenuEvent(self, event):  # noqa: N802 - Qt's name
        item = self.itemAt(event.pos())
        if item is None or not item.data(BOARD_ROLE):
            event.ignore()
            return
        self.menu_target = item
        menu = QMenu(self)
        menu.addAction(self.rename_action)
        menu.addAction(self.delete_action)
        menu.exec(event.globalPos())
        menu.deleteLater()

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
    deleted = Signal(str, object)  # a board deleted from here, and the sha256 of the images it held (for an Undo)
    failed = Signal(str)

    def __init__(self, library, tasks: TaskSlots | None = None, parent=None):
        super().__init__(parent)
        self.library = library
        self.tasks = tasks or TaskSlots(self.failed.emit)
        self.list = BoardList(self)
        self.new_board = QLineEdit(self)
        self.new_board.setPlaceholderText(tr("New board…"))
        self.new_board.setToolTip(tr("Type a board's name and press Enter, then drop images on it"))
        self.new_board.setAccessibleName(tr("New board"))
        self.new_board.returnPressed.connect(self._create_board)
        self.hint = QLabel(tr("Name a board below, then drag images from the gallery onto it."), self)
        self.hint.setWordWrap(True)  # the sidebar is narrow: a sentence wraps instead of being cut
        self.hint.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.hint)
        layout.addWidget(self.new_board)
        self.list.dropped.connect(self.add_images)
        self.list.currentItemChanged.connect(self._selected)
        self.list.names.renamed.connect(self.rename)
        self.list.delete_action.triggered.connect(self._delete_target)
        self.boards: list[dict] = []

    def refresh(self) -> asyncio.Task:
        async def load():
            self.show_boards(await asyncio.to_thread(self.library.boards))

        return self.tasks.run("boards", load())

    def show_boards(self, boards: list[dict], keep: str | None = None) -> None:
        """Lists the boards, keeping the current one (or `keep`) selected without a signal."""
        self.boards = boards
        current = keep or self.current_board()
        self.hint.setVisible(not boards)
        self.list.blockSignals(True)
        self.list.clear()
        everything = QListWidgetItem(tr("All images"))
        self.list.addItem(everything)
        rows = [(b["name"], b["count"]) for b in boards]
        for name, count in sorted(rows, key=lambda r: r[0].casefold()):
            item = QListWidgetItem(f"{name}  ({count})")
            item.setData(BOARD_ROLE, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(tr("Drop images here to add them to this board; right-click to rename or delete it"))
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

    def _create_board(self) -> asyncio.Task | None:
        name = " ".join(self.new_board.text().split())
        self.new_board.clear()
        if not name or any(b["name"] == name for b in self.boards):
            return None
        self.show_boards([*self.boards, {"name": name, "count": 0}])  # at once; the library's list follows
        return self._change(self.library.board_create, name)

    def rename(self, old: str, new: str) -> asyncio.Task:
        return self._change(self.library.board_rename, old, new, select=new if self.current_board() == old else None)

    def delete(self, name: str) -> asyncio.Task:
        return self._change(self.library.board_delete, name, done=lambda held: self.deleted.emit(name, held))

    def bring_back(self, name: str, shas: list[str]) -> asyncio.Task:
        """A deleted board again, with the images it held (the Undo of a delete)."""
        return self._change(self.library.board_add, name, shas)

    def _change(self, change, *args, select: str | None = None, done=None) -> asyncio.Task:
        async def run():
            result = await asyncio.to_thread(change, *args)
            if done is not None:
                done(result)
            boards = await asyncio.to_thread(self.library.boards)
            previous = self.current_board()
            self.show_boards(boards, keep=select)
            if self.current_board() != previous:  # the shown board was renamed (or is gone: all images)
                self._selected(self.list.currentItem(), None)
            self.changed.emit()

        return self.tasks.run(None, run())

    def _delete_target(self) -> asyncio.Task | None:
        item = self.list.menu_target if self.list.menu_target is not None else self.list.currentItem()
        self.list.menu_target = None
        name = item.data(BOARD_ROLE) if item is not None else None
        if not name:
            return None
        count = next((b["count"] for b in self.boards if b["name"] == name), 0)

        async def confirm():
            text = tr("Delete the board “{0}”? Its {1} image(s) stay in the library.").format(name, count)
            answer = await ask(
                self, QMessageBox.Icon.Question, tr("Delete board"), text, [tr("Delete board"), tr("Cancel")]
            )
            if answer == 0:
                await self.delete(name)

        return self.tasks.run("board-delete", confirm())

    def _selected(self, item, _previous) -> None:
        self.boardSelected.emit(item.data(BOARD_ROLE) if item is not None else None)
