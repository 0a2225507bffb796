"""Bringing other tools' images in from the window: "Add folder…" / "Import…" with a progress bar and Cancel, and
an image dropped on the prompt editor (DropOffer: "Use its prompt" / "Use as reference"). Self-contained: the main
window creates an ImportPanel, puts it where it likes (a status-bar corner), calls ask_and_import() from its actions
and listens to `images_landed` / `finished`; and it creates one DropOffer for its generate panel.

The import runs in a child process (services/library/import_process.py: reading, parsing and SQL never touch the
GUI thread nor its GIL), watched by a worker thread whose signals cross to the GUI thread queued. The file dialog is
opened with open(), never exec(), so it is safe inside qasync coroutines.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, Signal
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMenu, QProgressBar, QPushButton, QWidget

from services import imaging, interop, metadata
from services.library import HistoryEntry
from services.library.import_process import Prepared, import_in_process
from services.status import Status
from ui.common import TaskSlots, tr

log = logging.getLogger(__name__)

MAX_DROPPED_BYTES = 256 * 1024 * 1024


class ImportWorker(QObject):
    """One import in a child process, watched by a worker thread. Signals arrive on the thread that owns this object
    (the GUI thread)."""

    progressed = Signal(int, int)  # done, total
    images_landed = Signal(object)  # list[int]: image ids of a committed batch
    finished = Signal(object)  # the report dict (report["cancelled"] says whether it was cancelled)
    failed = Signal(str)  # one sentence

    def __init__(
        self, library, paths: list[Path], copy=False, parent: QObject | None = None, batch_size=None, prepared=None
    ):
        super().__init__(parent)
        self.library, self.paths, self.copy, self.batch_size = library, list(paths), copy, batch_size
        self.prepared: Prepared | None = prepared  # processes started while the folder was being chosen
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
            report = import_in_process(  # a child process: the import's GIL is not the GUI thread's
                self.library.root,
                self.paths,
                processes=self.prepared.take() if self.prepared else None,
                copy=self.copy,
                progress=self.progressed.emit,  # at most 10 a second (importing.PROGRESS_HZ)
                cancel=self.cancel_event,
                on_batch=self.images_landed.emit,
                batch_size=self.batch_size,  # None: the library's own
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

    def __init__(self, library, parent: QWidget | None = None, batch_size: int | None = None):
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

    def start(self, paths: list[Path], copy: bool = False, prepared: Prepared | None = None) -> bool:
        """Starts an import (in the `prepared` processes, if given); False (and nothing started) while another one
        runs."""
        if self.worker is not None:
            if prepared is not None:
                prepared.discard()
            return False
        self.worker = ImportWorker(self.library, paths, copy, self, self.batch_size, prepared)
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
        """The "Add folder…" (copy=False) or "Import…" (copy=True) action: a folder dialog opened with open(). The
        import's processes start while it is open: the ~0.5 s they take passes while the artist chooses."""
        dialog = QFileDialog(self.window(), "Import a folder of images" if copy else "Add a folder to the library")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        prepared = Prepared(self.library.root) if self.worker is None else None
        dialog.fileSelected.connect(lambda chosen: self.start([Path(chosen)], copy, prepared))
        if prepared is not None:
            dialog.rejected.connect(prepared.discard)
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
    problem: str | None = None  # the sentence when it could not, or when it is not an image
    is_image: bool = True

    @property
    def prompt(self) -> str:
        return self.info.prompt if self.info else ""


def read_dropped(path: str | Path) -> DroppedImage:
    """What a dropped image says about how it was made (blocking: reads the file)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_DROPPED_BYTES:
            return DroppedImage(str(path), None, f"{path.name} is too large to be an image.", False)
        data = path.read_bytes()
    except OSError as exc:
        return DroppedImage(str(path), None, f"{path.name} cannot be read ({exc.strerror or exc}).", False)
    info = metadata.read_info(data, path.name, path)
    if imaging.image_header(data) is None:
        return DroppedImage(str(path), info, f"{path.name} is not an image Atelier can read.", False)
    return DroppedImage(str(path), info)


async def dropped_image(path: str | Path) -> DroppedImage:
    """read_dropped off the GUI thread, for the editor's "use its prompt" / "use as reference" offer."""
    return await asyncio.to_thread(read_dropped, path)


