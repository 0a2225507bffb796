"""The studio window: composes the parts (generate, jobs, browse, details) around the studio controller, and the
menus. The parts talk through the controller's signals and each other's methods, never each other's widgets."""

from __future__ import annotations

import base64
import logging

from PySide6.QtCore import QByteArray, QEvent, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QPushButton, QSplitter, QVBoxLayout, QWidget

from services.app import Services
from services.errors import InputError
from services.jobs import Job
from services.library import Library
from services.status import ErrorKind, Status
from ui.banner import Banner
from ui.browser import Browser
from ui.common import TaskSlots, tr
from ui.details import DetailsPane
from ui.generate_panel import GeneratePanel
from ui.image_actions import ImageActions
from ui.jobs_panel import JobsPanel
from ui.studio import ConnectionState, Studio

log = logging.getLogger(__name__)
SETTINGS_KINDS = (ErrorKind.AUTH, ErrorKind.PRECONDITION)
WAIT_KINDS = (ErrorKind.QUOTA, ErrorKind.DAILY_QUOTA, ErrorKind.RATE_LIMIT, ErrorKind.RETIRED_MODEL)
DISK_KINDS = (ErrorKind.DISK_FULL, ErrorKind.READ_ONLY, ErrorKind.LIBRARY, ErrorKind.INDEX_BUSY, ErrorKind.BUG)


