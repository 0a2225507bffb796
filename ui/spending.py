"""The Spending view: what was spent today, this week, this month or in a chosen range; by model, by endpoint and
per day (a bar chart); the budgets and what is left; Export CSV. Every ledger query and the CSV write run off the
GUI thread. Days are local days; a week starts on Monday."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDateEdit,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from services.ledger import Ledger
from services.spending import Budget, Summary, SummaryRow, this_month, this_week, write_csv
from ui.common import TaskSlots, money, tr
from ui.spending_chart import DayBar, DayBarChart

PERIODS = ("today", "week", "month", "range")
MAX_CHART_DAYS = 800  # a longer range is summed, not charted day by day


@dataclass
class SpendingData:
    """Everything the view shows, read in one go off the GUI thread."""

    since: date
    until: date
    period: Summary  # by day
    by_model: list[SummaryRow]
    by_endpoint: list[SummaryRow]
    today_usd: float
    week_usd: float
    month_usd: float
    budgets: list[tuple[Budget, float, float]]  # with what is spent today and this month


def read_spending(ledger: Ledger, since: date, until: date, today: date) -> SpendingData:
    by_day = ledger.summary(since, until, by="day")
    budgets = [
        (b, ledger.spent(today, today, b.endpoint), ledger.spent(this_month(today)[0], today, b.endpoint))
        for b in ledger.budgets()
    ]
    return SpendingData(
        since=since,
        until=until,
        period=by_day,
        by_model=ledger.summary(since, until, by="model").rows,
        by_endpoint=ledger.summary(since, until, by="endpoint").rows,
        today_usd=ledger.spent(today, today),
        week_usd=ledger.spent(this_week(today)[0], today),
        month_usd=ledger.spent(this_month(today)[0], today),
        budgets=budgets,
    )


def day_bars(data: SpendingData) -> list[DayBar]:
    """One bar per day of the period, empty days included."""
    spent = {row.key: row for row in data.period.rows}
    days = (data.until - data.since).days + 1
    if days > MAX_CHART_DAYS:
        return []
    bars = []
    for n in range(days):
        day = data.since + timedelta(days=n)
        row = spent.get(day.isoformat())
        bars.append(DayBar(day, row.usd, row.images, row.attempts) if row else DayBar(day, 0.0, 0, 0))
    return bars


def budget_text(budget: Budget, spent_today: float, spent_month: float) -> str:
    scope = tr("All endpoints") if budget.endpoint is None else budget.endpoint
    parts = []
    if budget.daily is not None:
        parts.append(
            tr("{0} a day, {1} left today").format(money(budget.daily), money(max(0, budget.daily - spent_today)))
        )
    if budget.monthly is not None:
        parts.append(
            tr("{0} a month, {1} left").format(money(budget.monthly), money(max(0, budget.monthly - spent_month)))
        )
    return f"{scope}: " + "; ".join(parts)


class SpendingView(QWidget):
    def __init__(self, ledger: Ledger, parent=None, *, today: Callable[[], date] = date.today):
        super().__init__(parent)
        self.setWindowTitle(tr("Spending"))
        self.ledger = ledger
        self._today = today
        self.tasks = TaskSlots(self._show_error)
        self.data: SpendingData | None = None
        self.export_dialog: QFileDialog | None = None

        self.today_total, self.week_total, self.month_total = QLabel(), QLabel(), QLabel()
        cards = QHBoxLayout()
        for title, label in ((tr("Today"), self.today_total), (tr("This week"), self.week_total),
                             (tr("This month"), self.month_total)):  # fmt: skip
            box = QVBoxLayout()
            caption = QLabel(title)
            caption.setStyleSheet("color: palette(placeholder-text);")
            label.setStyleSheet("font-size: 20px; font-weight: 600;")
            box.addWidget(caption)
            box.addWidget(label)
            cards.addLayout(box)
            cards.addSpacing(28)
        cards.addStretch(1)

        self.period_buttons = QButtonGroup(self)
        bar = QHBoxLayout()
        for name, text in zip(PERIODS, (tr("Today"), tr("This week"), tr("This month"), tr("Range")), strict=True):
            button = QPushButton(text)
            button.setCheckable(True)
            button.setObjectName(f"period-{name}")
            self.period_buttons.addButton(button)
            bar.addWidget(button)
        self.since_edit, self.until_edit = QDateEdit(), QDateEdit()
        for edit in (self.since_edit, self.until_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            edit.dateChanged.connect(self._range_changed)
        bar.addSpacing(12)
        bar.addWidget(QLabel(tr("From")))
        bar.addWidget(self.since_edit)
        bar.addWidget(QLabel(tr("to")))
        bar.addWidget(self.until_edit)
        bar.addStretch(1)
        self.export_button = QPushButton(tr("Export CSV…"))
        self.export_button.clicked.connect(self.choose_export_file)
        bar.addWidget(self.export_button)

        self.totals = QLabel()
        self.totals.setTextFormat(Qt.TextFormat.PlainText)
        self.chart = DayBarChart()
        self.by_model = self._table(tr("Model"))
        self.by_endpoint = self._table(tr("Endpoint"))
        tables = QGridLayout()
        tables.addWidget(QLabel(tr("By model")), 0, 0)
        tables.addWidget(QLabel(tr("By endpoint")), 0, 1)
        tables.addWidget(self.by_model, 1, 0)
        tables.addWidget(self.by_endpoint, 1, 1)
        self.budget_label = QLabel()
        self.budget_label.setTextFormat(Qt.TextFormat.PlainText)
        self.budget_label.setWordWrap(True)
        self.message = QLabel()
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addLayout(cards)
        layout.addLayout(bar)
        layout.addWidget(self.totals)
        layout.addWidget(self.chart, 3)
        layout.addLayout(tables, 2)
        layout.addWidget(self.budget_label)
        layout.addWidget(self.message)
        self.resize(860, 620)

        today_q = _qdate(today())
        self.since_edit.setDate(today_q.addDays(-29))
        self.until_edit.setDate(today_q)
        self.period_buttons.buttonClicked.connect(self._period_clicked)
        self.button("month").setChecked(True)
        self.refresh()

    # --- period ------------------------------------------------------------------------------------------------
    def button(self, name: str) -> QPushButton:
        return self.findChild(QPushButton, f"period-{name}")

    def period_name(self) -> str:
        checked = self.period_buttons.checkedButton()
        return checked.objectName().removeprefix("period-") if checked else "month"

    def period(self) -> tuple[date, date]:
        today = self._today()
        name = self.period_name()
        if name == "today":
            return today, today
        if name == "week":
            return this_week(today)
        if name == "month":
            return this_month(today)
        since, until = self.since_edit.date().toPython(), self.until_edit.date().toPython()
        return (since, until) if since <= until else (until, since)

    def _period_clicked(self, _button) -> None:
        custom = self.period_name() == "range"
        self.since_edit.setEnabled(custom)
        self.until_edit.setEnabled(custom)
        self.refresh()

    def _range_changed(self, _date) -> None:
        if self.period_name() == "range":
            self.refresh()

    # --- loading -----------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reads the ledger again (call it after a generation is recorded); a newer call cancels an older one."""
        self.tasks.run("load", self._load())

    async def _load(self) -> None:
        since, until = self.period()
        data = await asyncio.to_thread(read_spending, self.ledger, since, until, self._today())
        self._apply(data)

    def _apply(self, data: SpendingData) -> None:
        self.data = data
        self.message.clear()
        self.today_total.setText(money(data.today_usd))
        self.week_total.setText(money(data.week_usd))
        self.month_total.setText(money(data.month_usd))
        s = data.period
        text = tr("{0} to {1}: {2} · {3} images · {4} attempts").format(
            data.since.isoformat(), data.until.isoformat(), money(s.total_usd), s.images, s.attempts
        )
        if s.estimated_usd:
            text += tr(" · {0} estimated (no usage came back)").format(money(s.estimated_usd))
        if s.unpriced:
            text += tr(" · {0} attempts at an unknown price").format(s.unpriced)
        self.totals.setText(text)
        self.chart.set_bars(day_bars(data))
        self._fill(self.by_model, data.by_model)
        self._fill(self.by_endpoint, data.by_endpoint)
        lines = [budget_text(b, today, month) for b, today, month in data.budgets]
        self.budget_label.setText(
            tr("Budgets: ") + " | ".join(lines) if lines else tr("No budgets set (atelier budget set --daily USD).")
        )

    @staticmethod
    def _table(first: str) -> QTableWidget:
        table = QTableWidget(0, 4)
        table.setHorizontalHeaderLabels([first, tr("Spent"), tr("Images"), tr("Attempts")])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().setVisible(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        return table

    @staticmethod
    def _fill(table: QTableWidget, rows: list[SummaryRow]) -> None:
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate((row.key, money(row.usd), str(row.images), str(row.attempts))):
                item = QTableWidgetItem(value)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, item)

    # --- export ------------------------------------------------------------------------------------------------
    def choose_export_file(self) -> None:
        since, until = self.period()
        dialog = QFileDialog(self, tr("Export spending"), str(Path.home() / f"atelier-spending-{since}-{until}.csv"))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter(tr("CSV files (*.csv)"))
        dialog.setDefaultSuffix("csv")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.fileSelected.connect(lambda path: self.tasks.run("export", self.export_csv(Path(path))))
        dialog.finished.connect(dialog.deleteLater)
        self.export_dialog = dialog
        dialog.open()  # never exec(): a nested loop under qasync

    async def export_csv(self, path: Path) -> None:
        """Writes the period's spending per day, endpoint and model (read and written off the GUI thread)."""
        since, until = self.period()
        rows = await asyncio.to_thread(self.ledger.breakdown, since, until)
        try:
            await asyncio.to_thread(write_csv, path, rows)
        except OSError as exc:
            self._show_error(tr("Could not write {0}: {1}.").format(path, exc.strerror or exc))
            return
        self.message.setText(tr("Saved {0} rows to {1}.").format(len(rows), path))

    def _show_error(self, sentence: str) -> None:
        self.message.setText(sentence)


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)
