"""Bringing other tools' images in from the window: "Add folder…" / "Import…" with a progress bar and Cancel, and
reading a dropped image's prompt. Self-contained: the main window creates an ImportPanel, puts it where it likes
(a status-bar corner), calls ask_and_import() from its actions and listens to `images_landed` / `finished`.

The import runs in a worker thread (Library.import_paths: reading, hashing and SQL never touch the GUI thread); the
worker's signals cross to the GUI thread queued. The file dialog is opened with open(), never exec(), so it is safe
inside qasync coroutines.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from services import interop, metadata

log = logging.getLogger(__name__)

MAX_DROPPED_BYTES = 256 * 1024 * 1024


class ImportWorker(QObject):
    """One import in a worker thread. Signals arrive on the thread that owns this object (the GUI thread)."""

    progressed = Signal(int, int)  # done, total
    images_landed = Signal(object)  # list[int]: image ids of a committed batch
    finished = Signal(object)  # the report dict (report["cancelled"] says whether it was cancelled)
    failed = Signal(str)  # one sentence

    def __init__(self, library, paths: list[Path], copy: bool = False, parent: QObject | None = None, batch_size=500):
        super().__init__(parent)
        self.library, self.paths, self.copy, self.batch_size = library, list(paths), copy, batch_size
        self.cancel_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="atelier-import", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            report = self.library.import_paths(
                self.paths,
                copy=self.copy,
                progress=self.progressed.emit,
                cancel=self.cancel_event,
                on_batch=self.images_landed.emit,
                batch_size=self.batch_size,
            )
        except Exception as exc:  # noqa: BLE001 - a full disk or a closed library: one sentence, the log has the rest
            log.exception("import failed")
            self.failed.emit(f"The import stopped: {exc}")
            return
        self.finished.emit(report)


class ImportPanel(QWidget):
    """A progress bar, a line of text and Cancel, shown while an import runs; hidden otherwise."""

    images_landed = Signal(object)  # list[int]: show these images in the gallery now
    finished = Signal(object)  # the report

    def __init__(self, library, parent: QWidget | None = None, batch_size: int = 500):
        super().__init__(parent)
        self.library, self.batch_size = library, batch_size
        self.worker: ImportWorker | None = None
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.label, self.bar, self.cancel_button):
            layout.addWidget(widget)
        self.hide()

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, paths: list[Path], copy: bool = False) -> bool:
        """Starts an import; False (and nothing started) while another one runs."""
        if self.worker is not None:
            return False
        self.worker = ImportWorker(self.library, paths, copy, self, self.batch_size)
        self.worker.progressed.connect(self._progressed)
        self.worker.images_landed.connect(self.images_landed)
        self.worker.finished.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.label.setText("Copying images…" if copy else "Adding images…")
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.show()
        self.worker.start()
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText("Stopping…")

    def stop(self, timeout: float = 10.0) -> bool:
        """For the window's close: cancels a running import and waits (up to timeout) for its worker to end, so it
        never writes to a closed library. What was committed stays; the next rescan finishes an added folder."""
        worker = self.worker
        if worker is None:
            return True
        worker.cancel()
        return worker.join(timeout)

    def ask_and_import(self, copy: bool = False) -> None:
        """The "Add folder…" (copy=False) or "Import…" (copy=True) action: a folder dialog opened with open()."""
        dialog = QFileDialog(self.window(), "Import a folder of images" if copy else "Add a folder to the library")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.fileSelected.connect(lambda chosen: self.start([Path(chosen)], copy))
        dialog.open()

    def _progressed(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done)
        self.label.setText(f"{done:,} of {total:,} images")

    def _finished(self, report: dict) -> None:
        self.worker = None
        self.label.setText(summary(report))
        self.cancel_button.setEnabled(False)
        self.finished.emit(report)

    def _failed(self, sentence: str) -> None:
        self.worker = None
        self.label.setText(sentence)
        self.cancel_button.setEnabled(False)


def summary(report: dict) -> str:
    words = [f"{report['added']:,} image{'s' if report['added'] != 1 else ''} added"]
    if report.get("cancelled"):
        words[0] += " before you cancelled"
    if report["failed"]:
        words.append(f"{len(report['failed']):,} could not be read")
    return "; ".join(words) + "."


@dataclass(frozen=True)
class DroppedImage:
    path: str
    info: interop.ImageInfo | None  # None when the file could not be read
    problem: str | None = None  # the sentence when it could not

    @property
    def prompt(self) -> str:
        return self.info.prompt if self.info else ""


def read_dropped(path: str | Path) -> DroppedImage:
    """What a dropped image says about how it was made (blocking: reads the file)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_DROPPED_BYTES:
            return DroppedImage(str(path), None, f"{path.name} is too large to be an image.")
        data = path.read_bytes()
    except OSError as exc:
        return DroppedImage(str(path), None, f"{path.name} cannot be read ({exc.strerror or exc}).")
    return DroppedImage(str(path), metadata.read_info(data, path.name, path))


async def dropped_image(path: str | Path) -> DroppedImage:
    """read_dropped off the GUI thread, for the editor's "use its prompt" / "use as reference" offer."""
    return await asyncio.to_thread(read_dropped, path)
