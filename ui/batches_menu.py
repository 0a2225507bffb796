"""Batches in the window (#14): View › Batches… opens the Batches panel (built on first use, for the open library);
batches still on Google's engine, from this session or an earlier one, are counted in a status-bar button that
opens the panel; images a fetch saves reach the gallery."""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QPushButton, QWidget

from services.app import Services
from services.errors import ApiError, NetworkError
from services.library import Library
from ui.banner import Banner
from ui.common import TaskSlots, tr
from ui.studio import Studio

log = logging.getLogger(__name__)


class BatchesControls(QObject):
    def __init__(self, services: Services, studio: Studio, banner: Banner, window: QWidget, on_images):
        super().__init__(window)
        self.services = services
        self.studio = studio
        self.banner = banner
        self.window = window
        self.on_images = on_images  # called with how many images a fetch saved
        self.panel = None
        self.tasks = TaskSlots(lambda sentence: banner.show_message(sentence, "error"))
        self.open_action = QAction(tr("&Batches…"), window)
        self.open_action.triggered.connect(self.open_panel)
        self.indicator = QPushButton(window)  # the window puts it in its status bar
        self.indicator.setFlat(True)
        self.indicator.clicked.connect(self.open_panel)
        self.indicator.hide()
        self.timer = QTimer(self)
        self.timer.setInterval(30_000)  # the status bar's counts move while batches run
        self.timer.timeout.connect(self._tick)
        studio.libraryOpened.connect(self._library_opened)
        window.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Close:  # the window closes: nothing of ours may run after its event loop
            self.timer.stop()
            self.tasks.cancel_all()
            if self.panel is not None:  # the panel is its own window
                self.panel.shutdown()
                self.panel.close()
        return False

    def _service(self, library: Library):
        from services.batch import BatchService  # imported on first use, not at start-up

        return BatchService(
            self.services.catalog,
            library,
            resolver=self.services.batch_resolver(library.root),
            http=self.studio.http,
            ledger=self.services.ledger(),
        )

    def open_panel(self):
        from ui.batches import BatchesPanel

        library = self.studio.library
        if library is None:
            return None
        if self.panel is None or self.panel.service.library is not library:
            if self.panel is not None:
                self.panel.close()
            self.panel = BatchesPanel(self._service(library), self.window)
            self.panel.setWindowFlag(Qt.WindowType.Window)
            self.panel.setWindowTitle(tr("Batches"))
            self.panel.resize(760, 360)
            self.panel.imagesSaved.connect(self.on_images)
            self.panel.imagesSaved.connect(lambda _saved: self._library_opened(library))
        self.panel.refresh()
        self.panel.show()
        self.panel.raise_()
        return self.panel

    def _library_opened(self, library: Library) -> None:
        self.tasks.run("unfinished", self._count_unfinished(library))

    def _tick(self) -> None:
        if self.studio.library is not None:
            self._library_opened(self.studio.library)

    async def _count_unfinished(self, library: Library) -> None:
        """Asks the servers of unfinished batches how far they are (the service asks no more often than its minimum
        interval, backing off while nothing changes), then shows the counts in the status bar."""
        service = self.panel.service if self.panel is not None and self.panel.service.library is library else None
        service = service or self._service(library)
        records = await asyncio.to_thread(service.records)
        fresh = []
        for record in records:
            if not record.finished:
                try:
                    record, _ = await service.refresh(record)
                except (ApiError, NetworkError) as exc:  # the panel says why; the status bar keeps the last counts
                    log.info("batch %s not refreshed: %s", record.batch_id, exc)
            fresh.append(record)
        self.indicator.setText(indicator_text(fresh))
        self.indicator.setToolTip(tr("Batches on Google's batch engine that have not been fetched: show them"))
        self.indicator.setVisible(bool(self.indicator.text()))
        if not self.timer.isActive():
            self.timer.start()


def indicator_text(records) -> str:
    """ "2 batches running · 12 of 44 done · 1 ready to fetch", or "" when there is nothing to follow."""
    running = [r for r in records if not r.finished]
    ready = sum(r.finished and not r.ingested and not r.local for r in records)
    parts = []
    if running:
        label = tr("1 batch running") if len(running) == 1 else tr("{0} batches running").format(len(running))
        done = sum(r.succeeded + r.failed for r in running)
        parts += [label, tr("{0} of {1} done").format(done, sum(r.requests for r in running))]
    if ready:
        parts.append(tr("{0} ready to fetch").format(ready))
    return " · ".join(parts)
