"""The studio window: composes the parts (generate, jobs, browse, details) around the studio controller, and the
menus. The parts talk through the controller's signals and each other's methods, never each other's widgets."""

from __future__ import annotations

import base64
import logging

from PySide6.QtCore import QByteArray, QEvent, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QPushButton, QSplitter, QVBoxLayout, QWidget

from services.app import Services
from services.errors import InputError
from services.jobs import Job
from services.library import Library
from ui.banner import Banner
from ui.batches_menu import BatchesControls
from ui.browser import Browser
from ui.common import TaskSlots, tr
from ui.generate_panel import GeneratePanel
from ui.image_actions import ImageActions
from ui.import_menu import ImportControls
from ui.importer import DropOffer
from ui.menus import build_menus
from ui.notices import Notice, connection_notice, failure_notice
from ui.organize_menu import OrganizeControls
from ui.pause_banner import PauseBanner
from ui.spending_menu import SpendingControls
from ui.studio import ConnectionState, Studio

log = logging.getLogger(__name__)


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
        self.pause_banner = PauseBanner(self.studio, self)
        self.spending = SpendingControls(services, self.studio, self.banner, self)
        state = self.settings.get("window", {}) or {}
        self.panel = GeneratePanel(self.studio, self.settings, services.paths.cache / "pasted", self.show_error, self)
        self.browser = Browser(self.studio, int(state.get("thumb_size", 192)), self.show_error, self)
        self.actions = ImageActions(self.studio, self.browser, self.panel, self)
        self.batches = BatchesControls(services, self.studio, self.banner, self, lambda _saved: self.browser.reload())
        self.organize = OrganizeControls(self.studio, self.browser, self.actions, self.show_error, self)
        self.importing = ImportControls(self.studio, self, self.browser.reload)
        self.drop_offer = DropOffer(self.panel, self.show_error, self)  # an image dropped on the prompt: a menu
        self.jobs = self.details = None  # built after the first paint (_build_after_paint)
        self._jobs_slot, self._details_slot = QWidget(self), QWidget(self)
        self.studio.libraryOpened.connect(self._library_opened)
        self.studio.connectionChanged.connect(self._connection_changed)
        self.studio.jobFinished.connect(self._explain_failure)
        self.actions.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        self.actions.error.connect(self.show_error)
        self._layout()
        build_menus(self)
        self._restore_state(state)
        self._connection_changed(self.studio.state())
        if library is not None:
            self.set_library(library)

    def _layout(self) -> None:
        left = QWidget(self)
        column = QVBoxLayout(left)
        column.addWidget(self.panel, 3)
        column.addWidget(self._jobs_slot, 1)
        self._left_column = column
        left.setMinimumWidth(320)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        for part in (left, self.organize.area, self._details_slot):
            self.splitter.addWidget(part)
        for i, stretch in enumerate((0, 3, 2)):
            self.splitter.setStretchFactor(i, stretch)
        self.splitter.setSizes([340, 700, 420])
        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 0)
        outer.addWidget(self.banner)
        outer.addWidget(self.pause_banner)
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.endpoint_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.endpoint_label)
        self.undo_button = QPushButton(tr("Undo delete"), self)
        self.undo_button.clicked.connect(self.actions.undo_delete)
        self.undo_button.hide()
        self.actions.undoAvailable.connect(self.undo_button.setVisible)
        self.statusBar().addPermanentWidget(self.undo_button)
        self.statusBar().addPermanentWidget(self.batches.indicator)

    # --- the library, the endpoint, failures ------------------------------------------------------------------

    def set_library(self, library: Library) -> None:
        self.studio.attach_library(library)

    def _library_opened(self, library: Library) -> None:
        self.library = library
        if self.details is not None:
            self.details.library = library
        if library.read_only_reason:  # says more than any endpoint message
            self.banner.show_message(
                library.read_only_reason + " " + tr("You can browse and search; new images cannot be saved."),
                "warning",
            )

    def event(self, event) -> bool:
        if not self._painted and event.type() == QEvent.Type.Paint:
            self._painted = True
            QTimer.singleShot(0, self._build_after_paint)
        return super().event(event)

    def _build_after_paint(self) -> None:
        """What the first paint need not wait for: the job list, the viewer and details, the keychain, the demo."""
        from ui.details import DetailsPane
        from ui.jobs_panel import JobsPanel

        if self.details is None:
            self.jobs = JobsPanel(self.studio, self)
            self._left_column.replaceWidget(self._jobs_slot, self.jobs)
            self.details = DetailsPane(self.show_error, self)
            self.details.library = self.library
            sizes = self.splitter.sizes()
            self.splitter.replaceWidget(2, self.details)
            self.splitter.setSizes(sizes)  # as restored or laid out, not as the new part's size hint would have it
            for slot in (self._jobs_slot, self._details_slot):
                slot.deleteLater()
            self.browser.currentChanged.connect(self.details.show_row)
            self.browser.activated.connect(lambda _row: self.details.viewer.setFocus())
            self.details.stepRequested.connect(self.browser.step)
            self._restore_splitter(self.details.splitter, (self.settings.get("window", {}) or {}).get("right_splitter"))
            self.details.show_row(self.browser.current_row())
        self.studio.refresh()

    def _connection_changed(self, state: ConnectionState) -> None:
        self.endpoint_label.setText(tr("Endpoint: {0}").format(state.endpoint.label))
        if self.library is not None and self.library.read_only_reason:
            return  # says more than any endpoint message
        notice = connection_notice(state.endpoint.name, state.endpoint.label, state.ready, state.has_key)
        if notice is not None:
            self._show(notice)
        elif state.ready:
            self.banner.hide()

    def _explain_failure(self, job: Job) -> None:
        notice = failure_notice(job)
        if notice is not None:
            self._show(notice, job)

    def _show(self, notice: Notice, job: Job | None = None) -> None:
        actions = {"settings": (tr("Add a key…"), self.open_settings), "retry": (tr("Retry"), lambda: self._retry(job))}
        label, callback = actions.get(notice.action, (None, None))
        if notice.action == "settings" and job is not None:
            label = tr("Open Settings")
        self.banner.show_message(notice.text, notice.level, label, callback)

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
        except (ValueError, TypeError):
            self.resize(QSize(1400, 860))
        self._restore_splitter(self.splitter, state.get("splitter"))

    @staticmethod
    def _restore_splitter(splitter: QSplitter, saved: str | None) -> None:
        try:
            if saved:
                splitter.restoreState(QByteArray(base64.b64decode(saved)))
        except (ValueError, TypeError):
            pass

    def save_state(self) -> None:
        def encoded(data: QByteArray) -> str:
            return base64.b64encode(bytes(data.data())).decode()

        state = dict(self.settings.get("window", {}) or {})
        state.update(
            geometry=encoded(self.saveGeometry()),
            splitter=encoded(self.splitter.saveState()),
            thumb_size=self.browser.thumb_size.value(),
        )
        if self.details is not None:
            state["right_splitter"] = encoded(self.details.splitter.saveState())
        self.settings.set("window", state)
        self.panel.save_state()
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    async def shutdown(self) -> None:
        """Cancels what runs (each job records how it ended), sends deleted images to the trash."""
        import asyncio

        await self.studio.shutdown()
        for part in (self, self.panel, self.details, self.actions, self.jobs, self.spending, self.organize):
            if part is not None:
                part.tasks.cancel_all()
        self.organize.close_views()
        await self.importing.shutdown()
        await self.browser.shutdown()
        if self.library is not None:
            try:
                await asyncio.to_thread(self.library.purge_trashed)
            except Exception:
                log.exception("could not empty the deleted images")
