"""Spending in the window (#15): View › Spending… opens the Spending view (built on first use, refreshed when an
image is saved); a job a spending cap refused offers, in the banner, to raise that cap (set off the GUI thread)."""

from __future__ import annotations

import asyncio
import math

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from services.app import Services
from services.errors import BudgetError
from services.jobs import Job
from services.status import Status
from ui.banner import Banner
from ui.common import TaskSlots, money, tr
from ui.studio import Studio


def suggested_cap(error: BudgetError) -> float:
    """Enough for the refused job and as much again: the spent amount plus twice the estimate, or double the cap."""
    need = error.spent + 2 * (error.estimated or 0.0)
    return float(math.ceil(max(need, error.cap * 2, 1.0)))


class CapDialog(QDialog):
    """Sets the cap that refused a job: the daily or monthly cap of that endpoint (or of all endpoints)."""

    def __init__(self, error: BudgetError, parent=None):
        super().__init__(parent)
        self.error = error
        scope = error.endpoint or tr("all endpoints")
        self.setWindowTitle(tr("Raise the spending cap"))
        text = QLabel(
            tr("The {0} cap for {1} is {2}; {3} is spent. New {0} cap (USD):").format(
                tr(error.period), scope, money(error.cap), money(error.spent)
            ),
            self,
        )
        text.setWordWrap(True)
        self.cap = QDoubleSpinBox(self)
        self.cap.setRange(0.0, 1_000_000.0)
        self.cap.setDecimals(2)
        self.cap.setPrefix("$")
        self.cap.setValue(suggested_cap(error))
        self.cap.setAccessibleName(tr("New cap in dollars"))
        form = QFormLayout()
        form.addRow(tr("{0} cap").format(tr(error.period).capitalize()), self.cap)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addLayout(form)
        layout.addWidget(buttons)


class SpendingControls(QObject):
    capChanged = Signal(str)  # a sentence saying the new cap

    def __init__(self, services: Services, studio: Studio, banner: Banner, window: QWidget):
        super().__init__(window)
        self.services = services
        self.studio = studio
        self.banner = banner
        self.window = window
        self.view = None
        self.dialog: CapDialog | None = None
        self.tasks = TaskSlots(lambda sentence: banner.show_message(sentence, "error"))
        self.open_action = QAction(tr("&Spending…"), window)
        self.open_action.triggered.connect(self.open_view)
        studio.imageSaved.connect(lambda _job, _image: self._refresh())
        studio.jobFinished.connect(self._job_finished)
        window.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Close and self.view is not None:  # the view is its own window
            self.view.close()
        return False

    def open_view(self):
        from ui.spending import SpendingView  # built on first use, not at start-up

        if self.view is None:
            self.view = SpendingView(self.services.ledger(), self.window)
            self.view.setWindowFlag(Qt.WindowType.Window)
        else:
            self.view.refresh()
        self.view.show()
        self.view.raise_()
        self.view.activateWindow()
        return self.view

    def _refresh(self) -> None:
        if self.view is not None and self.view.isVisible():
            self.view.refresh()

    def _job_finished(self, job: Job) -> None:
        if job.status is Status.BUDGET and job.budget is not None:
            error = job.budget
            self.banner.show_message(job.message, "warning", tr("Raise the cap…"), lambda: self.offer_raise(error))

    def offer_raise(self, error: BudgetError) -> CapDialog:
        """A window-modal dialog opened with open(), never exec(): the event loop keeps running."""
        dialog = self.dialog = CapDialog(error, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.tasks.run("cap", self.set_cap(error, dialog.cap.value())))
        dialog.open()
        return dialog

    async def set_cap(self, error: BudgetError, usd: float) -> None:
        cap = {"daily": usd} if error.period == "daily" else {"monthly": usd}
        try:
            await asyncio.to_thread(self.services.ledger().set_budget, error.endpoint, **cap)
        except ValueError as exc:
            self.banner.show_message(str(exc), "error")
            return
        scope = error.endpoint or tr("all endpoints")
        sentence = tr("The {0} cap for {1} is now {2}.").format(tr(error.period), scope, money(usd))
        self.banner.show_message(sentence, "info")
        self.capChanged.emit(sentence)
        self._refresh()
