"""Refine in the window: the Refine action (R on the gallery and the viewer, the viewer's button, the Image menu),
refine mode's estimate, sending a refine through the studio like any job, and the viewer's thread strip.

Everything that reads the library or files runs off the GUI thread: the refined generation, the conversation
(conversation.prepare reads the image and its kept turns), the thread's path and branches, the thumbnails."""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from services import conversation, pricing
from services.errors import AtelierError, InputError
from services.jobs import Job
from services.library import GalleryRow, HistoryEntry, Library
from services.status import Status
from services.types import SavedImage
from ui.browser import Browser
from ui.common import OneAtATime, TaskSlots, tr
from ui.drafts import preview_file
from ui.generate_panel import GeneratePanel
from ui.refine_widgets import BAR_EDGE, TURN_EDGE, RefineCost, RefineTarget, ThreadStrip, Turn
from ui.studio import Studio

R = GalleryRow


class RefineControls(QObject):
    message = Signal(str, int)  # a status-bar sentence and how long to show it (ms)
    note = Signal(str)  # something the user must read (a refine that starts a new conversation): the banner
    error = Signal(str)

    def __init__(self, studio: Studio, browser: Browser, panel: GeneratePanel, window: QWidget):
        super().__init__(window)
        self.studio, self.browser, self.panel = studio, browser, panel
        self.tasks = TaskSlots(self.error.emit)
        self.details = None
        self.strip = ThreadStrip(window)
        self._read_turns = OneAtATime()  # a thread's turns and previews: the selection's last image, not each one
        self.strip.opened.connect(lambda turn: self.open_turn(turn))
        self.strip.branched.connect(lambda turn: self.start(turn.generation_id, turn.image_index))
        self.pending: dict[int, str] = {}  # refine job id -> the generation it refines, until its first image
        self.last_job: Job | None = None
        self.action = QAction(tr("Refine…"), window)
        self.action.setShortcut(QKeySequence("R"))
        self.action.setToolTip(tr("Refine the selected image: say what to change (R)"))
        self.action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.action.triggered.connect(self.refine_current)
        browser.gallery.addAction(self.action)  # a shortcut there and in the viewer, never while typing a prompt
        browser.currentChanged.connect(self._current_changed)
        panel.refineRequested.connect(self.submit)
        studio.imageSaved.connect(self._image_saved)
        studio.jobFinished.connect(lambda job: self.pending.pop(job.id, None))  # a refine that made no image
        self._current_changed(browser.current_row())

    @property
    def library(self) -> Library | None:
        return self.studio.library

    def attach_details(self, details) -> None:
        """The viewer's Refine button and shortcut, and the thread strip under its picture."""
        self.details = details
        details.viewer.addAction(self.action)
        details.viewer.refineRequested.connect(self.refine_current)
        details.viewer.set_footer(self.strip)
        details.entryLoaded.connect(self.show_thread)

    def _current_changed(self, row) -> None:
        self.action.setEnabled(bool(row and row[R.IMAGE_ID] is not None))

    # --- entering refine mode -----------------------------------------------------------------------------------

    def refine_current(self) -> asyncio.Task | None:
        row = self.browser.current_row()
        if self.details is not None and self.details.row is not None:
            row = self.details.row  # what the viewer shows (a turn opened from the strip may not be in the gallery)
        if row is None or row[R.IMAGE_ID] is None or self.library is None:
            return None
        return self.tasks.run("enter", self._enter(row[R.GENERATION_ID], image_id=row[R.IMAGE_ID]))

    def start(self, generation_id: str, image_index: int) -> asyncio.Task | None:
        """Refine mode on image `image_index` of a generation (a thread's turn: "Branch from here")."""
        if self.library is None:
            return None
        return self.tasks.run("enter", self._enter(generation_id, image_index=image_index))

    async def _enter(self, generation_id: str, image_id: int | None = None, image_index: int = 0) -> None:
        library = self.library
        entry = await asyncio.to_thread(library.generation, generation_id)
        if entry is None or not entry.images:
            self.error.emit(tr("This image is no longer in the library."))
            return
        image = next((i for i in entry.images if i.image_id == image_id), None) if image_id is not None else None
        image = image or next((i for i in entry.images if i.index == image_index), entry.images[0])
        target = RefineTarget(generation_id, image.index, len(entry.images), entry.prompt, image.path)
        self.panel.enter_refine(target, entry.params)
        preview = await asyncio.to_thread(preview_file, image.path, BAR_EDGE)
        if self.panel.refining == target:
            self.panel.refine_bar.set_preview(preview)
        endpoint_label = self.studio.endpoint.label
        try:
            prepared = await asyncio.to_thread(
                conversation.prepare, library, generation_id, "", endpoint_label=endpoint_label, image_index=image.index
            )
            model = self.studio.catalog.resolve(prepared.request.model, prepared.request.protocol)
        except AtelierError as exc:
            if self.panel.refining == target:
                self.panel.refine_bar.set_detail(str(exc))
            return
        if self.panel.refining != target:
            return  # left, or moved on to another image meanwhile
        estimate = conversation.estimate(prepared.request, model)
        base = len(prepared.request.references)
        earlier = estimate["input_images"] - base
        price_note = ""
        if prepared.note:
            detail = prepared.note
        else:
            turns = sum(1 for t in prepared.request.conversation if t.get("role") == "user")
            detail = tr("Turn {0} of its conversation: {1} earlier image(s), ~{2:,} tokens, go again.")
            detail = detail.format(turns + 1, earlier, estimate["input_tokens"])
            price = pricing.price_for(prepared.request.model)
            if earlier and price is not None and price.per_token and price.input is None:
                price_note = tr("Their input price is not listed: the estimate counts the new image only.")
        self.panel.refine_bar.detail.setToolTip(price_note)
        self.panel.set_refine_cost(RefineCost(earlier, base, prepared.request.model), detail)

    # --- sending ------------------------------------------------------------------------------------------------

    def submit(self, prompt: str) -> asyncio.Task | None:
        target = self.panel.refining
        if target is None or self.library is None:
            return None
        if not prompt.strip():
            self.panel.show_input_error(tr("Say what to change in the image, then press Refine."))
            return None
        return self.tasks.run("submit", self._submit(target, prompt))

    async def _submit(self, target: RefineTarget, prompt: str) -> Job | None:
        panel = self.panel
        info = panel.model_selector.current()
        chosen = info.id if info is not None and info.family == "gemini" else None
        known = panel.refine_cost.model if panel.refine_cost else None
        try:
            prepared = await asyncio.to_thread(
                conversation.prepare,
                self.library,
                target.generation_id,
                prompt,
                endpoint_label=self.studio.endpoint.label,
                image_index=target.image_index,
                references=tuple(panel.references.references),
                model=chosen if chosen != known else None,
                aspect_ratio=panel.aspect.currentData(),
                size=panel.size.currentData() if info is not None and info.sizes else None,
            )
            job = self.studio.submit(prepared.request)
        except (InputError, AtelierError) as exc:
            if panel.refining == target:
                panel.show_input_error(str(exc))
            else:
                self.error.emit(str(exc))
            return None
        self.last_job = job
        self.pending[job.id] = target.generation_id
        panel.prompt.remember(prompt)
        if panel.refining == target:
            panel.leave_refine()
        if prepared.note:
            self.note.emit(prepared.note)
        else:
            self.message.emit(tr("Refining: the conversation goes with the new instruction."), 5000)
        return job

    def _image_saved(self, job: Job, image: SavedImage) -> None:
        """A refine's result is selected when it arrives, if its parent is still the image in front of the user."""
        parent = self.pending.pop(job.id, None)
        shown = self.details.row if self.details is not None else self.browser.current_row()
        if parent is not None and shown is not None and shown[R.GENERATION_ID] == parent:
            self.tasks.run(None, self._open_image(image.image_id))  # unless the user went on to another image

    # --- the thread strip ---------------------------------------------------------------------------------------

    def show_thread(self, entry: HistoryEntry | None) -> asyncio.Task | None:
        row = self.details.row if self.details is not None else None
        if entry is None or row is None or self.library is None:
            self.tasks.run("thread", asyncio.sleep(0))  # cancels a thread still loading for the previous image
            self.strip.clear_turns()
            return None
        # A failed refine (no image) shows its thread too: the turns that led to it, to branch from one.
        return self.tasks.run("thread", self._load_thread(entry.generation_id, row[R.IMAGE_ID]))

    async def _load_thread(self, generation_id: str, image_id: int | None) -> None:
        turns, later = await self._read_turns(_thread_turns, self.library, generation_id, image_id)
        row = self.details.row if self.details is not None else None
        if row is None or (row[R.GENERATION_ID], row[R.IMAGE_ID]) != (generation_id, image_id):
            return
        if len(turns) < 2 and not later:
            self.strip.clear_turns()
        else:
            self.strip.set_turns(turns, generation_id, later)

    def open_turn(self, turn: Turn) -> asyncio.Task | None:
        if turn.image_id is None:
            self.message.emit(tr("This turn has no image (it failed); branch from an earlier turn."), 5000)
            return None
        return self.tasks.run("open", self._open_image(turn.image_id))

    async def _open_image(self, image_id: int) -> None:
        """Selects the image in the gallery; one the gallery does not list (filtered out) is shown in the viewer."""
        model = self.browser.gallery_model
        # The browser has no select-by-key method yet (another part owns it): its model and view are used directly.
        position = model.row_of(image_id) if model is not None else None
        if position is not None:
            self.browser.gallery.setCurrentIndex(model.index(position, 0))
            self.browser.gallery.scrollTo(model.index(position, 0))
            return
        rows = await asyncio.to_thread(self.library.gallery_rows, [image_id])
        if rows and self.details is not None:
            self.details.show_row(rows[0])


