"""The live job queue: every job with its prompt, model, state, elapsed time, and cancel or retry."""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, QTimer, Signal
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
from ui.common import tr
from ui.studio import Studio

STATUS_COLOUR = {
    Status.OK: "#2e9d4e",
    Status.BLOCKED: "#c98a1a",
    Status.NO_IMAGE: "#c98a1a",
    Status.ERROR: "#c83c3c",
    Status.CANCELLED: "#888888",
    Status.RETRYING: "#c98a1a",
}


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
        grid.setColumnStretch(0, 1)
        self.refresh()

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
        shown = status in (Status.RETRYING, Status.BLOCKED, Status.NO_IMAGE, Status.ERROR) or (
            status is Status.OK and job.message.startswith("Cancelled")
        )
        self.message.setVisible(bool(shown and job.message))
        self.message.setText(job.message if shown else "")
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
        studio.imageSaved.connect(lambda job, _image: self._changed(job))
        studio.jobFinished.connect(self._changed)
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
