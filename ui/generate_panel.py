"""The generate column: prompt, model, the parameters the model takes, references, cost; submits to the studio.

In refine mode (enter_refine) a bar above the prompt shows the image being refined, the button reads "Refine" and
counts the earlier images sent again, and pressing it asks the refine controller (ui/refine.py) to send the
instruction (refineRequested) instead of generating; Esc or the bar's ✕ leaves it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QKeySequence, QShortcut
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from services import pricing
from services.catalog import Catalog, ModelInfo
from services.errors import InputError
from services.generation import load_reference
from services.jobs import Job
from services.library import HistoryEntry
from services.settings import Settings
from services.types import GenerationRequest
from ui.common import TaskSlots, money, tr
from ui.editor import ModelSelector, PromptEditor, ReferenceStrip, labelled
from ui.refine_widgets import RefineBar, RefineCost, RefineTarget, refine_button_text
from ui.studio import ConnectionState, Studio

PERSON_GENERATION = [("allow_adult", "Adults only"), ("dont_allow", "No people"), ("allow_all", "Adults and children")]
CHOICES = ("aspect_ratio", "size", "person_generation")


class GeneratePanel(QWidget):
    refineRequested = Signal(str)  # the instruction, in refine mode
    refineLeft = Signal()

    def __init__(self, studio: Studio, settings: Settings, pasted_folder: Path, show_error, parent=None):
        super().__init__(parent)
        self.studio = studio
        self.settings = settings
        self.pasted_folder = pasted_folder
        self.show_error = show_error
        self.tasks = TaskSlots(show_error)
        self.prompt = PromptEditor(self)
        self.prompt.history = list(settings.get("prompt_history", []))
        self.prompt.submitted.connect(self.generate)
        self.prompt.imagePasted.connect(self.add_pasted_reference)
        self.prompt.filesDropped.connect(self.add_reference_files)
        self.model_selector = ModelSelector(self)
        self.model_selector.modelChanged.connect(self._model_changed)
        self.retired_note = QLabel(self)
        self.retired_note.setWordWrap(True)
        self.use_replacement = QPushButton(self)
        self.use_replacement.clicked.connect(self._use_replacement)
        self.count = QSpinBox(self)
        self.count.setAccessibleName(tr("Number of images"))
        self.aspect = QComboBox(self)
        self.aspect.setAccessibleName(tr("Aspect ratio"))
        self.size = QComboBox(self)
        self.size.setAccessibleName(tr("Image size"))
        self.person = QComboBox(self)
        for value, label in PERSON_GENERATION:
            self.person.addItem(tr(label), value)
        self.seed = QSpinBox(self)
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText(tr("random"))
        self.seed.setValue(-1)
        self.seed.setAccessibleName(tr("Seed"))
        self.references = ReferenceStrip(self)
        self.references.addRequested.connect(self._choose_references)
        self.references.changed.connect(self._update_cost)
        self.generate_button = QPushButton(tr("Generate"), self)
        self.generate_button.setDefault(True)
        self.generate_button.setMinimumHeight(36)
        self.generate_button.setToolTip(tr("Generate (Ctrl+Enter)"))
        self.generate_button.clicked.connect(self.generate)
        self.input_error = QLabel(self)
        self.input_error.setWordWrap(True)
        self.input_error.setStyleSheet("color: #c83c3c")
        self.input_error.setTextFormat(Qt.TextFormat.PlainText)
        self.input_error.hide()
        self.count.valueChanged.connect(self._update_cost)
        for combo in (self.aspect, self.size, self.person):
            combo.currentIndexChanged.connect(self._update_cost)

        self.refining: RefineTarget | None = None
        self.refine_cost: RefineCost | None = None
        self._draft_before_refine = ""
        self.refine_bar = RefineBar(self)
        self.refine_bar.cancelled.connect(self.leave_refine)
        self.leave_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.window() or self)
        self.leave_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self.leave_shortcut.setEnabled(False)
        self.leave_shortcut.activated.connect(self.leave_refine)

        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.refine_bar)
        column.addWidget(QLabel(tr("<b>Prompt</b>"), self))
        column.addWidget(self.prompt, 3)
        column.addWidget(QLabel(tr("<b>Model</b>"), self))
        column.addWidget(self.model_selector)
        column.addWidget(self.retired_note)
        column.addWidget(self.use_replacement)
        self.count_row = labelled(tr("Images"), self.count)
        self.aspect_row = labelled(tr("Aspect ratio"), self.aspect)
        self.size_row = labelled(tr("Size"), self.size)
        self.person_row = labelled(tr("People"), self.person)
        self.seed_row = labelled(tr("Seed"), self.seed)
        for row in (self.count_row, self.aspect_row, self.size_row, self.person_row, self.seed_row):
            column.addWidget(row)
        self.references_label = QLabel(tr("Reference images"), self)
        column.addWidget(self.references_label)
        column.addWidget(self.references)
        column.addWidget(self.generate_button)
        column.addWidget(self.input_error)
        studio.catalogChanged.connect(self.set_catalog)
        studio.connectionChanged.connect(self._connection_changed)
        self.set_catalog(studio.catalog)
        self._restore()

    # --- models and cost --------------------------------------------------------------------------------------

    def set_catalog(self, catalog: Catalog) -> None:
        keep = self.model_selector.current_id() or self.settings.get("model")
        self.model_selector.set_models(catalog.models(), self.studio.endpoint.name, keep=keep)

    def _connection_changed(self, _state: ConnectionState) -> None:
        self.set_catalog(self.studio.catalog)
        self._update_cost()

    def _model_changed(self, info: ModelInfo) -> None:
        def refill(combo: QComboBox, values, current):
            combo.blockSignals(True)
            combo.clear()
            for value in values:
                combo.addItem(value, value)
            index = combo.findData(current)
            combo.setCurrentIndex(index if index >= 0 else 0)
            combo.blockSignals(False)

        self.count.setRange(1, info.max_count)
        refill(self.aspect, info.aspect_ratios, self.aspect.currentData() or self.settings.get("aspect_ratio"))
        refill(self.size, info.sizes, self.size.currentData() or info.default_size or self.settings.get("size"))
        self.size_row.setVisible(bool(info.sizes))
        self.person_row.setVisible(info.takes_person_generation)
        self.seed_row.setVisible(info.takes_seed)
        takes_refs = info.max_reference_images > 0
        self.references.setVisible(takes_refs)
        self.references_label.setVisible(takes_refs)
        if takes_refs:
            self.references_label.setText(tr("Reference images (up to {0})").format(info.max_reference_images))
        note = info.retirement_note()
        if not info.available_on(self.studio.endpoint.name) and (note or info.served is False):
            self.retired_note.setText("⚠ " + (note or tr("This endpoint does not serve {0}.").format(info.id)))
            self.retired_note.show()
            self.use_replacement.setVisible(bool(info.replacement))
            self.use_replacement.setText(tr("Use {0}").format(info.replacement) if info.replacement else "")
        else:
            self.retired_note.hide()
            self.use_replacement.hide()
        self._update_cost()

    def _use_replacement(self) -> None:
        info = self.model_selector.current()
        if info and info.replacement:
            self.model_selector.select(info.replacement)

    def _update_cost(self, *_) -> None:
        info = self.model_selector.current()
        if info is None:
            return
        if self.refining is not None:
            text = self._refine_cost_text(info)
        elif self.studio.endpoint.name == "demo":
            text = tr("Generate · free (demo)")
        else:
            size = self.size.currentData() if info.sizes else None
            references = len(self.references.references) if info.max_reference_images else 0
            cost = pricing.estimate_job(info.id, self.count.value(), size, references)
            text = (
                tr("Generate · about {0}").format(money(cost)) if cost is not None else tr("Generate · price unknown")
            )
        self.generate_button.setText(text)

    def _refine_cost_text(self, info: ModelInfo) -> str:
        size = self.size.currentData() if info.sizes else None
        references = len(self.references.references)
        return refine_button_text(self.refine_cost, info.id, self.studio.endpoint.name == "demo", size, references)

    # --- refine mode ------------------------------------------------------------------------------------------

    def enter_refine(self, target: RefineTarget, params: dict | None = None) -> None:
        """Refine mode on `target`; `params`: the parent's, so the parameters shown are those sent."""
        if self.refining is None:
            self._draft_before_refine = self.prompt.toPlainText()
        self.refining, self.refine_cost = target, None
        self.refine_bar.show_target(target)
        self.leave_shortcut.setEnabled(True)
        self.count_row.setEnabled(False)
        self._choose(params or {})
        self.prompt.clear()
        self.prompt.setPlaceholderText(tr("Say what to change…  (Ctrl+Enter to refine, Esc to stop refining)"))
        self.generate_button.setToolTip(tr("Refine (Ctrl+Enter)"))
        self.generate_button.setMinimumHeight(48)  # two lines: the estimate, the earlier images
        self.input_error.hide()
        self._update_cost()
        self.prompt.setFocus()

    def set_refine_cost(self, cost: RefineCost, detail: str) -> None:
        """The refine's estimate is known (computed off the GUI thread): the conversation's model, the cost."""
        if self.refining is None:
            return
        self.refine_cost = cost
        if cost.model != self.model_selector.current_id():
            self.model_selector.select(cost.model)
        self.refine_bar.set_detail(detail)
        self._update_cost()

    def leave_refine(self, restore_draft: bool = True) -> None:
        if self.refining is None:
            return
        self.refining, self.refine_cost = None, None
        self.refine_bar.hide()
        self.leave_shortcut.setEnabled(False)
        self.count_row.setEnabled(True)
        self.prompt.setPlaceholderText(self.prompt.normal_placeholder)
        if restore_draft:
            self.prompt.setPlainText(self._draft_before_refine)
        self.generate_button.setToolTip(tr("Generate (Ctrl+Enter)"))
        self.generate_button.setMinimumHeight(36)
        self.input_error.hide()
        self._update_cost()
        self.refineLeft.emit()

    def show_input_error(self, text: str) -> None:
        self.input_error.setText(text)
        self.input_error.setVisible(bool(text))

    # --- generating -------------------------------------------------------------------------------------------

    def current_request(self) -> GenerationRequest:
        info = self.model_selector.current()
        if info is None:
            raise InputError(tr("Choose a model first."))
        return GenerationRequest(
            prompt=self.prompt.toPlainText(),
            model=info.id,
            count=self.count.value(),
            aspect_ratio=self.aspect.currentData(),
            size=self.size.currentData() if info.sizes else None,
            references=tuple(self.references.references) if info.max_reference_images else (),
            seed=self.seed.value() if info.takes_seed and self.seed.value() >= 0 else None,
            person_generation=self.person.currentData() if info.takes_person_generation else None,
            protocol=None if info.known else info.protocol,
        )

    def generate(self) -> Job | None:
        if self.refining is not None:
            self.refineRequested.emit(self.prompt.toPlainText())
            return None
        try:
            job = self.studio.submit(self.current_request())
        except InputError as exc:
            self.input_error.setText(str(exc))
            self.input_error.show()
            return None
        self.input_error.hide()
        self.prompt.remember(job.request.prompt)
        self.settings.update(
            model=job.request.model,
            count=job.request.count,
            aspect_ratio=job.request.aspect_ratio,
            size=job.request.size or self.settings.get("size"),
            prompt_history=self.prompt.history[-200:],
        )
        self.tasks.run(None, asyncio.to_thread(self.settings.save))  # Settings.save is safe from a worker
        return job

    def fill_from(self, entry: HistoryEntry) -> None:
        """Reuse settings: the prompt, model, parameters and references of a past generation, ready to edit."""
        params = entry.params or {}
        self.prompt.setPlainText(entry.prompt)
        self.model_selector.select(entry.model)
        if params.get("count"):
            self.count.setValue(int(params["count"]))
        self._choose(params)
        self.seed.setValue(int(params["seed"]) if params.get("seed") is not None else -1)
        self.references.clear()
        paths = [r.get("path", "") for r in params.get("references") or []]
        if paths:
            self.add_reference_files(paths, missing_ok=True)
        self.prompt.setFocus()

    def _choose(self, values) -> None:
        for combo, key in zip((self.aspect, self.size, self.person), CHOICES, strict=True):
            index = combo.findData(values.get(key))
            if index >= 0:
                combo.setCurrentIndex(index)

    def takes_references(self) -> bool:
        info = self.model_selector.current()
        return info is not None and info.max_reference_images > 0

    def select_model(self, model_id: str) -> None:
        self.model_selector.select(model_id)

    # --- references -------------------------------------------------------------------------------------------

    def _choose_references(self) -> None:
        dialog = QFileDialog(self, tr("Add reference images"))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilter(tr("Images (*.png *.jpg *.jpeg *.webp *.heic *.heif)"))
        dialog.filesSelected.connect(self.add_reference_files)
        dialog.open()

    def add_reference_files(self, paths: list[str], missing_ok: bool = False) -> asyncio.Task:
        return self.tasks.run(None, self._add_references(paths, missing_ok))

    async def _add_references(self, paths: list[str], missing_ok: bool = False) -> None:
        info = self.model_selector.current()
        limit = info.max_reference_images if info else 0
        for path in paths:
            if limit and len(self.references.references) >= limit:
                self.show_error(tr("{0} takes at most {1} reference images.").format(info.id, limit))
                return
            if missing_ok and not await asyncio.to_thread(Path(path).is_file):
                continue
            try:
                reference = await asyncio.to_thread(load_reference, path)
            except InputError as exc:
                self.show_error(str(exc))
                continue
            preview = await asyncio.to_thread(_preview, path)
            self.references.add(reference, preview)

    def add_pasted_reference(self, image: QImage) -> asyncio.Task:
        path = self.pasted_folder / f"pasted-{int(time.time() * 1000)}.png"

        async def save_and_add():
            def save() -> bool:
                path.parent.mkdir(parents=True, exist_ok=True)
                return image.save(str(path), "PNG")

            if await asyncio.to_thread(save):
                await self._add_references([str(path)])

        return self.tasks.run(None, save_and_add())

    # --- state ------------------------------------------------------------------------------------------------

    def _restore(self) -> None:
        self.count.setValue(int(self.settings.get("count", 1) or 1))
        self._choose({key: self.settings.get(key) for key in CHOICES})

    def save_state(self) -> None:
        info = self.model_selector.current()
        if info:
            self.settings.update(
                model=info.id,
                count=self.count.value(),
                aspect_ratio=self.aspect.currentData(),
                person_generation=self.person.currentData(),
            )
            if self.size.currentData():
                self.settings.set("size", self.size.currentData())
        self.settings.set("prompt_history", self.prompt.history[-200:])


def _preview(path: str) -> QImage | None:
    reader = QImageReader(path)
    size = reader.size()
    reader.setScaledSize(
        QSize(56, 56) if not size.isValid() else size.scaled(QSize(112, 112), Qt.AspectRatioMode.KeepAspectRatio)
    )
    image = reader.read()
    return None if image.isNull() else image
