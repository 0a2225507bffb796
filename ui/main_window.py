"""The studio window: composes the parts (generate, jobs, browse, details) around the studio controller, and the
menus. The parts talk through the controller's signals and each other's methods, never each other's widgets.
Built in two steps, so it paints before the parts' modules are imported (they take longer than the paint): the frame
(menu titles, banner, status bar, a stand-in where each part goes), then build_parts(); ui/app.py paints between."""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QSize, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QSplitter, QVBoxLayout, QWidget

from ui.banner import Banner
from ui.common import TaskSlots, tr
from ui.menus import build_menus, menu_titles
from ui.notices import Notice, connection_notice, failure_notice
from ui.opening import GalleryStandIn, GenerateStandIn

if TYPE_CHECKING:
    from services.app import Services
    from services.endpoints import Endpoint
    from services.jobs import Job
    from services.library import Library

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(self, services: Services, library: Library | None = None, *, parts_later: bool = False):
        """Without a library the window shows itself at once, "opening"; set_library() completes it.
        parts_later: only the frame now; the caller paints it, then calls build_parts()."""
        super().__init__()
        self._painted = False
        self.services = services
        self.settings = services.settings
        self.library: Library | None = None
        self.tasks = TaskSlots(self.show_error)
        self.setWindowTitle("Atelier")
        self.setAcceptDrops(True)
        self.studio = self.panel = self.browser = None  # built by build_parts()
        self.jobs = self.details = None  # built after the first paint (_build_after_paint)
        self.banner = Banner(self)
        self._menus = menu_titles(self)
        self._generate_slot, self._gallery_slot = GenerateStandIn(self), GalleryStandIn(self)
        self._jobs_slot, self._details_slot = QWidget(self), QWidget(self)
        self._layout()
        self._restore_state(self.settings.get("window", {}) or {})
        endpoint = services.endpoint(cheap=True)  # what the studio starts from, without the keychain
        self._show_connection(endpoint, ready=False, has_key=not endpoint.needs_key)
        if not parts_later:
            self.build_parts(library)

    def build_parts(self, library: Library | None = None) -> None:
        from ui.batches_menu import BatchesControls
        from ui.browser import Browser
        from ui.generate_panel import GeneratePanel
        from ui.image_actions import ImageActions
        from ui.import_menu import ImportControls
        from ui.importer import DropOffer
        from ui.organize_menu import OrganizeControls
        from ui.pause_banner import PauseBanner
        from ui.refine import RefineControls
        from ui.spending_menu import SpendingControls
        from ui.studio import Studio

        services, state = self.services, self.settings.get("window", {}) or {}
        self.studio = Studio(services, self)
        self.studio.failed.connect(self.show_error)
        self.pause_banner = PauseBanner(self.studio, self)
        self.spending = SpendingControls(services, self.studio, self.banner, self)
        self.panel = GeneratePanel(self.studio, self.settings, services.paths.cache / "pasted", self.show_error, self)
        self.browser = Browser(self.studio, int(state.get("thumb_size", 192)), self.show_error, self)
        self.actions = ImageActions(self.studio, self.browser, self.panel, self)
        self.refine = RefineControls(self.studio, self.browser, self.panel, self)
        self.batches = BatchesControls(services, self.studio, self.banner, self, lambda _saved: self.browser.reload())
        self.organize = OrganizeControls(self.studio, self.browser, self.actions, self.show_error, self)
        self.importing = ImportControls(self.studio, self, self.browser.reload)
        self.drop_offer = DropOffer(self.panel, self.show_error, self)  # an image dropped on the prompt: a menu
        self.studio.libraryOpened.connect(self._library_opened)
        self.studio.connectionChanged.connect(lambda s: self._show_connection(s.endpoint, s.ready, s.has_key))
        self.studio.jobFinished.connect(self._explain_failure)
        for part in (self.actions, self.refine):
            part.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
            part.error.connect(self.show_error)
        self.refine.note.connect(lambda text: self.show_error(text, "info"))
        self._place_parts()
        build_menus(self, self._menus)
        if self._painted:
            QTimer.singleShot(0, self._build_after_paint)
        if library is not None:
            self.set_library(library)

    def _layout(self) -> None:
        left = QWidget(self)
        column = QVBoxLayout(left)
        column.addWidget(self._generate_slot, 3)
        column.addWidget(self._jobs_slot, 1)
        self._left_column = column
        left.setMinimumWidth(320)
        self.splitter = QSplitter(parent=self)  # horizontal; by keyword: QSplitter(self) makes Qt's enums (ui/app.py)
        for part in (left, self._gallery_slot, self._details_slot):
            self.splitter.addWidget(part)
        for i, stretch in enumerate((0, 3, 2)):
            self.splitter.setStretchFactor(i, stretch)
        self.splitter.setSizes([320, 800, 300])  # room for the boards and filters the gallery has once open
        central = QWidget(self)
        self._outer = QVBoxLayout(central)
        self._outer.setContentsMargins(6, 6, 6, 0)
        self._outer.addWidget(self.banner)
        self._outer.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.endpoint_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.endpoint_label)

    def _place_parts(self) -> None:
        """The parts take their stand-ins' places, at the sizes the frame was laid out or restored with."""
        self._outer.insertWidget(1, self.pause_banner)
        self._left_column.replaceWidget(self._generate_slot, self.panel)
        self.panel.prompt.setFocus()  # keys pressed while the parts were built land here
        sizes = self.splitter.sizes()
        self.splitter.replaceWidget(1, self.organize.area)
        self.splitter.setSizes(sizes)
        for stand_in in (self._generate_slot, self._gallery_slot):
            stand_in.hide()
            stand_in.deleteLater()
        self.undo_button = self.actions.undo_button()
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
            if self.studio is not None:
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
            self.organize.attach_details(self.details)
            self._restore_splitter(self.details.splitter, (self.settings.get("window", {}) or {}).get("right_splitter"))
            self.refine.attach_details(self.details)
            self.details.show_row(self.browser.current_row())
        self.studio.refresh()

    def _show_connection(self, endpoint: Endpoint, ready: bool, has_key: bool) -> None:
        self.endpoint_label.setText(tr("Endpoint: {0}").format(endpoint.label))
        if self.library is not None and self.library.read_only_reason:
            return  # says more than any endpoint message
        notice = connection_notice(endpoint.name, endpoint.label, ready, has_key)
        if notice is not None:
            self._show(notice)
        elif ready:
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
        from services.errors import InputError

        try:
            self.studio.retry(job)
        except InputError as exc:
            self.show_error(str(exc))

    def show_error(self, message: str, kind: str = "error") -> None:
        self.banner.show_message(message, kind)

    # --- menus' own actions -----------------------------------------------------------------------------------

    def open_settings(self):
        from PySide6.QtCore import Qt

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
            restored = self.restoreGeometry(QByteArray(base64.b64decode(state.get("geometry") or "")))
        except (ValueError, TypeError):
            restored = False
        if not restored:
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
        state.update(geometry=encoded(self.saveGeometry()), splitter=encoded(self.splitter.saveState()))
        if self.browser is not None:  # closed before its parts were built, the window keeps what it had
            state["thumb_size"] = self.browser.thumb_size.value()
            state.update(self.organize.saved_state())
            self.panel.save_state()
        if self.details is not None:
            state["right_splitter"] = encoded(self.details.splitter.saveState())
        self.settings.set("window", state)
        try:
            self.settings.save()
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    async def shutdown(self) -> None:
        """Cancels what runs (each job records how it ended), sends deleted images to the trash."""
        import asyncio

        if self.studio is None:
            return
        await self.studio.shutdown()
        parts = (self, self.panel, self.details, self.actions, self.refine, self.jobs, self.spending, self.organize)
        for part in parts:
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