class DropOffer(QObject):
    """One image file dropped on the prompt editor: its metadata read off the GUI thread, then a small menu at the
    drop point offers "Use its prompt" (when it has one) and "Use as reference". Several files at once are all
    taken as references, as before.

    It takes the editor's filesDropped over from the panel (which added every drop as a reference) and watches the
    editor's viewport for where the drop happened, so the panel and the editor need no change.
    """

    def __init__(self, panel, show_message, parent: QObject | None = None):
        super().__init__(parent)
        self.panel = panel  # a GeneratePanel: fill_from, add_reference_files, takes_references, model_selector
        self.show_message = show_message  # (sentence, kind) with kind "info" or "error"
        self.tasks = TaskSlots(show_message)
        self.menu: QMenu | None = None
        self._drop_at: QPoint | None = None
        panel.prompt.filesDropped.disconnect(panel.add_reference_files)
        panel.prompt.filesDropped.connect(self.offer)
        panel.prompt.viewport().installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Drop:
            self._drop_at = watched.mapToGlobal(event.position().toPoint())
        return False

    def offer(self, paths: list[str]):
        at, self._drop_at = self._drop_at or QCursor.pos(), None
        if len(paths) != 1:
            return self.panel.add_reference_files(paths)
        return self.tasks.run("drop", self._offer(paths[0], at))

    async def _offer(self, path: str, at: QPoint) -> None:
        dropped = await dropped_image(path)
        if not dropped.is_image:
            self.show_message(dropped.problem or tr("That file is not an image."), "error")
            return
        if self.menu is not None:
            self.menu.deleteLater()
        self.menu = QMenu(self.panel)
        if dropped.prompt.strip():
            self.menu.addAction(tr("Use its prompt")).triggered.connect(lambda: self.use_prompt(dropped))
        self.menu.addAction(tr("Use as reference")).triggered.connect(lambda: self.use_as_reference(dropped))
        self.menu.popup(at)

    def use_prompt(self, dropped: DroppedImage) -> None:
        """Like Reuse settings: Atelier's own image brings its model and settings; another tool's brings its prompt
        (its model and seed mean nothing to Google's models), and the references already chosen stay."""
        info = dropped.info or interop.ImageInfo()
        current = self.panel.model_selector.current_id() or ""
        request = (info.record or {}).get("request") or {}
        if info.record:
            model = str(info.record.get("model") or request.get("model") or current)
            keys = ("seed", "aspect_ratio", "size", "person_generation", "count", "references")
            params = {k: request[k] for k in keys if request.get(k) is not None}
            params["references"] = [r for r in params.get("references") or [] if isinstance(r, dict)]
        else:
            model = current
            params = {"references": [{"path": r.path} for r in self.panel.references.references if r.path]}
        self.panel.fill_from(
            HistoryEntry("", 0.0, info.prompt, model, Status.IMPORTED, None, "", params, None, None, 0, None)
        )
        name = Path(dropped.path).name
        if info.record or not info.model:
            self.show_message(tr("Prompt filled in from {0}.").format(name), "info")
        else:
            self.show_message(
                tr("Prompt filled in from {0}. It was made with {1} ({2}); the model stays {3}.").format(
                    name, tr(SOURCE_NAMES.get(info.source, info.source)), info.model, current
                ),
                "info",
            )

    def use_as_reference(self, dropped: DroppedImage):
        if not self.panel.takes_references():
            model = self.panel.model_selector.current_id() or tr("This model")
            self.show_message(
                tr("{0} takes no reference images: choose a model that does, then drop the image again.").format(model),
                "info",
            )
            return None
        return self.panel.add_reference_files([dropped.path])


SOURCE_NAMES = {"a1111": "Automatic1111 / Forge", "comfyui": "ComfyUI", "invokeai": "InvokeAI", "fooocus": "Fooocus",
                "atelier": "Atelier", "unknown": "Unknown (no metadata)"}  # fmt: skip
