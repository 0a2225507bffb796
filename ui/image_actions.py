"""Actions on the selection, and rebuilding the index behind it: copy prompt or image, reuse settings, use as
reference, favourite, show in folder, export, delete and undo, retry. They work through the browser's and the
generate panel's methods, never their widgets; the library is read and written off the GUI thread."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QFileDialog, QPushButton, QWidget

from services.catalog import DEFAULT_MODEL
from services.errors import AtelierError
from services.library import GalleryRow, Library
from ui.browser import Browser
from ui.common import TaskSlots, tr
from ui.generate_panel import GeneratePanel
from ui.studio import Studio
from ui.viewer import load_full_image

R = GalleryRow


class ImageActions(QObject):
    message = Signal(str, int)  # a status-bar sentence and how long to show it (ms)
    error = Signal(str)
    undoAvailable = Signal(bool)

    def __init__(self, studio: Studio, browser: Browser, panel: GeneratePanel, window: QWidget):
        super().__init__(window)
        self.studio = studio
        self.browser = browser
        self.panel = panel
        self.window = window
        self.tasks = TaskSlots(self.error.emit)
        # What Undo can take back, newest last: each step makes the coroutine that undoes one delete (of images: by
        # the library's keys for their files, which survive a rebuild where ids do not; or of a board).
        self.undo_stack: list[Callable[[], Awaitable[None]]] = []

        def action(text: str, slot, shortcut=None) -> QAction:
            made = QAction(tr(text), window)
            made.triggered.connect(slot)
            if shortcut is not None:
                made.setShortcut(QKeySequence(shortcut))
            return made

        self.actions = {
            "favourite": action("Favourite", self.toggle_favourite, "F"),
            "copy_prompt": action("Copy prompt", self.copy_prompt, "Ctrl+Shift+C"),
            "reuse": action("Reuse settings", self.reuse_settings, "Ctrl+R"),
            "reference": action("Use as reference", self.use_as_reference, "Ctrl+Shift+R"),
            "copy_image": action("Copy image", self.copy_image, QKeySequence.StandardKey.Copy),
            "open_folder": action("Show in folder", self.open_containing_folder),
            "export": action("Export…", self.export_selected, "Ctrl+E"),
            "retry": action("Retry this attempt", self.retry_selected),
            "delete": action("Delete", self.delete_selected, QKeySequence.StandardKey.Delete),
        }
        for made in self.actions.values():  # on the gallery: a shortcut there does not fire in the prompt
            browser.gallery.addAction(made)
            made.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.undo = action("&Undo delete", self.undo_delete, QKeySequence.StandardKey.Undo)
        self.undo.setEnabled(False)
        browser.currentChanged.connect(lambda _row: self.update_enabled())
        self.update_enabled()

    @property
    def library(self) -> Library | None:
        return self.studio.library

    def update_enabled(self) -> None:
        row = self.browser.current_row()
        has_image = bool(row and row[R.IMAGE_ID] is not None)
        for name, made in self.actions.items():
            if name in ("copy_prompt", "reuse", "delete"):
                made.setEnabled(row is not None)
            elif name == "retry":
                made.setEnabled(bool(row and row[R.IMAGE_ID] is None))
            else:
                made.setEnabled(has_image)
        if row is not None:
            self.actions["favourite"].setText(tr("Unfavourite") if row[R.FAVOURITE] else tr("Favourite"))

    async def _entry(self, row: tuple):
        return await asyncio.to_thread(self.library.generation, row[R.GENERATION_ID])

    def copy_prompt(self) -> None:
        row = self.browser.current_row()
        if row is None:
            return

        async def copy():
            entry = await self._entry(row)
            if entry is not None:
                QGuiApplication.clipboard().setText(entry.prompt)
                self.message.emit(tr("Prompt copied."), 3000)

        self.tasks.run(None, copy())

    def reuse_settings(self) -> None:
        row = self.browser.current_row()
        if row is None:
            return

        async def reuse():
            entry = await self._entry(row)
            if entry is not None:
                self.panel.fill_from(entry)
                self.message.emit(tr("Settings filled in from the selected image. Press Generate when ready."), 5000)

        self.tasks.run(None, reuse())

    def use_as_reference(self) -> None:
        paths = [str(self.library.root / r[R.PATH]) for r in self.browser.selected_rows() if r[R.PATH]]
        if not self.panel.takes_references():
            self.panel.select_model(DEFAULT_MODEL)
            self.message.emit(tr("Switched to {0}, which takes reference images.").format(DEFAULT_MODEL), 5000)
        self.panel.add_reference_files(paths)

    def undo_button(self) -> QPushButton:
        """A status-bar button that undoes the last delete, shown while there is one."""
        button = QPushButton(tr("Undo delete"), self.window)
        button.clicked.connect(self.undo_delete)
        button.hide()
        self.undoAvailable.connect(button.setVisible)
        return button

    def toggle_favourite(self) -> None:
        rows = [r for r in self.browser.selected_rows() if r[R.IMAGE_ID] is not None]
        if not rows:
            return
        value = not all(r[R.FAVOURITE] for r in rows)
        ids = [r[R.IMAGE_ID] for r in rows]

        async def apply():
            await asyncio.to_thread(self.library.set_favourite, ids, value)
            self.browser.favourites_changed(ids, value)  # rows a reload took away meanwhile are skipped
            self.update_enabled()

        self.tasks.run(None, apply())

    def copy_image(self) -> None:
        row = self.browser.current_row()
        if not row or not row[R.PATH]:
            return
        path = str(self.library.root / row[R.PATH])

        async def copy():
            image = await asyncio.to_thread(load_full_image, path)
            if image is not None:
                QGuiApplication.clipboard().setImage(image)
                self.message.emit(tr("Image copied."), 3000)

        self.tasks.run(None, copy())

    def open_containing_folder(self) -> None:
        row = self.browser.current_row()
        if row and row[R.PATH]:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str((self.library.root / row[R.PATH]).parent)))

    def export_selected(self) -> None:
        paths = [self.library.root / r[R.PATH] for r in self.browser.selected_rows() if r[R.PATH]]
        if not paths:
            return
        dialog = QFileDialog(self.window, tr("Export images to…"))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(lambda folder: self.tasks.run(None, self._export(paths, Path(folder))))
        dialog.open()

    async def _export(self, paths: list[Path], folder: Path) -> None:
        def copy():
            for path in paths:
                shutil.copy2(path, folder / path.name)

        try:
            await asyncio.to_thread(copy)
        except OSError as exc:
            self.error.emit(tr("Export failed: {0}").format(exc.strerror or exc))
            return
        self.message.emit(tr("Exported {0} image(s) to {1}.").format(len(paths), folder), 5000)

    def delete_selected(self) -> None:
        rows = self.browser.selected_rows()
        if not rows:
            return
        images = [r for r in rows if r[R.IMAGE_ID] is not None]
        attempt_ids = [r[R.GENERATION_ID] for r in rows if r[R.IMAGE_ID] is None]
        version = self.browser.query_version
        self.browser.remove(rows)  # at once; the index follows off the thread

        async def delete():
            try:
                keys = await asyncio.to_thread(self.library.trash, [r[R.IMAGE_ID] for r in images])
                await asyncio.to_thread(self.library.delete_generations, attempt_ids)
            except Exception:
                self.browser.reload()  # show what the index holds
                raise
            if images:
                self.add_undo_step(lambda: self._restore(keys, version))
                self.message.emit(
                    tr("Deleted {0} image(s). They go to the system trash when Atelier closes.").format(len(images)),
                    8000,
                )

        self.tasks.run(None, delete())

    def add_undo(self, keys: list[str]) -> None:
        """Images another part sent to the trash (restore() keys): Undo brings them back like a Delete."""
        if keys:
            keys, version = list(keys), self.browser.query_version
            self.add_undo_step(lambda: self._restore(keys, version))

    def add_undo_step(self, step: Callable[[], Awaitable[None]]) -> None:
        """Another part's delete (a board): Undo (Ctrl+Z, the status bar's button) runs `step()` when it is the last."""
        self.undo_stack.append(step)
        self._undo_changed()

    def undo_delete(self) -> None:
        if not self.undo_stack:
            return
        step = self.undo_stack.pop()
        self._undo_changed()
        self.tasks.run(None, step())

    async def _restore(self, keys: list[str], version: int) -> None:
        rows = await asyncio.to_thread(self.library.restore, keys)
        self.browser.restore(rows, version)
        self.message.emit(tr("Restored {0} image(s).").format(len(rows)), 4000)

    def _undo_changed(self) -> None:
        self.undo.setEnabled(bool(self.undo_stack))
        self.undoAvailable.emit(bool(self.undo_stack))

    def retry_selected(self) -> None:
        """Sends the attempt's request again as it was (references included); the prompt editor is left alone."""
        row = self.browser.current_row()
        if row is None or row[R.IMAGE_ID] is not None:
            return
        job = self.studio.job_of(row[R.GENERATION_ID])

        async def retry():
            try:
                if job is not None:
                    self.studio.retry(job)
                else:
                    request = await asyncio.to_thread(self.library.request_of, row[R.GENERATION_ID])
                    self.studio.submit(request)
            except AtelierError as exc:
                self.error.emit(str(exc))
                return
            self.message.emit(tr("Sent again."), 3000)

        self.tasks.run("retry", retry())

    def rebuild_index(self) -> None:
        if self.library is None:
            return
        library = self.library
        self.message.emit(tr("Rebuilding the index from the image files…"), 0)

        async def rebuild():
            report = await asyncio.to_thread(library.rebuild)
            self.message.emit(
                tr("Index rebuilt: {0} images in {1} generations.").format(report["images"], report["generations"]),
                8000,
            )
            self.browser.reload()

        self.tasks.run("rebuild", rebuild())
