"""Organizing in the window: rating keys on the gallery (1-5, 0, X on the selected images), the boards sidebar beside
the gallery (selecting a board filters the gallery; gallery tiles dragged onto a board join it), and Edit › Compare
selected / View › Duplicates… (images the duplicates view trashes go to the window's Undo)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QSplitter, QWidget

from services.library import GalleryRow, Library
from ui.boards import BoardsSidebar
from ui.browser import Browser
from ui.common import TaskSlots, tr
from ui.image_actions import ImageActions
from ui.organize_actions import OrganizeActions
from ui.studio import Studio

R = GalleryRow


class OrganizeControls(QObject):
    def __init__(self, studio: Studio, browser: Browser, actions: ImageActions, show_error, window: QWidget):
        super().__init__(window)
        self.studio = studio
        self.browser = browser
        self.image_actions = actions
        self.window = window
        self.show_error = show_error
        self.tasks = TaskSlots(show_error)
        self.rating: OrganizeActions | None = None
        self.boards: BoardsSidebar | None = None
        self.compare_view = self.duplicates_view = None  # their own windows, built on first use
        self.compare_action = QAction(tr("Compare selected"), window)
        self.compare_action.setToolTip(tr("Compare 2 to 4 selected images side by side"))
        self.compare_action.triggered.connect(self.compare_selected)
        self.duplicates_action = QAction(tr("Duplicates…"), window)
        self.duplicates_action.triggered.connect(self.open_duplicates)
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

    # --- compare, duplicates: each its own window ---------------------------------------------------------------

    def _own_window(self, view: QWidget, title: str) -> None:
        view.setWindowFlag(Qt.WindowType.Window)
        view.setWindowTitle(title)
        view.resize(1100, 700)
        view.failed.connect(self.show_error)

    def compare_selected(self):
        from ui.compare import CompareView  # imported when first used, not at start-up

        library = self.studio.library
        rows = [r for r in self.browser.selected_rows() if r[R.IMAGE_ID] is not None]
        if library is None:
            return None
        if not 2 <= len(rows) <= 4:
            self.show_error(tr("Select 2 to 4 images to compare them."), "info")
            return None
        if self.compare_view is None:
            self.compare_view = CompareView(library, parent=self.window)
            self._own_window(self.compare_view, tr("Compare"))
        self.compare_view.compare(rows)
        self.compare_view.show()
        self.compare_view.raise_()
        return self.compare_view

    def open_duplicates(self):
        from ui.duplicates import DuplicatesView

        library = self.studio.library
        if library is None:
            return None
        if self.duplicates_view is None:
            self.duplicates_view = DuplicatesView(library, parent=self.window)
            self._own_window(self.duplicates_view, tr("Duplicates"))
            self.duplicates_view.trashed.connect(self._trashed)
        self.duplicates_view.refresh()
        self.duplicates_view.show()
        self.duplicates_view.raise_()
        return self.duplicates_view

    def _trashed(self, keys: list) -> None:
        self.browser.reload()  # the trashed images leave the gallery
        self.image_actions.add_undo(keys)
        self.window.statusBar().showMessage(
            tr("Moved {0} image(s) to the trash; Undo brings them back.").format(len(keys)), 8000
        )

    def close_views(self) -> None:
        for view in (self.compare_view, self.duplicates_view):
            if view is not None:
                view.tasks.cancel_all()
                view.close()
