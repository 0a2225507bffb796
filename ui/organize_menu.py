"""Organizing in the window: rating keys on the gallery (1-5, 0, X on the selected images), T to tag them (the details
pane's tag editor), the boards sidebar beside the gallery (selecting a board filters the gallery; gallery tiles
dragged onto a board join it; its width is kept between sessions), and Edit › Compare selected / View › Duplicates…
(images the duplicates view trashes go to the window's Undo)."""

from __future__ import annotations

import base64

from PySide6.QtCore import QByteArray, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
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
        self.details = None  # the details pane, once the window built it (attach_details)
        self.tags_action = QAction(tr("Tags…"), window)
        self.tags_action.setToolTip(tr("Tag the selected images (T)"))
        self.tags_action.setShortcut(QKeySequence("T"))  # a text field takes its own "t" first (ShortcutOverride)
        self.tags_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.tags_action.triggered.connect(self.focus_tags)
        window.addAction(self.tags_action)
        browser.gallery.addAction(self.tags_action)  # in the gallery's context menu too
        self._selection = None  # the gallery's selection model being watched for the tag editor
        self.area = QSplitter(Qt.Orientation.Horizontal, window)  # the window lays this out where the gallery goes
        self.area.addWidget(browser)
        self.area.setChildrenCollapsible(False)
        # Before the library's first listing:
        browser.organize_filters.restore_view(self._saved_window_state().get("gallery_view"))
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
        self.boards.deleted.connect(self._board_deleted)
        self.area.insertWidget(0, self.boards)
        self.area.setStretchFactor(0, 0)  # a wider window widens the gallery; the sidebar keeps the width given it
        self.area.setStretchFactor(1, 1)
        saved = self._saved_window_state().get("boards_splitter")
        try:
            restored = bool(saved) and self.area.restoreState(QByteArray(base64.b64decode(saved)))
        except (ValueError, TypeError):
            restored = False
        if not restored:
            self.area.setSizes([190, max(400, self.area.width() - 190)])
        self.boards.refresh()

    def _board_deleted(self, name: str, held: list[str]) -> None:
        async def bring_back():
            await self.boards.bring_back(name, held)

        self.image_actions.add_undo_step(bring_back)
        self.window.statusBar().showMessage(tr("Deleted the board “{0}”. Ctrl+Z brings it back.").format(name), 8000)

    def _saved_window_state(self) -> dict:
        """What the window kept in its settings "window" last session ({} for a window without settings)."""
        settings = getattr(self.window, "settings", None)
        return (settings.get("window", {}) if settings is not None else {}) or {}

    def saved_state(self) -> dict:
        """What the window keeps in its settings "window" for the next session: the boards sidebar's width and how
        the gallery is viewed (its order, threads collapsed); not what narrows it (rating, tag), which would greet
        the next session with images missing."""
        return {
            "boards_splitter": base64.b64encode(bytes(self.area.saveState().data())).decode(),
            "gallery_view": self.browser.organize_filters.view_state(),
        }

    # --- tags: the details pane's editor, for every selected image -----------------------------------------------

    def attach_details(self, details) -> None:
        """The details pane is built after the first paint: its tag editor edits the whole selection."""
        self.details = details
        details.tags.use_known(self.browser.organize_filters.known_tags)  # reloaded by organize_changed("tags")
        details.tags.changed.connect(lambda _shas: self.browser.organize_changed("tags"))
        details.tags.finished.connect(self.browser.gallery.setFocus)
        self.browser.currentChanged.connect(lambda _row: self._edit_tags())
        self._watch_selection()

    def _watch_selection(self) -> None:
        selection = self.browser.gallery.selectionModel()
        if selection is not None and selection is not self._selection:
            self._selection = selection
            selection.selectionChanged.connect(lambda *_: self._edit_tags())

    def _edit_tags(self) -> None:
        if self.details is not None and not self.details.tags.hasFocus():
            self._watch_selection()
            self.details.tags.edit(self.selected_shas())

    def focus_tags(self) -> None:
        if self.details is None:
            return
        self.details.tags.edit(self.selected_shas())
        self.details.focus_tags()

    def _rated(self, shas: list, rating) -> None:
        self.browser.show_ratings(shas, rating)
        self.browser.organize_changed("reject" if rating == "reject" else "rating")
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
