"""Importing in the window: File › Add folder… (indexed where it lies) and File › Import files… (copied in) run in an
ImportPanel in the status bar; the gallery reloads as batches land, at most once every RELOAD_EVERY_MS (a reload of
a 100,000-image gallery per batch would take the GUI thread over and over), and once more at the end. The added folders are watched while the library
is open; the watcher and a running import are stopped off the GUI thread when the window shuts down."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QWidget

from services.library import Library
from ui.common import tr
from ui.importer import ImportPanel
from ui.studio import Studio

RELOAD_EVERY_MS = 2000


class Throttle(QObject):
    """Calls `action` now if it has not run for `interval_ms`, else once when that much time has passed (calls in
    between are merged into that one). flush() runs a pending call now."""

    def __init__(self, action, interval_ms: int, parent: QObject | None = None):
        super().__init__(parent)
        self.action, self.interval_ms = action, interval_ms
        self._since = QElapsedTimer()
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.timeout.connect(self._run)

    def __call__(self, *_args) -> None:
        if self._pending.isActive():
            return
        if not self._since.isValid() or self._since.elapsed() >= self.interval_ms:
            self._run()
        else:
            self._pending.start(self.interval_ms - self._since.elapsed())

    def flush(self) -> None:
        self._pending.stop()
        self._run()

    def _run(self) -> None:
        self._since.start()
        self.action()


class ImportControls(QObject):
    folders_changed = Signal(object)  # a rescan's report; emitted from the watcher's thread, delivered queued

    def __init__(self, studio: Studio, window: QWidget, on_images, watch_interval: float = 60.0):
        super().__init__(window)
        self.window = window
        self.on_images = on_images  # called (on the GUI thread) when images reached the library
        self.watch_interval = watch_interval
        self.panel: ImportPanel | None = None
        self.watch = None
        self.add_folder_action = QAction(tr("Add folder…"), window)
        self.add_folder_action.triggered.connect(lambda: self.panel and self.panel.ask_and_import(copy=False))
        self.import_files_action = QAction(tr("Import files…"), window)
        self.import_files_action.triggered.connect(self.ask_for_files)
        for made in (self.add_folder_action, self.import_files_action):
            made.setEnabled(False)
        self.folders_changed.connect(lambda _report: self.on_images())
        studio.libraryOpened.connect(self._library_opened)

    def _library_opened(self, library: Library) -> None:
        if self.panel is not None:
            return  # the window holds one library for its life
        self.panel = ImportPanel(library, self.window)
        self.reload = Throttle(self.on_images, RELOAD_EVERY_MS, self)
        self.panel.images_landed.connect(self.reload)
        self.panel.finished.connect(lambda _report: self.reload.flush())
        self.window.statusBar().addWidget(self.panel)
        writable = not library.read_only_reason
        for made in (self.add_folder_action, self.import_files_action):
            made.setEnabled(writable)
        if writable:
            self.watch = library.watch_folders(self.watch_interval, self.folders_changed.emit)

    def ask_for_files(self) -> None:
        if self.panel is None:
            return
        dialog = QFileDialog(self.window, tr("Import images into the library"))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilter(tr("Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff)"))
        dialog.filesSelected.connect(lambda chosen: self.panel.start([Path(p) for p in chosen], copy=True))
        dialog.open()

    async def shutdown(self) -> None:
        """Stops the watcher and a running import (each joins its thread) before the library closes."""
        if self.watch is not None:
            watch, self.watch = self.watch, None
            await asyncio.to_thread(watch.stop)
        if self.panel is not None:
            await asyncio.to_thread(self.panel.stop, 10.0)
