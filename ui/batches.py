"""The Batches panel: every batch in the library (also those still running from an earlier session) with its state,
counts and a progress bar; Cancel and Fetch act on the selected one. All work runs on the event loop and in worker
threads through BatchService; the panel only shows records and forwards clicks."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from services.batch import BatchService
from services.batch_store import BatchRecord
from ui.common import TaskSlots, money, tr, when

STATE_TEXT = {
    "pending": "Queued",
    "running": "Running",
    "succeeded": "Finished",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "expired": "Expired",
}
COLUMNS = ("Prompts", "State", "Progress", "Failed", "Saved", "Cost", "Created")


def state_text(record: BatchRecord) -> str:
    if record.state == "succeeded" and not record.ingested and not record.local:
        return tr("Ready to fetch")
    return tr(STATE_TEXT.get(record.state, record.state))


def cost_text(record: BatchRecord) -> str:
    if record.endpoint.get("name") == "demo":
        return tr("free")
    return tr("unknown") if record.estimated_cost_usd is None else money(record.estimated_cost_usd)


class BatchesPanel(QWidget):
    """`service` is the library's BatchService (its resolver knows the endpoints and keys)."""

    imagesSaved = Signal(int)  # how many images a fetch added, so the gallery can reload

    def __init__(self, service: BatchService, parent=None, *, refresh_ms: int = 30_000):
        super().__init__(parent)
        self.service = service
        self.records: list[BatchRecord] = []
        self.tasks = TaskSlots(self._show_error)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels([tr(c) for c in COLUMNS])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.refresh_button = QPushButton(tr("Refresh"), self)
        self.cancel_button = QPushButton(tr("Cancel batch"), self)
        self.fetch_button = QPushButton(tr("Fetch images"), self)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.refresh_button.clicked.connect(self.refresh)
        self.cancel_button.clicked.connect(self._cancel_selected)
        self.fetch_button.clicked.connect(self._fetch_selected)
        buttons = QHBoxLayout()
        for button in (self.refresh_button, self.cancel_button, self.fetch_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self.timer = QTimer(self)
        self.timer.setInterval(refresh_ms)  # the service never asks Google more often than its minimum anyway
        self.timer.timeout.connect(self.refresh)
        self._update_buttons()

    def showEvent(self, event) -> None:  # refreshed while shown: a closed panel asks no server
        self.timer.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        self.timer.stop()
        super().hideEvent(event)

    # --- actions ------------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        self.tasks.run("refresh", self._refresh())

    async def _refresh(self) -> None:
        records = await asyncio.to_thread(self.service.records)
        self._show(records)
        fresh = []
        for record in records:
            if not record.finished:
                record, _ = await self.service.refresh(record)
            fresh.append(record)
        self._show(fresh)

    def selected(self) -> BatchRecord | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def _cancel_selected(self) -> None:
        record = self.selected()
        if record is not None:
            self.message.setText(tr("Cancelling {0}…").format(record.batch_id))
            self.tasks.run(f"batch-{record.batch_id}", self._cancel(record))

    async def _cancel(self, record: BatchRecord) -> None:
        record = await self.service.cancel(record)
        self.message.setText(tr("{0} is {1}.").format(record.batch_id, tr(STATE_TEXT[record.state]).lower()))
        self._replace(record)

    def _fetch_selected(self) -> None:
        record = self.selected()
        if record is not None:
            self.message.setText(tr("Fetching {0}…").format(record.batch_id))
            self.tasks.run(f"batch-{record.batch_id}", self._fetch(record))

    async def _fetch(self, record: BatchRecord) -> None:
        before = record.saved
        result = await self.service.fetch(record)
        record = result.record
        if not record.finished:
            text = tr("{0} is not finished yet: {1} of {2} done.")
            self.message.setText(text.format(record.batch_id, record.succeeded + record.failed, record.requests))
        else:
            text = tr("{0}: {1} image(s) saved, {2} failed.")
            self.message.setText(text.format(record.batch_id, len(result.images), result.failed))
            if len(result.images) > before:
                self.imagesSaved.emit(len(result.images) - before)
        self._replace(record)

    def shutdown(self) -> None:
        self.timer.stop()
        self.tasks.cancel_all()

    # --- showing ------------------------------------------------------------------------------------------------

    def _show_error(self, text: str) -> None:
        self.message.setText(text)

    def _replace(self, record: BatchRecord) -> None:
        self._show([record if r.batch_id == record.batch_id else r for r in self.records])

    def _show(self, records: list[BatchRecord]) -> None:
        chosen = self.selected()
        self.records = list(records)
        self.tree.clear()
        for record in self.records:
            item = QTreeWidgetItem(self.tree)
            done = record.succeeded + record.failed
            values = (
                (record.title or record.batch_id) + (tr(" (here)") if record.local else ""),
                state_text(record),
                "",
                str(record.failed),
                str(record.saved),
                cost_text(record),
                when(record.created_at),
            )
            for column, value in enumerate(values):
                item.setText(column, value)
            item.setToolTip(0, tr("Batch {0} · {1}").format(record.batch_id, record.model))
            if record.error:
                item.setToolTip(1, record.error)
            item.setData(0, Qt.ItemDataRole.UserRole, record)
            bar = QProgressBar(self.tree)
            bar.setRange(0, max(1, record.requests))
            bar.setValue(record.requests if record.finished and record.state == "succeeded" else done)
            bar.setFormat(tr("{0} of {1} done").format(bar.value(), record.requests))
            bar.setTextVisible(True)
            bar.setMinimumWidth(130)
            self.tree.setItemWidget(item, COLUMNS.index("Progress"), bar)
            if chosen is not None and chosen.batch_id == record.batch_id:
                item.setSelected(True)
        self._update_buttons()

    def _update_buttons(self) -> None:
        record = self.selected()
        self.cancel_button.setEnabled(record is not None and not record.finished and not record.local)
        self.fetch_button.setEnabled(record is not None and not record.local)
