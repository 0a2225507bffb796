"""The browse column: search and filters (the query), the gallery grid, the selection.

New results arrive from the studio's signals and are put at the top without asking the index again (when the
filters surely let them in); deletions and undos move single rows; only a changed query reloads the listing.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from services.jobs import Job
from services.library import GalleryRow, HistoryQuery, Library
from services.types import SavedImage
from ui.common import TaskSlots, tr
from ui.gallery import GalleryView, key_of, load_gallery
from ui.gallery_drag import DraggableGalleryModel
from ui.organize_filters import OrganizeFilters
from ui.studio import Studio

R = GalleryRow
DATE_RANGES = [("Any time", None), ("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30)]


class Browser(QWidget):
    currentChanged = Signal(object)  # the current gallery row, or None
    activated = Signal(object)  # a row double-clicked or Enter pressed on it

    def __init__(self, studio: Studio, thumb_size: int, show_error, parent=None):
        super().__init__(parent)
        self.studio = studio
        self.library: Library | None = None
        self.tasks = TaskSlots(show_error)
        self.query_version = 0  # bumped by every reload: an undo after a new query asks the index again
        self._current_key = None
        self.board: str | None = None  # only this board's images (the boards sidebar sets it)
        self._arrived: list[tuple] = []  # results prepended while a reload runs
        self.search = QLineEdit(self)
        self.search.setPlaceholderText(tr("Search prompts…"))
        self.search.setMinimumWidth(140)
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(tr("Search"))
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(120)
        self.search_timer.timeout.connect(self.reload)
        self.search.textChanged.connect(lambda _: self.search_timer.start())
        self.model_filter = QComboBox(self)
        # Sized for a short name, not the longest model id: the gallery column must leave room for the boards.
        self.model_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_filter.setMinimumContentsLength(10)
        self.model_filter.setAccessibleName(tr("Filter by model"))
        self.model_filter.addItem(tr("All models"), None)
        self.model_filter.currentIndexChanged.connect(self.reload)
        self.date_filter = QComboBox(self)
        for label, days in DATE_RANGES:
            self.date_filter.addItem(tr(label), days)
        self.date_filter.setAccessibleName(tr("Filter by date"))
        self.date_filter.currentIndexChanged.connect(self.reload)
        self.favourites_only = QCheckBox(tr("★ only"), self)
        self.favourites_only.setToolTip(tr("Show favourites only"))
        self.favourites_only.toggled.connect(self.reload)
        self.show_failed = QCheckBox(tr("Failed attempts"), self)
        self.show_failed.setToolTip(tr("Show blocked and failed attempts in the gallery"))
        self.show_failed.setChecked(True)
        self.show_failed.toggled.connect(self.reload)
        self.organize_filters = OrganizeFilters(self)  # rating, rejected, tag, order, threads
        self.organize_filters.changed.connect(self.reload)
        self.organize_filters.tagEdited.connect(self.search_timer.start)
        self.thumb_size = QSlider(Qt.Orientation.Horizontal, self)
        self.thumb_size.setRange(96, 320)
        self.thumb_size.setValue(thumb_size)
        self.thumb_size.setFixedWidth(110)
        self.thumb_size.setToolTip(tr("Thumbnail size"))
        self.thumb_size.setAccessibleName(tr("Thumbnail size"))
        self.thumb_size.valueChanged.connect(lambda value: self.gallery.set_edge(value))
        self.gallery = GalleryView(self)
        self.gallery.setDragEnabled(True)
        self.gallery.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.gallery.set_edge(thumb_size)
        self.gallery.doubleClicked.connect(lambda index: self.activated.emit(self._row_at(index.row())))
        self.gallery_model: DraggableGalleryModel | None = None
        self.gallery_count = QLabel(self)
        self.empty_hint = QLabel(tr("Opening the library…"), self)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column = QVBoxLayout(self)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 3)
        filters.addWidget(self.model_filter, 1)
        filters.addWidget(self.date_filter)
        filters.addWidget(self.favourites_only)
        filters.addWidget(self.show_failed)
        column.addLayout(filters)
        column.addWidget(self.organize_filters)
        column.addWidget(self.empty_hint)
        column.addWidget(self.gallery, 1)
        footer = QHBoxLayout()
        footer.addWidget(self.gallery_count, 1)
        footer.addWidget(QLabel(tr("Thumbnails"), self))
        footer.addWidget(self.thumb_size)
        column.addLayout(footer)
        studio.libraryOpened.connect(self.attach_library)
        studio.imageSaved.connect(self._image_saved)
        studio.jobFinished.connect(self._job_finished)

    def attach_library(self, library: Library) -> None:
        self.library = library
        self.gallery_model = DraggableGalleryModel(library, parent=self)
        self.gallery.setModel(self.gallery_model)
        self.gallery.set_edge(self.thumb_size.value())
        self.gallery.selectionModel().currentChanged.connect(self._current_changed)
        self.gallery_model.countChanged.connect(self._count_changed)
        self.reload()
        self.load_tags()

    # --- the query --------------------------------------------------------------------------------------------

    def history_query(self) -> HistoryQuery:
        days = self.date_filter.currentData()
        since = None
        if days:
            start = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
            since = start.timestamp()
        return HistoryQuery(
            search=self.search.text(),
            model=self.model_filter.currentData(),
            favourites_only=self.favourites_only.isChecked(),
            include_failed=self.show_failed.isChecked(),
            since=since,
            board=self.board,
            **self.organize_filters.query_fields(),
        )

    def reload(self, *_) -> asyncio.Task | None:
        if self.library is None:
            return None
        query = self.history_query()
        self.query_version += 1
        model, library = self.gallery_model, self.library
        first_rows = self.gallery.first_rows()

        async def load():
            selected = self._current_key
            self._arrived = []
            async for complete in load_gallery(model, library, query, first_rows):
                # A result that arrived after the worker read the index is not in its listing: put it back.
                model.insert_rows([r for r in self._arrived if model.row_of(key_of(r)) is None])
                current = self.gallery.currentIndex()
                if current.isValid() and key_of(model.rows[current.row()]) == selected:
                    continue  # kept through the append
                row = model.row_of(selected) if selected is not None else None
                if row is None and (complete or selected is None) and model.rowCount():
                    row = 0  # show the newest image rather than an empty viewer
                if row is not None:
                    self.gallery.setCurrentIndex(model.index(row, 0))
            for name in await asyncio.to_thread(library.models_used):
                self._add_model(name)

        return self.tasks.run("gallery", load())

    def _filters_decide(self, model_id: str) -> bool | None:
        """Whether a new result belongs in the listing, or None when only the index can tell."""
        if self.board is not None or self.organize_filters.narrowing():
            return False  # a new image is on no board yet, has no tag and no stars
        if self.search.text().strip() or self.favourites_only.isChecked() or not self.organize_filters.newest_first():
            return None  # (a new image goes to the top only in the newest-first order)
        return self.model_filter.currentData() in (None, model_id)

    def _add_result(self, row: tuple, model_id: str, refine: bool = False) -> None:
        fits = self._filters_decide(model_id)
        if fits and refine and self.organize_filters.threads.isChecked():
            fits = None  # the new turn takes its thread's tile: the index tells which
        if fits is None:
            self.search_timer.start()
        elif fits and self.gallery_model is not None:
            self.gallery_model.prepend([row])
            if "gallery" in self.tasks.running_names():
                self._arrived.append(row)

    def _image_saved(self, job: Job, image: SavedImage) -> None:
        if self.library is None:
            return
        row = GalleryRow(
            image_id=image.image_id,
            generation_id=image.generation_id,
            created_at=job.recorded_at or time.time(),
            status="ok",
            sha256=image.sha256,
            path=Path(image.path).relative_to(self.library.root).as_posix(),
            width=image.width,
            height=image.height,
            favourite=0,
            model=job.request.model,
            reason=None,
        )
        self._add_result(row, job.request.model, refine=bool(job.request.lineage))

    def _job_finished(self, job: Job) -> None:
        self._add_model(job.request.model)
        if job.images or not job.generation_id or not job.status.failed or not self.show_failed.isChecked():
            return
        row = GalleryRow(
            image_id=None,
            generation_id=job.generation_id,
            created_at=job.recorded_at or time.time(),
            status=str(job.status),
            sha256=None,
            path=None,
            width=0,
            height=0,
            favourite=0,
            model=job.request.model,
            reason=job.message,
        )
        self._add_result(row, job.request.model)

    def _add_model(self, model_id: str) -> None:
        if self.model_filter.findData(model_id) < 0:
            self.model_filter.addItem(model_id, model_id)

    def _count_changed(self, count: int) -> None:
        self.gallery_count.setText(tr("{0} items").format(f"{count:,}"))
        filtering = (
            bool(self.search.text().strip())
            or self.favourites_only.isChecked()
            or self.model_filter.currentIndex() > 0
            or self.date_filter.currentIndex() > 0
            or self.organize_filters.narrowing()
            or self.board is not None
        )
        self.empty_hint.setText(
            tr("Nothing matches these filters.")
            if filtering
            else tr("No images yet. Write a prompt and press Generate.")
        )
        self.empty_hint.setVisible(count == 0)

    # --- the selection ----------------------------------------------------------------------------------------

    def _row_at(self, i: int) -> tuple | None:
        model = self.gallery_model
        return named(model.rows[i]) if model is not None and 0 <= i < len(model.rows) else None

    def _current_changed(self, current, _previous) -> None:
        row = self._row_at(current.row()) if current.isValid() else None
        self._current_key = key_of(row) if row is not None else None
        self.currentChanged.emit(row)

    def current_row(self) -> tuple | None:
        if self._current_key is None or self.gallery_model is None:
            return None
        return named(self.gallery_model.row_for(self._current_key))

    def selected_rows(self) -> list[tuple]:
        if self.gallery_model is None:
            return []
        rows = [r for r in (self._row_at(i.row()) for i in self.gallery.selectionModel().selectedIndexes()) if r]
        current = self.current_row()
        return rows or ([current] if current is not None else [])

    def step(self, delta: int) -> None:
        current = self.gallery.currentIndex()
        row = (current.row() if current.isValid() else -1) + delta
        if self.gallery_model is not None and 0 <= row < self.gallery_model.rowCount():
            self.gallery.setCurrentIndex(self.gallery_model.index(row, 0))

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def grow_thumbnails(self, step: int) -> None:
        self.thumb_size.setValue(self.thumb_size.value() + step)

    # --- edits the actions made -------------------------------------------------------------------------------

    def remove(self, rows: list[tuple]) -> None:
        if self.gallery_model is None or not rows:
            return
        next_row = min((i for i in (self.gallery_model.row_of(key_of(r)) for r in rows) if i is not None), default=0)
        self.gallery_model.remove_keys({key_of(r) for r in rows})
        count = self.gallery_model.rowCount()
        if count:
            self.gallery.setCurrentIndex(self.gallery_model.index(min(next_row, count - 1), 0))

    def restore(self, rows: list[tuple], query_version: int) -> None:
        """Rows an undo brought back: put in place when the query is the one they were deleted from."""
        if self.gallery_model is None:
            return
        if query_version == self.query_version and self.organize_filters.newest_first():
            self.gallery_model.insert_rows(rows)
        else:
            self.reload()

    def favourites_changed(self, image_ids: list[int], value: bool) -> None:
        if self.gallery_model is None:
            return
        for image_id in image_ids:
            self.gallery_model.update_row(image_id, favourite=int(value))
        if self.favourites_only.isChecked():
            self.reload()
        current = self.current_row()
        if current is not None and current[R.IMAGE_ID] in image_ids:
            self.currentChanged.emit(current)

    def show_ratings(self, shas: list[str], rating) -> None:
        """The stars the rating keys just gave, on the tiles at once (0 clears, "reject")."""
        if self.gallery_model is None:
            return
        value = -1 if rating == "reject" else int(rating)
        for sha in shas:
            if value:
                self.gallery_model.ratings[sha] = value
            else:
                self.gallery_model.ratings.pop(sha, None)
        self.gallery.viewport().update()

    def organize_changed(self, what: str) -> None:
        """Ratings ("rating", "reject") or tags ("tags") changed in the library: reload when the listing depends on them."""
        fields = self.organize_filters.query_fields()
        if what == "tags":
            depends = fields["tag"] is not None
        else:
            depends = fields["min_rating"] is not None or fields["by_rating"]
            depends = depends or (what == "reject" and not fields["include_rejected"])
        if depends:
            self.reload()
        if what == "tags":
            self.load_tags()

    def load_tags(self) -> asyncio.Task | None:
        """The library's tags for the tag filter's completion (at start and after tagging, not on every reload)."""
        if self.library is None:
            return None
        library = self.library

        async def tags():
            self.organize_filters.set_tags([tag for tag, _n in await asyncio.to_thread(library.tags)])

        return self.tasks.run("tags", tags())

    async def shutdown(self) -> None:
        self.tasks.cancel_all()
        if self.gallery_model is not None:
            await asyncio.to_thread(self.gallery_model.loader.stop)  # joins the workers, off the GUI thread


def named(row: tuple | None) -> GalleryRow | None:
    """The model keeps a listing's rows as plain tuples (see Library.gallery); what leaves the browser is named."""
    return row if row is None or isinstance(row, GalleryRow) else GalleryRow._make(row)