class MainWindow(QMainWindow):
    def __init__(self, services: Services, library: Library | None = None):
        """Without a library the window shows itself at once, "opening"; set_library() completes it."""
        super().__init__()
        self._painted = False
        self.services = services
        self.settings = services.settings
        self.library: Library | None = None
        self.tasks = TaskSlots(self.show_error)
        self.setWindowTitle("Atelier")
        self.setAcceptDrops(True)
        self.studio = Studio(services, self)
        self.studio.failed.connect(self.show_error)
        self.banner = Banner(self)
        state = self.settings.get("window", {}) or {}
        self.panel = GeneratePanel(self.studio, self.settings, services.paths.cache / "pasted", self.show_error, self)
        self.jobs = JobsPanel(self.studio, self)
        self.browser = Browser(self.studio, int(state.get("thumb_size", 192)), self.show_error, self)
        self.details = DetailsPane(self.show_error, self)
        self.actions = ImageActions(self.studio, self.browser, self.panel, self)
        self.browser.currentChanged.connect(self.details.show_row)
        self.browser.activated.connect(lambda _row: self.details.viewer.setFocus())
        self.details.stepRequested.connect(self.browser.step)
        self.studio.libraryOpened.connect(self._library_opened)
        self.studio.connectionChanged.connect(self._connection_changed)
        self.studio.jobFinished.connect(self._explain_failure)
        self.actions.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        self.actions.error.connect(self.show_error)
        self._layout()
        self._build_menus()
        self._restore_state(state)
        self._connection_changed(self.studio.state())
        if library is not None:
            self.set_library(library)

    def _layout(self) -> None:
        left = QWidget(self)
        column = QVBoxLayout(left)
        column.addWidget(self.panel, 3)
        column.addWidget(self.jobs, 2)
        left.setMinimumWidth(320)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        for part in (left, self.browser, self.details):
            self.splitter.addWidget(part)
        for i, stretch in enumerate((0, 3, 2)):
            self.splitter.setStretchFactor(i, stretch)
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
        self.undo_button.clicked.connect(self.actions.undo_delete)
        self.undo_button.hide()
        self.actions.undoAvailable.connect(self.undo_button.setVisible)
        self.statusBar().addPermanentWidget(self.undo_button)

    def _action(self, text: str, slot, shortcut=None) -> QAction:
        action = QAction(tr(text), self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
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
        edit_menu = bar.addMenu(tr("&Edit"))
        edit_menu.addAction(self.actions.undo)
        edit_menu.addSeparator()
        for action in self.actions.actions.values():
            edit_menu.addAction(action)
        edit_menu.addSeparator()
        edit_menu.addAction(self._action("Find", self.browser.focus_search, QKeySequence.StandardKey.Find))
        view_menu = bar.addMenu(tr("&View"))
        view_menu.addAction(self._action("Bigger thumbnails", lambda: self.browser.grow_thumbnails(32), "Ctrl++"))
        view_menu.addAction(self._action("Smaller thumbnails", lambda: self.browser.grow_thumbnails(-32), "Ctrl+-"))
        view_menu.addAction(self._action("Fit image", self.details.viewer.fit))
        view_menu.addAction(self._action("Actual size", self.details.viewer.actual_size))
        view_menu.addAction(self._action("Focus prompt", self.panel.prompt.setFocus, "Ctrl+L"))
        help_menu = bar.addMenu(tr("&Help"))
        help_menu.addAction(self._action("About Atelier", self.about))
        self.browser.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

    # --- the library, the endpoint, failures ------------------------------------------------------------------

    def set_library(self, library: Library) -> None:
        self.studio.attach_library(library)

    def _library_opened(self, library: Library) -> None:
        self.library = library
        self.details.library = library
        if library.read_only_reason:  # says more than any endpoint message
            self.banner.show_message(
                library.read_only_reason + " " + tr("You can browse and search; new images cannot be saved."),
                "warning",
            )

    def event(self, event) -> bool:
        if not self._painted and event.type() == QEvent.Type.Paint:
            self._painted = True
            QTimer.singleShot(0, self.studio.refresh)  # the keychain and the demo server wait for the first paint
        return super().event(event)

    def _connection_changed(self, state: ConnectionState) -> None:
        endpoint = state.endpoint
        self.endpoint_label.setText(tr("Endpoint: {0}").format(endpoint.label))
        if self.library is not None and self.library.read_only_reason:
            return
        if endpoint.name == "demo":
            self.banner.show_message(
                tr(
                    "You are on the offline demo: pictures are drawn on this computer, free and instantly. "
                    "Add an API key to generate with Google's models."
                ),
                "info",
                tr("Add a key…"),
                self.open_settings,
            )
        elif state.ready and not state.has_key:
            self.banner.show_message(
                tr("No API key for {0}. Add one to generate.").format(endpoint.label),
                "warning",
                tr("Add a key…"),
                self.open_settings,
            )
        elif state.ready:
            self.banner.hide()

    def _explain_failure(self, job: Job) -> None:
        if job.status is not Status.ERROR:
            return
        kind, message = job.error_kind, job.message
        if kind in SETTINGS_KINDS:
            self.banner.show_message(message, "error", tr("Open Settings"), self.open_settings)
        elif kind in (ErrorKind.NETWORK, ErrorKind.TIMEOUT):
            self.banner.show_message(tr("Offline? ") + message, "warning", tr("Retry"), lambda: self._retry(job))
        elif kind in WAIT_KINDS or kind in DISK_KINDS:
            self.banner.show_message(message, "warning" if kind in WAIT_KINDS else "error")

    def _retry(self, job: Job) -> None:
        try:
            self.studio.retry(job)
        except InputError as exc:
            self.show_error(str(exc))

    def show_error(self, message: str, kind: str = "error") -> None:
        self.banner.show_message(message, kind)

    # --- menus' own actions -----------------------------------------------------------------------------------

    def open_library_folder(self) -> None:
        if self.library is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.library.root)))

    def rebuild_index(self) -> None:
        if self.library is None:
            return
        import asyncio

        self.statusBar().showMessage(tr("Rebuilding the index from the image files…"))
        library = self.library

        async def rebuild():
            report = await asyncio.to_thread(library.rebuild)
            self.statusBar().showMessage(
                tr("Index rebuilt: {0} images in {1} generations.").format(report["images"], report["generations"]),
                8000,
            )
            self.browser.reload()

        self.tasks.run("rebuild", rebuild())

    def open_settings(self):
        from ui.settings_dialog import SettingsDialog  # imported when first opened, not at start-up

        dialog = SettingsDialog(self.services, self, http=self.studio.http)
        dialog.applied.connect(self._settings_applied)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self._settings_dialog = dialog
        return dialog

    def _settings_applied(self) -> None:
        from ui.appearance import apply_color_scheme

        apply_color_scheme(QApplication.instance(), str(self.settings.get("appearance", "system")))
        self.studio.set_max_parallel(int(self.settings.get("max_parallel", 4)))
        if self.library is not None and self.services.library_root().resolve() != self.library.root:
            self.show_error(tr("The new library folder is used from the next start of Atelier."), "info")
        self.studio.refresh()

    def about(self) -> None:
        root = self.library.root if self.library else self.services.library_root()
        self.banner.show_message(
            tr("Atelier 0.1.0 — a studio for Google's image models. Library: {0}. Logs: {1}.").format(
                root, self.services.paths.log
            ),
            "info",
        )

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            self.panel.add_reference_files(files)

    # --- state ------------------------------------------------------------------------------------------------

    def _restore_state(self, state: dict) -> None:
        try:
            if state.get("geometry"):
                self.restoreGeometry(QByteArray(base64.b64decode(state["geometry"])))
            else:
                self.resize(QSize(1400, 860))
            if state.get("splitter"):
                self.splitter.restoreState(QByteArray(base64.b64decode(state["splitter"])))
            if state.get("right_splitter"):
                self.details.splitter.restoreState(QByteArray(base64.b64decode(state["right_splitter"])))
        except (ValueError, TypeError):
            self.resize(QSize(1400, 860))

    def save_state(self) -> None:
        def encoded(data: QByteArray) -> str:
            return base64.b64encode(bytes(data.data())).decode()

        self.settings.set(
            "window",
            {
                "geometry": encoded(self.saveGeometry()),
                "splitter": encoded(self.splitter.saveState()),
                "right_splitter": encoded(self.details.splitter.saveState()),
                "thumb_size": self.browser.thumb_size.value(),
            },
        )
        self.panel.save_state()
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    async def shutdown(self) -> None:
        """Cancels what runs (each job records how it ended), sends deleted images to the trash."""
        import asyncio

        await self.studio.shutdown()
        for slots in (self.tasks, self.panel.tasks, self.details.tasks, self.actions.tasks):
            slots.cancel_all()
        await self.browser.shutdown()
        if self.library is not None:
            try:
                await asyncio.to_thread(self.library.purge_trashed)
            except Exception:
                log.exception("could not empty the deleted images")
