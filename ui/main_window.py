"""The studio window: generate on the left, the gallery in the middle, the viewer and details on the right."""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import shutil
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from services import endpoints
from services.app import Services
from services.catalog import DEFAULT_MODEL, ModelInfo
from services.errors import InputError
from services.generation import GenerationService, load_reference
from services.jobs import Job, JobQueue
from services.library import GalleryRow, HistoryEntry, HistoryQuery, Library
from services.types import GenerationRequest
from ui.common import TaskSlots, money, tr, when
from ui.editor import ModelSelector, PromptEditor, ReferenceStrip, labelled
from ui.gallery import GalleryModel, GalleryView, key_of, load_gallery
from ui.jobs_panel import JobsPanel
from ui.settings_dialog import SettingsDialog
from ui.viewer import ImageView, load_full_image

log = logging.getLogger(__name__)
R = GalleryRow
PERSON_GENERATION = [("allow_adult", "Adults only"), ("dont_allow", "No people"), ("allow_all", "Adults and children")]
DATE_RANGES = [("Any time", None), ("Today", 1), ("Last 7 days", 7), ("Last 30 days", 30)]


class Banner(QFrame):
    """A plain-words message across the top of the window, with one action."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.action = QPushButton(self)
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip(tr("Dismiss"))
        self.close_button.setAccessibleName(tr("Dismiss message"))
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action)
        layout.addWidget(self.close_button)
        self._callback = None
        self.action.clicked.connect(lambda: self._callback and self._callback())
        self.hide()

    def show_message(self, text: str, kind: str = "info", action: str | None = None, callback=None) -> None:
        colours = {"info": "#2d6cdf", "warning": "#c98a1a", "error": "#c83c3c"}
        self.setStyleSheet(
            f"QFrame#banner {{ border-left: 4px solid {colours[kind]}; background: palette(alternate-base); }}"
        )
        self.label.setText(text)
        self.action.setVisible(bool(action))
        self.action.setText(action or "")
        self._callback = callback
        self.show()


class MainWindow(QMainWindow):
    def __init__(self, services: Services, library: Library):
        super().__init__()
        self._painted = False  # event() runs from here on
        self._endpoint_ready = False
        self.services = services
        self.library = library
        self.settings = services.settings
        self.tasks = TaskSlots(self.show_error)
        self.service = GenerationService(
            services.catalog, library, max_parallel=int(self.settings.get("max_parallel", 4))
        )
        self.queue = JobQueue(self.service, self._connection, max_parallel=int(self.settings.get("max_parallel", 4)))
        self.queue.subscribe(self._on_job)
        self.catalog = services.catalog
        self.endpoint = services.endpoint(cheap=True)  # made usable after the first paint
        self.undo_stack: list[list[int]] = []
        self.current_entry: HistoryEntry | None = None
        self.current_row: tuple | None = None
        self.setWindowTitle("Atelier")
        self.setAcceptDrops(True)
        self._build()
        self._build_menus()
        self._restore_state()
        self._apply_endpoint(before_first_paint=True)
        self.reload_gallery()

    # --- building ----------------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.banner = Banner(self)
        # generate column
        self.prompt = PromptEditor(self)
        self.prompt.history = list(self.settings.get("prompt_history", []))
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
        for widget in (self.count, self.aspect, self.size, self.person, self.seed):
            if isinstance(widget, QSpinBox):
                widget.valueChanged.connect(self._update_cost)
            else:
                widget.currentIndexChanged.connect(self._update_cost)
        self.jobs = JobsPanel(self.queue, self)
        self.jobs.retryRequested.connect(self._retry_job)

        left = QWidget(self)
        column = QVBoxLayout(left)
        column.addWidget(QLabel(tr("<b>Prompt</b>"), left))
        column.addWidget(self.prompt, 3)
        column.addWidget(QLabel(tr("<b>Model</b>"), left))
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
        self.references_label = QLabel(tr("Reference images"), left)
        column.addWidget(self.references_label)
        column.addWidget(self.references)
        column.addWidget(self.generate_button)
        column.addWidget(self.input_error)
        column.addWidget(self.jobs, 2)
        left.setMinimumWidth(320)

        # gallery column
        self.search = QLineEdit(self)
        self.search.setPlaceholderText(tr("Search prompts…"))
        self.search.setMinimumWidth(200)
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(tr("Search"))
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(120)
        self.search_timer.timeout.connect(self.reload_gallery)
        self.search.textChanged.connect(lambda _: self.search_timer.start())
        self.model_filter = QComboBox(self)
        self.model_filter.setAccessibleName(tr("Filter by model"))
        self.model_filter.addItem(tr("All models"), None)
        self.model_filter.currentIndexChanged.connect(self.reload_gallery)
        self.date_filter = QComboBox(self)
        for label, days in DATE_RANGES:
            self.date_filter.addItem(tr(label), days)
        self.date_filter.setAccessibleName(tr("Filter by date"))
        self.date_filter.currentIndexChanged.connect(self.reload_gallery)
        self.favourites_only = QCheckBox(tr("★ only"), self)
        self.favourites_only.setToolTip(tr("Show favourites only"))
        self.favourites_only.toggled.connect(self.reload_gallery)
        self.show_failed = QCheckBox(tr("Failed attempts"), self)
        self.show_failed.setToolTip(tr("Show blocked and failed attempts in the gallery"))
        self.show_failed.setChecked(True)
        self.show_failed.toggled.connect(self.reload_gallery)
        self.thumb_size = QSlider(Qt.Orientation.Horizontal, self)
        self.thumb_size.setRange(96, 320)
        self.thumb_size.setValue(int(self.settings.get("window", {}).get("thumb_size", 192)))
        self.thumb_size.setFixedWidth(110)
        self.thumb_size.setToolTip(tr("Thumbnail size"))
        self.thumb_size.setAccessibleName(tr("Thumbnail size"))
        self.thumb_size.valueChanged.connect(self._thumb_size_changed)
        self.gallery = GalleryView(self)
        self.gallery_model = GalleryModel(self.library, parent=self)
        self.gallery.setModel(self.gallery_model)
        self.gallery.set_edge(self.thumb_size.value())
        self.gallery.selectionModel().currentChanged.connect(self._current_changed)
        self.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.gallery_count = QLabel(self)
        self.gallery_model.countChanged.connect(self._count_changed)
        self.empty_hint = QLabel(tr("No images yet. Write a prompt and press Generate."), self)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.hide()
        middle = QWidget(self)
        mid = QVBoxLayout(middle)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 3)
        filters.addWidget(self.model_filter, 1)
        filters.addWidget(self.date_filter)
        filters.addWidget(self.favourites_only)
        filters.addWidget(self.show_failed)
        mid.addLayout(filters)
        mid.addWidget(self.empty_hint)
        mid.addWidget(self.gallery, 1)
        footer = QHBoxLayout()
        footer.addWidget(self.gallery_count, 1)
        footer.addWidget(QLabel(tr("Thumbnails"), self))
        footer.addWidget(self.thumb_size)
        mid.addLayout(footer)

        # viewer column
        self.viewer = ImageView(self)
        self.viewer.stepRequested.connect(self.step)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setOpenExternalLinks(False)
        self.details.linkActivated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
        details_scroll = QScrollArea(self)
        details_scroll.setWidget(self.details)
        details_scroll.setWidgetResizable(True)
        details_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.viewer_buttons = QWidget(self)
        buttons = QHBoxLayout(self.viewer_buttons)
        buttons.setContentsMargins(0, 0, 0, 0)
        self.fit_button = QPushButton(tr("Fit"), self)
        self.fit_button.clicked.connect(self.viewer.fit)
        self.actual_button = QPushButton("100%", self)
        self.actual_button.clicked.connect(self.viewer.actual_size)
        self.zoom_label = QLabel(self)
        self.viewer.zoomChanged.connect(lambda s: self.zoom_label.setText(f"{s * 100:.0f}%"))
        buttons.addWidget(self.fit_button)
        buttons.addWidget(self.actual_button)
        buttons.addWidget(self.zoom_label)
        buttons.addStretch()
        right = QWidget(self)
        right_column = QVBoxLayout(right)
        self.right_splitter = QSplitter(Qt.Orientation.Vertical, right)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.viewer, 1)
        top_layout.addWidget(self.viewer_buttons)
        self.right_splitter.addWidget(top)
        self.right_splitter.addWidget(details_scroll)
        self.right_splitter.setStretchFactor(0, 3)
        self.right_splitter.setStretchFactor(1, 2)
        self.right_splitter.setSizes([480, 300])
        right_column.addWidget(self.right_splitter)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(left)
        self.splitter.addWidget(middle)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([340, 700, 420])
        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 0)
        outer.addWidget(self.banner)
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.endpoint_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.endpoint_label)
        self.undo_button = QPushButton(tr("Undo delete"), self)
        self.undo_button.clicked.connect(self.undo_delete)
        self.undo_button.hide()
        self.statusBar().addPermanentWidget(self.undo_button)

    def _action(self, text: str, slot, shortcut=None, tip: str | None = None) -> QAction:
        action = QAction(tr(text), self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(tip)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu(tr("&File"))
        self.settings_action = self._action("&Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        file_menu.addAction(self.settings_action)
        file_menu.addAction(self._action("Open library folder", self.open_library_folder))
        file_menu.addAction(self._action("Rebuild index from image files", self.rebuild_index))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))

        self.image_actions = {
            "favourite": self._action("Favourite", self.toggle_favourite, "F"),
            "copy_prompt": self._action("Copy prompt", self.copy_prompt, "Ctrl+Shift+C"),
            "reuse": self._action("Reuse settings", self.reuse_settings, "Ctrl+R"),
            "reference": self._action("Use as reference", self.use_as_reference, "Ctrl+Shift+R"),
            "copy_image": self._action("Copy image", self.copy_image, QKeySequence.StandardKey.Copy),
            "open_folder": self._action("Show in folder", self.open_containing_folder),
            "export": self._action("Export…", self.export_selected, "Ctrl+E"),
            "retry": self._action("Retry this attempt", self.retry_selected),
            "delete": self._action("Delete", self.delete_selected, QKeySequence.StandardKey.Delete),
        }
        edit_menu = bar.addMenu(tr("&Edit"))
        self.undo_action = self._action("&Undo delete", self.undo_delete, QKeySequence.StandardKey.Undo)
        self.undo_action.setEnabled(False)
        edit_menu.addAction(self.undo_action)
        edit_menu.addSeparator()
        for action in self.image_actions.values():
            edit_menu.addAction(action)
            self.gallery.addAction(action)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        edit_menu.addSeparator()
        edit_menu.addAction(self._action("Find", lambda: self.search.setFocus(), QKeySequence.StandardKey.Find))
        view_menu = bar.addMenu(tr("&View"))
        view_menu.addAction(
            self._action("Bigger thumbnails", lambda: self.thumb_size.setValue(self.thumb_size.value() + 32), "Ctrl++")
        )
        view_menu.addAction(
            self._action("Smaller thumbnails", lambda: self.thumb_size.setValue(self.thumb_size.value() - 32), "Ctrl+-")
        )
        view_menu.addAction(self._action("Fit image", self.viewer.fit))
        view_menu.addAction(self._action("Actual size", self.viewer.actual_size))
        view_menu.addAction(self._action("Focus prompt", lambda: self.prompt.setFocus(), "Ctrl+L"))
        help_menu = bar.addMenu(tr("&Help"))
        help_menu.addAction(self._action("About Atelier", self.about))
        self._update_image_actions()

    # --- endpoint, models, cost --------------------------------------------------------------------------------

    def _connection(self):
        if not self._endpoint_ready:  # a job before the first paint (a script driving the window)
            self._apply_endpoint()
        return self.endpoint, self.services.key_for(self.endpoint), float(self.settings.get("timeout_s", 120))

    def event(self, event) -> bool:
        if not self._painted and event.type() == QEvent.Type.Paint:
            self._painted = True
            QTimer.singleShot(0, self._after_first_paint)
        return super().event(event)

    def _after_first_paint(self) -> None:
        """What the window need not wait for to show itself: the keychain, and the models the endpoint serves."""
        self._apply_endpoint()

    def _apply_endpoint(self, before_first_paint: bool = False) -> None:
        """Shows the endpoint, warns about a missing key, and asks which models it serves. Before the first paint,
        only what needs no keychain and no network."""
        self.endpoint = self.services.endpoint(cheap=before_first_paint)
        self._endpoint_ready = not before_first_paint
        key = None if before_first_paint else self.services.key_for(self.endpoint)
        label = (
            self.endpoint.label
            if self.endpoint.name != "custom"
            else endpoints.normalize_base_url(self.endpoint.base_url)
        )
        self.endpoint_label.setText(tr("Endpoint: {0}").format(label))
        if self.endpoint.name == "demo":
            self.banner.show_message(
                tr(
                    "You are on the offline demo: pictures are drawn on this computer, free and instantly. "
                    "Add an API key to generate with Google's models."
                ),
                "info",
                tr("Add a key…"),
                self.open_settings,
            )
        elif before_first_paint:
            pass
        elif not key:
            self.banner.show_message(
                tr("No API key for {0}. Add one to generate.").format(self.endpoint.label),
                "warning",
                tr("Add a key…"),
                self.open_settings,
            )
        else:
            self.banner.hide()
        if self.library.read_only_reason:  # says more than any endpoint message
            self.banner.show_message(
                self.library.read_only_reason + " " + tr("You can browse and search; new images cannot be saved."),
                "warning",
            )
        self.catalog = self.services.catalog
        self._fill_models()
        if not before_first_paint and (self.endpoint.name == "demo" or key):
            self.tasks.run("discovery", self._discover(key))

    async def _discover(self, key):
        from services.client import GeminiClient

        try:
            async with GeminiClient(self.endpoint, key, timeout=30) as client:
                models = await client.list_models()
        except Exception as exc:  # discovery is a nicety: the catalog still works
            log.info("model discovery failed: %s", exc)
            return
        self.catalog = self.services.catalog.merged_with_discovery(models)
        self._fill_models()

    def _fill_models(self) -> None:
        self.model_selector.set_models(
            self.catalog.models(),
            self.endpoint.name,
            keep=self.model_selector.current_id() or self.settings.get("model"),
        )

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
        retired_here = not info.available_on(self.endpoint.name)
        if retired_here and (note or info.served is False):
            self.retired_note.setText("⚠ " + (note or tr("This endpoint does not serve {0}.").format(info.id)))
            self.retired_note.show()
            if info.replacement:
                self.use_replacement.setText(tr("Use {0}").format(info.replacement))
                self.use_replacement.show()
            else:
                self.use_replacement.hide()
        else:
            self.retired_note.hide()
            self.use_replacement.hide()
        self._update_cost()

    def _use_replacement(self) -> None:
        info = self.model_selector.current()
        if info and info.replacement:
            self.model_selector.select(info.replacement)

    def _update_cost(self, *_):
        info = self.model_selector.current()
        if info is None:
            return
        if self.endpoint.name == "demo":
            text = tr("Generate · free (demo)")
        else:
            cost = info.estimate_cost(self.count.value(), self.size.currentData() if info.sizes else None)
            text = tr("Generate · about {0}").format(money(cost)) if cost is not None else tr("Generate")
        self.generate_button.setText(text)

    # --- generating --------------------------------------------------------------------------------------------

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
        try:
            job = self.queue.submit(self.current_request())
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
        self.tasks.run("save-settings", asyncio.to_thread(self.settings.save))
        return job

    def _retry_job(self, job: Job) -> None:
        try:
            self.queue.retry(job)
        except InputError as exc:
            self.show_error(str(exc))

    def _on_job(self, job: Job, event: str, payload) -> None:
        if event == "image":
            image = payload
            row = (
                image.image_id,
                image.generation_id,
                time.time(),
                "ok",
                image.sha256,
                Path(image.path).relative_to(self.library.root).as_posix(),
                image.width,
                image.height,
                0,
                job.request.model,
                None,
            )
            self._add_to_gallery(job, row)
        elif event == "finished":
            self._update_model_filter(job.request.model)
            failed_attempt = not job.images and job.generation_id and job.state in ("blocked", "no_image", "failed")
            if failed_attempt and self.show_failed.isChecked():
                status = job.result.status if job.result else "error"
                row = (
                    None,
                    job.generation_id,
                    time.time(),
                    status,
                    None,
                    None,
                    0,
                    0,
                    0,
                    job.request.model,
                    job.message,
                )
                self._add_to_gallery(job, row)
            if job.state == "failed":
                self._explain_failure(job)

    def _add_to_gallery(self, job: Job, row: tuple) -> None:
        """Shows a new result at the top when the filters surely let it in; asks the index again when only it can
        tell (a search or the favourites filter)."""
        if self.search.text().strip() or self.favourites_only.isChecked():
            self.search_timer.start()
            return
        model = self.model_filter.currentData()
        if model is None or model == job.request.model:
            self.gallery_model.prepend([row])

    def _explain_failure(self, job: Job) -> None:
        error = job.result.error if job.result else None
        kind = job.error_kind
        message = job.message
        if error and error.get("http_status") in (400, 401, 403) and "key" in message.lower():
            self.banner.show_message(message, "error", tr("Open Settings"), self.open_settings)
        elif kind == "network":
            self.banner.show_message(tr("Offline? ") + message, "warning", tr("Retry"), lambda: self._retry_job(job))
        elif "quota" in message.lower() or "rate limit" in message.lower() or "not served" in message:
            self.banner.show_message(message, "warning")

    # --- references --------------------------------------------------------------------------------------------

    def _choose_references(self) -> None:
        dialog = QFileDialog(self, tr("Add reference images"))
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilter(tr("Images (*.png *.jpg *.jpeg *.webp *.heic *.heif)"))
        dialog.filesSelected.connect(self.add_reference_files)
        dialog.open()

    def add_reference_files(self, paths: list[str]) -> None:
        self.tasks.run(None, self._add_references(paths))

    async def _add_references(self, paths: list[str]) -> None:
        info = self.model_selector.current()
        limit = info.max_reference_images if info else 0
        for path in paths:
            if limit and len(self.references.references) >= limit:
                self.show_error(tr("{0} takes at most {1} reference images.").format(info.id, limit))
                return
            try:
                reference = await asyncio.to_thread(load_reference, path)
            except InputError as exc:
                self.show_error(str(exc))
                continue
            preview = await asyncio.to_thread(_preview, path)
            self.references.add(reference, preview)

    def add_pasted_reference(self, image: QImage) -> None:
        folder = self.services.paths.cache / "pasted"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"pasted-{int(time.time() * 1000)}.png"

        async def save_and_add():
            ok = await asyncio.to_thread(image.save, str(path), "PNG")
            if ok:
                await self._add_references([str(path)])

        self.tasks.run(None, save_and_add())

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            self.add_reference_files(files)

    # --- gallery -----------------------------------------------------------------------------------------------

    def history_query(self) -> HistoryQuery:
        days = self.date_filter.currentData()
        since = None
        if days:
            from datetime import datetime, timedelta

            start = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
            since = start.timestamp()
        return HistoryQuery(
            search=self.search.text(),
            model=self.model_filter.currentData(),
            favourites_only=self.favourites_only.isChecked(),
            include_failed=self.show_failed.isChecked(),
            since=since,
        )

    def reload_gallery(self, *_) -> asyncio.Task:
        query = self.history_query()

        async def load():
            selected = self.current_row and key_of(self.current_row)
            async for complete in load_gallery(self.gallery_model, self.library, query):
                current = self.gallery.currentIndex()
                if current.isValid() and key_of(self.gallery_model.rows[current.row()]) == selected:
                    continue  # kept through the append
                row = self.gallery_model.row_of(selected) if selected is not None else None
                if row is None and (complete or selected is None) and self.gallery_model.rowCount():
                    row = 0  # show the newest image rather than an empty viewer
                if row is not None:
                    self.gallery.setCurrentIndex(self.gallery_model.index(row))
            for model in await asyncio.to_thread(self.library.models_used):
                self._update_model_filter(model)

        return self.tasks.run("gallery", load())

    def _update_model_filter(self, model: str) -> None:
        if self.model_filter.findData(model) < 0:
            self.model_filter.addItem(model, model)

    def _count_changed(self, count: int) -> None:
        self.gallery_count.setText(tr("{0} items").format(f"{count:,}"))
        filtering = (
            bool(self.search.text().strip())
            or self.favourites_only.isChecked()
            or self.model_filter.currentIndex() > 0
            or self.date_filter.currentIndex() > 0
        )
        self.empty_hint.setText(
            tr("Nothing matches these filters.")
            if filtering
            else tr("No images yet. Write a prompt and press Generate.")
        )
        self.empty_hint.setVisible(count == 0)

    def _thumb_size_changed(self, value: int) -> None:
        self.gallery.set_edge(value)

    def selected_rows(self) -> list[tuple]:
        rows = [
            self.gallery_model.rows[i.row()]
            for i in self.gallery.selectionModel().selectedIndexes()
            if i.row() < len(self.gallery_model.rows)
        ]
        if not rows and self.current_row is not None:
            rows = [self.current_row]
        return rows

    def step(self, delta: int) -> None:
        current = self.gallery.currentIndex()
        row = (current.row() if current.isValid() else -1) + delta
        if 0 <= row < self.gallery_model.rowCount():
            self.gallery.setCurrentIndex(self.gallery_model.index(row))

    def _current_changed(self, current, _previous) -> None:
        if not current.isValid() or current.row() >= len(self.gallery_model.rows):
            self.current_row = None
            self.current_entry = None
            self.viewer.set_image(None)
            self.details.setText("")
            self._update_image_actions()
            return
        row = self.gallery_model.rows[current.row()]
        self.current_row = row
        self.current_entry = self.library.generation(row[R.GENERATION_ID])  # a point lookup
        self._show_details(row, self.current_entry)
        self._update_image_actions()
        if row[R.IMAGE_ID] is None:
            self.viewer.set_image(None, row[R.REASON] or "")
            return
        path = str(self.library.root / row[R.PATH])

        async def show():
            image = await asyncio.to_thread(load_full_image, path)
            if self.current_row is row:
                self.viewer.set_image(image, tr("This image cannot be displayed (missing or damaged file)."))

        self.tasks.run("viewer", show())

    def _show_details(self, row: tuple, entry: HistoryEntry | None) -> None:
        if entry is None:
            self.details.setText(tr("This item is no longer in the library."))
            return
        params = entry.params or {}
        lines = [f"<p style='font-size:110%'>{html.escape(entry.prompt)}</p><table cellspacing='3'>"]

        def add(label, value):
            if value not in (None, "", []):
                lines.append(f"<tr><td style='color:gray'>{html.escape(tr(label))}</td><td>{value}</td></tr>")

        add("Model", html.escape(entry.model))
        if row[R.IMAGE_ID] is not None:
            add("Size", f"{row[R.WIDTH]} × {row[R.HEIGHT]}")
        add("Status", html.escape(entry.status) + (f" — {html.escape(entry.reason)}" if entry.reason else ""))
        add("Aspect ratio", html.escape(str(params.get("aspect_ratio") or "")))
        add("Image size", html.escape(str(params.get("size") or "")))
        add("Seed", html.escape(str(params.get("seed") if params.get("seed") is not None else "")))
        add("People", html.escape(str(params.get("person_generation") or "")))
        refs = params.get("references") or []
        add("References", "<br>".join(html.escape(Path(r.get("path", "")).name) for r in refs))
        add("Model's text", html.escape(entry.text))
        add("Cost", money(entry.cost_usd) if entry.cost_usd else ("free" if entry.cost_usd == 0 else ""))
        add("Attempts", str(entry.attempts) if entry.attempts else "")
        add("Created", when(entry.created_at))
        add("Endpoint", html.escape(entry.endpoint or ""))
        if row[R.PATH]:
            path = self.library.root / row[R.PATH]
            add("File", f"<a href='{QUrl.fromLocalFile(str(path.parent)).toString()}'>{html.escape(str(path))}</a>")
        lines.append("</table>")
        self.details.setText("".join(lines))

    def _update_image_actions(self) -> None:
        row = self.current_row
        has_image = bool(row and row[R.IMAGE_ID] is not None)
        for name, action in self.image_actions.items():
            if name in ("copy_prompt", "reuse"):
                action.setEnabled(row is not None)
            elif name == "retry":
                action.setEnabled(bool(row and row[R.IMAGE_ID] is None))
            elif name == "delete":
                action.setEnabled(row is not None)
            else:
                action.setEnabled(has_image)
        if row is not None:
            self.image_actions["favourite"].setText(tr("Unfavourite") if row[R.FAVOURITE] else tr("Favourite"))

    # --- actions on one or many ----------------------------------------------------------------------------------

    def copy_prompt(self) -> None:
        if self.current_entry:
            QGuiApplication.clipboard().setText(self.current_entry.prompt)
            self.statusBar().showMessage(tr("Prompt copied."), 3000)

    def reuse_settings(self) -> None:
        entry = self.current_entry
        if entry is None:
            return
        params = entry.params or {}
        self.prompt.setPlainText(entry.prompt)
        self.model_selector.select(entry.model)
        if params.get("count"):
            self.count.setValue(int(params["count"]))
        for combo, key in ((self.aspect, "aspect_ratio"), (self.size, "size"), (self.person, "person_generation")):
            index = combo.findData(params.get(key))
            if index >= 0:
                combo.setCurrentIndex(index)
        self.seed.setValue(int(params["seed"]) if params.get("seed") is not None else -1)
        self.references.clear()
        existing = [r["path"] for r in params.get("references") or [] if Path(r.get("path", "")).is_file()]
        if existing:
            self.add_reference_files(existing)
        self.prompt.setFocus()
        self.statusBar().showMessage(tr("Settings filled in from the selected image. Press Generate when ready."), 5000)

    def use_as_reference(self) -> None:
        paths = [str(self.library.root / r[R.PATH]) for r in self.selected_rows() if r[R.PATH]]
        info = self.model_selector.current()
        if info is not None and info.max_reference_images == 0:
            replacement = DEFAULT_MODEL
            self.model_selector.select(replacement)
            self.statusBar().showMessage(tr("Switched to {0}, which takes reference images.").format(replacement), 5000)
        self.add_reference_files(paths)

    def toggle_favourite(self) -> None:
        rows = [r for r in self.selected_rows() if r[R.IMAGE_ID] is not None]
        if not rows:
            return
        value = not all(r[R.FAVOURITE] for r in rows)
        ids = [r[R.IMAGE_ID] for r in rows]

        async def apply():
            await asyncio.to_thread(self.library.set_favourite, ids, value)
            for image_id in ids:
                self.gallery_model.update_row(image_id, favourite=int(value))
            if self.current_row is not None and self.current_row[R.IMAGE_ID] in ids:
                self.current_row = self.gallery_model.rows[self.gallery_model.row_of(self.current_row[R.IMAGE_ID])]
            self._update_image_actions()
            if self.favourites_only.isChecked():
                self.reload_gallery()

        self.tasks.run(None, apply())

    def copy_image(self) -> None:
        row = self.current_row
        if not row or not row[R.PATH]:
            return
        path = str(self.library.root / row[R.PATH])

        async def copy():
            image = await asyncio.to_thread(load_full_image, path)
            if image is not None:
                QGuiApplication.clipboard().setImage(image)
                self.statusBar().showMessage(tr("Image copied."), 3000)

        self.tasks.run(None, copy())

    def open_containing_folder(self) -> None:
        row = self.current_row
        if row and row[R.PATH]:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str((self.library.root / row[R.PATH]).parent)))

    def open_library_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.library.root)))

    def export_selected(self) -> None:
        paths = [self.library.root / r[R.PATH] for r in self.selected_rows() if r[R.PATH]]
        if not paths:
            return
        dialog = QFileDialog(self, tr("Export images to…"))
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
            self.show_error(tr("Export failed: {0}").format(exc.strerror or exc))
            return
        self.statusBar().showMessage(tr("Exported {0} image(s) to {1}.").format(len(paths), folder), 5000)

    def delete_selected(self) -> None:
        rows = self.selected_rows()
        image_ids = [r[R.IMAGE_ID] for r in rows if r[R.IMAGE_ID] is not None]
        attempt_ids = [r[R.GENERATION_ID] for r in rows if r[R.IMAGE_ID] is None]
        if not rows:
            return
        next_row = min(self.gallery_model.row_of(key_of(r)) or 0 for r in rows)

        async def delete():
            await asyncio.to_thread(self.library.trash, image_ids)
            await asyncio.to_thread(self.library.delete_generations, attempt_ids)
            self.gallery_model.remove_keys({key_of(r) for r in rows})
            if image_ids:
                self.undo_stack.append(image_ids)
                self.undo_action.setEnabled(True)
                self.undo_button.show()
                self.statusBar().showMessage(
                    tr("Deleted {0} image(s). They go to the system trash when Atelier closes.").format(len(image_ids)),
                    8000,
                )
            if self.gallery_model.rowCount():
                self.gallery.setCurrentIndex(self.gallery_model.index(min(next_row, self.gallery_model.rowCount() - 1)))

        self.tasks.run(None, delete())

    def undo_delete(self) -> None:
        if not self.undo_stack:
            return
        ids = self.undo_stack.pop()

        async def restore():
            await asyncio.to_thread(self.library.trash, ids, False)
            self.reload_gallery()
            self.statusBar().showMessage(tr("Restored {0} image(s).").format(len(ids)), 4000)

        self.undo_action.setEnabled(bool(self.undo_stack))
        self.undo_button.setVisible(bool(self.undo_stack))
        self.tasks.run(None, restore())

    def retry_selected(self) -> None:
        entry = self.current_entry
        if entry is None:
            return
        self.reuse_settings()
        self.generate()

    def rebuild_index(self) -> None:
        self.statusBar().showMessage(tr("Rebuilding the index from the image files…"))

        async def rebuild():
            report = await asyncio.to_thread(self.library.rebuild)
            self.statusBar().showMessage(
                tr("Index rebuilt: {0} images in {1} generations.").format(report["images"], report["generations"]),
                8000,
            )
            self.reload_gallery()

        self.tasks.run("rebuild", rebuild())

    # --- settings, errors, state -------------------------------------------------------------------------------

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.services, self)
        dialog.applied.connect(self._settings_applied)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self._settings_dialog = dialog
        return dialog

    def _settings_applied(self) -> None:
        from ui.app import apply_color_scheme

        apply_color_scheme(QApplication.instance(), str(self.settings.get("appearance", "system")))
        parallel = int(self.settings.get("max_parallel", 4))
        self.queue.set_max_parallel(parallel)
        new_root = self.services.library_root()
        if new_root.resolve() != self.library.root:
            self.show_error(tr("The new library folder is used from the next start of Atelier."), "info")
        self._apply_endpoint()
        self._update_cost()

    def show_error(self, message: str, kind: str = "error") -> None:
        self.banner.show_message(message, kind)

    def about(self) -> None:
        self.banner.show_message(
            tr("Atelier 0.1.0 — a studio for Google's image models. Library: {0}. Logs: {1}.").format(
                self.library.root, self.services.paths.log
            ),
            "info",
        )

    def _restore_state(self) -> None:
        state = self.settings.get("window", {}) or {}
        try:
            if state.get("geometry"):
                self.restoreGeometry(QByteArray(base64.b64decode(state["geometry"])))
            else:
                self.resize(QSize(1400, 860))
            if state.get("splitter"):
                self.splitter.restoreState(QByteArray(base64.b64decode(state["splitter"])))
            if state.get("right_splitter"):
                self.right_splitter.restoreState(QByteArray(base64.b64decode(state["right_splitter"])))
        except (ValueError, TypeError):
            self.resize(QSize(1400, 860))
        self.model_selector.set_models(self.catalog.models(), self.endpoint.name, keep=self.settings.get("model"))
        count = int(self.settings.get("count", 1) or 1)
        self.count.setValue(count)
        for combo, key in ((self.aspect, "aspect_ratio"), (self.size, "size"), (self.person, "person_generation")):
            index = combo.findData(self.settings.get(key))
            if index >= 0:
                combo.setCurrentIndex(index)

    def save_state(self) -> None:
        self.settings.set(
            "window",
            {
                "geometry": base64.b64encode(bytes(self.saveGeometry().data())).decode(),
                "splitter": base64.b64encode(bytes(self.splitter.saveState().data())).decode(),
                "right_splitter": base64.b64encode(bytes(self.right_splitter.saveState().data())).decode(),
                "thumb_size": self.thumb_size.value(),
            },
        )
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
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    async def shutdown(self) -> None:
        """Cancels what runs, records it, sends deleted images to the trash."""
        self.queue.cancel_all()
        await self.queue.wait_all()
        self.tasks.cancel_all()
        self.gallery_model.loader.stop()
        try:
            await asyncio.to_thread(self.library.purge_trashed)
        except Exception:
            log.exception("could not empty the deleted images")


def _preview(path: str) -> QImage | None:
    from PySide6.QtGui import QImageReader

    reader = QImageReader(path)
    reader.setScaledSize(
        QSize(56, 56)
        if not reader.size().isValid()
        else reader.size().scaled(QSize(112, 112), Qt.AspectRatioMode.KeepAspectRatio)
    )
    image = reader.read()
    return None if image.isNull() else image
