"""The Spending view, offscreen, on a qasync loop, over a real ledger file: periods, tables, hover, Export CSV."""

from datetime import date, datetime, timedelta

import pytest
from PySide6.QtCore import QDate, QPoint, Qt
from PySide6.QtWidgets import QToolTip

from services.ledger import Ledger
from services.spending import SpendRecord
from ui.spending import SpendingView

TODAY = date(2026, 11, 18)  # a Wednesday: this week is 16-18 November


def noon(day: date) -> float:
    return datetime.combine(day, datetime.min.time()).timestamp() + 12 * 3600


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "spending.sqlite3")
    for gid, day, usd, model, endpoint, estimated in [
        ("a", TODAY, 0.134, "gemini-3-pro-image", "google", False),
        ("b", TODAY, 0.24, "gemini-3-pro-image", "google", True),
        ("c", TODAY - timedelta(days=1), 0.067, "gemini-3.1-flash-image", "chainhub", False),
        ("d", TODAY - timedelta(days=5), 0.04, "imagen-4.0-generate-001", "chainhub", False),
        ("e", TODAY - timedelta(days=20), 1.5, "gemini-3-pro-image", "google", False),  # October
    ]:
        ledger.record(SpendRecord(gid, "/lib", endpoint, model, usd, estimated, 1, noon(day)))
    ledger.set_budget(None, daily=1.0, monthly=20.0)
    yield ledger
    ledger.close()


@pytest.fixture
def view(qtbot, qloop, ledger):
    view = SpendingView(ledger, today=lambda: TODAY)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.data is not None and not view.tasks.pending(), timeout=10_000)
    yield view
    view.tasks.cancel_all()


def settle(qtbot, view):
    qtbot.waitUntil(lambda: not view.tasks.pending(), timeout=10_000)


def table(widget):
    return [[widget.item(r, c).text() for c in range(widget.columnCount())] for r in range(widget.rowCount())]


def test_periods_totals_and_tables(qtbot, view):
    assert (view.today_total.text(), view.week_total.text(), view.month_total.text()) == ("$0.374", "$0.441", "$0.481")
    assert view.period() == (date(2026, 11, 1), TODAY) and len(view.chart.bars()) == 18
    assert "$0.481 · 4 images · 4 attempts · $0.240 estimated" in view.totals.text()
    assert table(view.by_model) == [
        ["gemini-3-pro-image", "$0.374", "2", "2"],
        ["gemini-3.1-flash-image", "$0.067", "1", "1"],
        ["imagen-4.0-generate-001", "$0.040", "1", "1"],
    ]
    assert table(view.by_endpoint) == [["google", "$0.374", "2", "2"], ["chainhub", "$0.107", "2", "2"]]
    assert "All endpoints: $1.00 a day, $0.626 left today; $20.00 a month, $19.52 left" in view.budget_label.text()

    qtbot.mouseClick(view.button("today"), Qt.MouseButton.LeftButton)
    settle(qtbot, view)
    assert view.period() == (TODAY, TODAY) and table(view.by_endpoint) == [["google", "$0.374", "2", "2"]]

    qtbot.mouseClick(view.button("range"), Qt.MouseButton.LeftButton)
    assert view.since_edit.isEnabled() and not view.button("today").isChecked()
    view.since_edit.setDate(QDate(2026, 10, 25))
    view.until_edit.setDate(QDate(2026, 11, 13))
    settle(qtbot, view)
    assert view.period() == (date(2026, 10, 25), date(2026, 11, 13)) and len(view.chart.bars()) == 20
    assert table(view.by_model) == [
        ["gemini-3-pro-image", "$1.50", "1", "1"],
        ["imagen-4.0-generate-001", "$0.040", "1", "1"],
    ]


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the offscreen platform raising the tooltip
def test_hovering_a_bar_shows_its_day_and_value(qtbot, view):
    qtbot.mouseClick(view.button("week"), Qt.MouseButton.LeftButton)
    settle(qtbot, view)
    bars = view.chart.bars()
    assert [b.day for b in bars] == [date(2026, 11, 16), date(2026, 11, 17), TODAY]
    qtbot.mouseMove(view.chart, view.chart.bar_rect(2).center().toPoint())
    qtbot.waitUntil(lambda: QToolTip.isVisible(), timeout=5_000)
    assert QToolTip.text() == "Wed 18 Nov 2026: $0.374 · 2 images · 2 attempts"
    assert view.chart.hovered == 2
    qtbot.mouseMove(view.chart, view.chart.bar_rect(1).center().toPoint())
    qtbot.waitUntil(lambda: QToolTip.text().startswith("Tue 17 Nov 2026: $0.067"), timeout=5_000)
    # An empty day has no bar, but its column still answers.
    assert view.chart.bar_rect(0).height() == 0
    qtbot.mouseMove(view.chart, QPoint(int(view.chart.bar_rect(0).center().x()), view.chart.height() // 2))
    qtbot.waitUntil(lambda: QToolTip.text().startswith("Mon 16 Nov 2026: $0.000"), timeout=5_000)
    assert view.chart.hovered == 0


def test_export_csv_through_the_dialog(qtbot, view, tmp_path):
    target = tmp_path / "exports" / "november.csv"
    target.parent.mkdir()
    qtbot.mouseClick(view.export_button, Qt.MouseButton.LeftButton)
    dialog = view.export_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    dialog.selectFile(str(target))
    dialog.accept()
    qtbot.waitUntil(lambda: target.exists() and not view.tasks.pending(), timeout=10_000)
    assert target.read_text().splitlines() == [
        "day,endpoint,model,usd,estimated_usd,images,attempts",
        "2026-11-13,chainhub,imagen-4.0-generate-001,0.040000,0.000000,1,1",
        "2026-11-17,chainhub,gemini-3.1-flash-image,0.067000,0.000000,1,1",
        "2026-11-18,google,gemini-3-pro-image,0.374000,0.240000,2,2",
    ]
    assert "Saved 3 rows" in view.message.text()


def test_a_damaged_ledger_is_a_sentence_in_the_view(qtbot, qloop, tmp_path):
    path = tmp_path / "spending.sqlite3"
    path.write_bytes(b"not sqlite" * 300)
    view = SpendingView(Ledger(path), today=lambda: TODAY)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: "damaged" in view.message.text(), timeout=10_000)
    assert "spending ledger" in view.message.text() and view.data is None