def _thread_turns(library: Library, generation_id: str, image_id: int | None) -> tuple[list[Turn], int]:
    """The turns from the root to `generation_id`, with their thumbnails, and how many refines were made from it.
    Blocking (SQL and decoding): a worker."""
    path = library.thread(generation_id)
    if not path:
        return [], 0
    counts = library.child_counts([e.generation_id for e in path])
    turns = []
    for n, entry in enumerate(path):
        if n + 1 < len(path):
            lineage = path[n + 1].params.get("lineage") or {}
            wanted = lineage.get("parent_image_index") if isinstance(lineage, dict) else 0
            image = next((i for i in entry.images if i.index == wanted), None)
        else:
            image = next((i for i in entry.images if i.image_id == image_id), None)
        image = image or (entry.images[0] if entry.images else None)
        preview = preview_file(image.path, TURN_EDGE) if image is not None and Path(image.path).is_file() else None
        turns.append(
            Turn(
                generation_id=entry.generation_id,
                image_index=image.index if image is not None else 0,
                image_id=image.image_id if image is not None else None,
                prompt=entry.prompt,
                text=entry.text or "",
                failed=entry.status not in (Status.OK,) and not entry.images,
                branches=counts.get(entry.generation_id, 0),
                preview=preview,
            )
        )
    return turns, counts.get(generation_id, 0)
