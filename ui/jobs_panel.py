"""The live job queue: every job with its prompt, model, state, elapsed time, and cancel or retry; while a job runs,
its latest thought summary and its draft pictures (small, labelled "draft"), which the final pictures replace."""

from __future__ import annotations

import asyncio
import time

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from services.errors import InputError
from services.jobs import Job
from services.status import Status
from services.types import SavedImage
from ui.common import TaskSlots, tr
from ui.drafts import DRAFT_EDGE, preview_file
from ui.studio import Studio

STATUS_COLOUR = {
    Status.OK: "#2e9d4e",
    Status.BLOCKED: "#c98a1a",
    Status.NO_IMAGE: "#c98a1a",
    Status.ERROR: "#c83c3c",
    Status.CANCELLED: "#888888",
    Status.RETRYING: "#c98a1a",
    Status.PAUSED: "#c98a1a",
    Status.BUDGET: "#c98a1a",
}


def thought_line(text: str) -> str:
    """A thought summary as one status line: its heading (the models write `**Heading**` first), else its start."""
    lines = [line.strip().strip("*#").strip() for line in text.splitlines()]
    return next((line for line in lines if line), "")


class Preview(QWidget):
    """One small picture of a running job with its caption ("draft", or "image N" once the final one is saved)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.picture = QLabel(self)
        self.picture.setFixedSize(DRAFT_EDGE, DRAFT_EDGE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel(self)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.final = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.picture)
        layout.addWidget(self.caption)

    def show_image(self, image: QImage, caption: str, final: bool) -> None:
        self.picture.setPixmap(QPixmap.fromImage(image))  # already thumbnail-sized: cheap on the GUI thread
        self.caption.setText(caption)
        self.final = final


class JobRow(QFrame):
    cancelClicked = Signal(object)
    retryClicked = Signal(object)

    def __init__(self, job: Job, parent=None):
        super().__init__(parent)
        self.job = job
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.prompt = QLabel(self)
        self.prompt.setTextFormat(Qt.TextFormat.PlainText)
        self.meta = QLabel(self)
        self.state = QLabel(self)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.thought = QLabel(self)
        self.thought.setTextFormat(Qt.TextFormat.PlainText)
        self.thought.setAccessibleName(tr("What the model is doing"))
        self.thought.hide()
        self.previews: dict[int, Preview] = {}
        self.strip = QHBoxLayout()
        self.strip.setContentsMargins(0, 2, 0, 0)
        self.strip.setSpacing(6)
        self.strip.addStretch(1)
        self.button = QToolButton(self)
        self.button.setAutoRaise(True)
        self.button.clicked.connect(self._clicked)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 4, 4)
        grid.setVerticalSpacing(1)
        grid.addWidget(self.prompt, 0, 0)
        grid.addWidget(self.button, 0, 1, 2, 1, Qt.AlignmentFlag.AlignTop)
        line = QHBoxLayout()
        line.setSpacing(10)
        line.addWidget(self.state)
        line.addWidget(self.meta, 1)
        grid.addLayout(line, 1, 0)
        grid.addWidget(self.message, 2, 0, 1, 2)
        grid.addWidget(self.thought, 3, 0, 1, 2)
        grid.addLayout(self.strip, 4, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        self.refresh()

    def show_thought(self, text: str) -> None:
        if self.job.finished:
            return
        line = thought_line(text)
        self.thought.setText(
            self.thought.fontMetrics().elidedText(tr("Thinking: ") + line, Qt.TextElideMode.ElideRight, 300)
        )
        self.thought.setToolTip(text)
        self.thought.setVisible(bool(line))

    def show_draft(self, index: int, image: QImage) -> None:
        preview = self._preview(index)
        if not preview.final and not self.job.finished:
            preview.show_image(image, tr("draft"), final=False)

    def show_final(self, index: int, image: QImage) -> None:
        self._preview(index).show_image(image, tr("image {0}").format(index + 1), final=True)

    def drafts(self) -> list[int]:
        return [i for i, p in self.previews.items() if not p.final]

    def _preview(self, index: int) -> Preview:
        if index not in self.previews:
            self.previews[index] = Preview(self)
            self.strip.insertWidget(sorted(self.previews).index(index), self.previews[index])
        return self.previews[index]

    def _drop_drafts(self) -> None:
        for index in self.drafts():
            preview = self.previews.pop(index)
            self.strip.removeWidget(preview)
            preview.deleteLater()

    def _clicked(self):
        (self.retryClicked if self.job.finished else self.cancelClicked).emit(self.job)

    def refresh(self) -> None:
        job = self.job
        prompt = " ".join(job.request.prompt.split())
        self.prompt.setText(self.prompt.fontMetrics().elidedText(prompt, Qt.TextElideMode.ElideRight, 260))
        self.prompt.setToolTip(job.request.prompt)
        status = job.status
        state = tr(status.label)
        if status is Status.RETRYING and job.retry_at:
            state = tr("Retrying in {0} s").format(max(0, round(job.retry_at - time.monotonic())))
        if status is Status.OK and job.images:
            state = tr("Done: {0} image(s)").format(len(job.images))
        colour = STATUS_COLOUR.get(status)
        self.state.setText(f"<b style='color:{colour}'>{state}</b>" if colour else f"<b>{state}</b>")
        elapsed = f"{job.elapsed():.0f} s" if job.started_at else ""
        count = f"×{job.request.count}" if job.request.count > 1 else ""
        self.meta.setText(f"{job.request.model} {count}  {elapsed}")
        shown = status in (Status.RETRYING, Status.BLOCKED, Status.NO_IMAGE, Status.ERROR, Status.BUDGET) or (
            status is Status.OK and job.message.startswith("Cancelled")
        )
        self.message.setVisible(bool(shown and job.message))
        self.message.setText(job.message if shown else "")
        if job.finished:  # what the model thought and drafted is replaced by the outcome
            self.thought.hide()
            self._drop_drafts()
        style = self.style()
        if job.finished:
            self.button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
            self.button.setToolTip(tr("Run this job again"))
            self.button.setAccessibleName(tr("Retry job"))
            self.button.setVisible(job.status is not Status.OK)
        else:
            self.button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DialogCancelButton))
            self.button.setToolTip(tr("Cancel this job"))
            self.button.setAccessibleName(tr("Cancel job"))
            self.button.setVisible(True)


class JobsPanel(QWidget):
    def __init__(self, studio: Studio, parent=None):
        super().__init__(parent)
        self.studio = studio
        self.rows: dict[int, tuple[QListWidgetItem, JobRow]] = {}
        self.tasks = TaskSlots(studio.failed.emit)
        self.list = QListWidget(self)
        self.list.setAccessibleName(tr("Job queue"))
        self.list.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.title = QLabel(tr("Jobs"), self)
        self.cancel_all = QPushButton(tr("Cancel all"), self)
        self.cancel_all.setToolTip(tr("Cancel every waiting and running job"))
        self.cancel_all.clicked.connect(studio.cancel_all)
        self.clear = QPushButton(tr("Clear finished"), self)
        self.clear.clicked.connect(self.clear_finished)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.clear)
        head.addWidget(self.cancel_all)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.list, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self._tick)
        studio.jobAdded.connect(self._added)
        studio.jobChanged.connect(self._changed)
        studio.imageSaved.connect(self._image_saved)
        studio.jobFinished.connect(self._changed)
        studio.thoughtShown.connect(lambda job, text: self._on_row(job, lambda row: row.show_thought(text)))
        studio.draftShown.connect(lambda job, i, image: self._on_row(job, lambda row: row.show_draft(i, image)))
        for job in studio.queue.jobs if studio.queue else []:  # jobs sent before this panel was built
            self._added(job)
        self._update_title()

    def _added(self, job: Job) -> None:
        item = QListWidgetItem()
        row = JobRow(job)
        row.cancelClicked.connect(self.studio.cancel)
        row.retryClicked.connect(self._retry)
        self.list.insertItem(0, item)
        self.list.setItemWidget(item, row)
        item.setSizeHint(row.sizeHint())
        self.rows[job.id] = (item, row)
        self.timer.start()
        self._update_title()

    def _retry(self, job: Job) -> None:
        try:
            self.studio.retry(job)
        except InputError as exc:
            self.studio.failed.emit(str(exc))

    def _changed(self, job: Job) -> None:
        if job.id in self.rows:
            item, row = self.rows[job.id]
            row.refresh()
            item.setSizeHint(QSize(row.sizeHint().width(), row.sizeHint().height()))
        self._update_title()

    def _on_row(self, job: Job, change) -> None:
        if job.id in self.rows:
            item, row = self.rows[job.id]
            change(row)
            item.setSizeHint(row.sizeHint())

    def _image_saved(self, job: Job, image: SavedImage) -> None:
        self._changed(job)
        self.tasks.run(None, self._show_final(job, image))

    async def _show_final(self, job: Job, image: SavedImage) -> None:
        preview = await asyncio.to_thread(preview_file, image.path)
        if preview is not None:
            self._on_row(job, lambda row: row.show_final(image.index, preview))

    def _tick(self) -> None:
        active = False
        for _item, row in self.rows.values():
            if not row.job.finished:
                row.refresh()
                active = True
        if not active:
            self.timer.stop()

    def clear_finished(self) -> None:
        for job_id, (item, row) in list(self.rows.items()):
            if row.job.finished:
                self.list.takeItem(self.list.row(item))
                del self.rows[job_id]
        self.studio.clear_finished()
        self._update_title()

    def _update_title(self) -> None:
        active = self.studio.active_jobs()
        self.title.setText(tr("Jobs") + (f"  ({active} " + tr("active") + ")" if active else ""))
        self.cancel_all.setEnabled(active > 0)

    def row_for(self, job: Job) -> JobRow | None:
        entry = self.rows.get(job.id)
        return entry[1] if entry else None
