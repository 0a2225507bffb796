"""Organizing in the window: rating keys on the gallery (1-5, 0, X on the selected images), the boards sidebar beside
the gallery (selecting a board filters the gallery; gallery tiles dragged onto a board join it), and Edit › Compare
selected / View › Duplicates… (images the duplicates view trashes go to the window's Undo)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QSplitter, QWidget

from services.library import GalleryRow, Library
from ui.boards import BoardsSidebar
from ui.browser import Browser
from ui.common import TaskSlots, tr
from ui.organize_actions import OrganizeActions
from ui.studio import Studio

R = GalleryRow


class OrganizeControls(QObject):
    def __init__(self, studio: Studio, browser: Browser, show_error, window: QWidget):
        super().__init__(window)
        self.browser = browser
        self.window = window
        self.show_error = show_error
        self.tasks = TaskSlots(show_error)
        self.rating: OrganizeActions | None = None
        self.boards: BoardsSidebar | None = None
        self.area = QSplitter(Qt.Orientation.Horizontal, window)  # the window lays this out where the gallery goes
        self.area.addWidget(browser)
        self.area.setChildrenCollapsible(False)
        studio.libraryOpened.connect(self._library_opened)

    def selected_shas(self) -> list[str]:
        return list(dict.fromkeys(r[R.SHA256] for r in self.browser.selected_rows() if r[R.SHA256]))

    def _library_opened(self, library: Library) -> None:
        if self.boards is not None:
            return  # the window holds one library for its life
        self.rating = OrganizeActions(library, self.selected_shas, self.tasks, self)
        self.rating.install(self.browser.gallery)
        self.rating.changed.connect(self._rated)
        self.boards = BoardsSidebar(library, self.tasks, self.window)
        self.boards.setMinimumWidth(150)
        self.boards.boardSelected.connect(self._board_selected)
        self.boards.changed.connect(lambda: self.browser.board is not None and self.browser.reload())
        self.area.insertWidget(0, self.boards)
        self.area.setSizes([170, max(400, self.area.width() - 170)])
        self.boards.refresh()

    def _rated(self, shas: list, rating) -> None:
        if rating == "reject":
            self.browser.reload()  # rejected images are hidden
        stars = tr("rejected") if rating == "reject" else tr("no rating") if rating == 0 else "★" * rating
        self.window.statusBar().showMessage(tr("{0} image(s): {1}").format(len(shas), stars), 3000)

    def _board_selected(self, board: str | None) -> None:
        self.browser.board = board
        self.browser.reload()
