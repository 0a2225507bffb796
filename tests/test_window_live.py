"""The real window, offscreen, against the emulator on loopback: live progress in the job list (#12), spending in
the window and quota pauses (#15)."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from services.emulator import Emulator, Fault, google_error
from services.ledger import endpoint_key
from services.status import ErrorKind, Status
from tests import test_window
from tests.test_window import close_window, generate, open_window, type_prompt
from ui.drafts import DRAFT_EDGE
from ui.spending import SpendingView

MODEL = "gemini-3.1-flash-image"
services, window = test_window.services, test_window.window  # the same fixtures: the window on the offline demo


def send(qtbot, window, prompt, model=MODEL):
    """Types a prompt and presses Ctrl+Return; returns the new job without waiting for it."""
    type_prompt(qtbot, window, prompt)
    window.panel.model_selector.select(model)
    before = len(window.studio.queue.jobs)
    qtbot.keyClick(window.panel.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(window.studio.queue.jobs) == before + 1, window.panel.input_error.text()
    return window.studio.queue.jobs[-1]


def row_of(qtbot, window, job):
    qtbot.waitUntil(lambda: window.jobs is not None and window.jobs.row_for(job) is not None, timeout=5000)
    return window.jobs.row_for(job)


def menu_action(window, menu_title, text):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == menu_title)
    assert isinstance(menu, QMenu)
    return next(a for a in menu.actions() if a.text() == text)


@pytest.mark.slow
def test_a_running_job_shows_its_thought_and_a_draft_and_cancels_mid_stream(qtbot, window):
    job = send(qtbot, window, "#slow a lighthouse in fog")  # the emulator streams its events over 20 s
    row = row_of(qtbot, window, job)
    qtbot.waitUntil(lambda: row.thought.isVisible(), timeout=15_000)
    assert "Planning the picture" in row.thought.text() and job.status is Status.RUNNING
    qtbot.waitUntil(lambda: bool(row.drafts()), timeout=15_000)
    preview = row.previews[row.drafts()[0]]
    assert preview.caption.text() == "draft" and not job.finished
    pixmap = preview.picture.pixmap()
    assert 0 < max(pixmap.width(), pixmap.height()) <= DRAFT_EDGE
    qtbot.mouseClick(row.button, Qt.MouseButton.LeftButton)  # cancel while the stream is still open
    qtbot.waitUntil(lambda: job.finished, timeout=10_000)
    assert job.status is Status.CANCELLED and job.images == []
    assert row.drafts() == [] and not row.thought.isVisible()


def test_the_final_image_replaces_the_drafts_in_the_job_row(qtbot, window):
    job = generate(qtbot, window, "a kite over dunes")
    row = row_of(qtbot, window, job)
    qtbot.waitUntil(lambda: any(p.final for p in row.previews.values()), timeout=5000)
    assert job.status is Status.OK and row.drafts() == [] and not row.thought.isVisible()
    assert [p.caption.text() for p in row.previews.values()] == ["image 1"]


@pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")  # the offscreen platform's limits
def test_view_spending_opens_the_view_and_the_demo_is_never_counted(qtbot, window):
    action = menu_action(window, "&View", "&Spending…")
    assert window.spending.view is None  # built on first use
    action.trigger()
    view = window.spending.view
    assert isinstance(view, SpendingView) and view.isVisible()
    generate(qtbot, window, "a free picture")
    qtbot.waitUntil(lambda: not view.tasks.pending() and view.data is not None, timeout=5000)
    ledger = window.services.ledger()
    assert ledger.spent(None, None) == 0.0 and ledger.summary(None, None).rows == []
    action.trigger()
    assert window.spending.view is view  # one view, shown again


@pytest.fixture
def priced(qtbot, qloop, services, monkeypatch):
    """The window on a custom endpoint (the emulator) that is priced and capped like a real one."""
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-shown")
    with Emulator() as server:
        services.settings.set("endpoint", "custom")
        services.settings.set("custom_url", server.url)
        w = open_window(qtbot, services)
        assert w.studio.endpoint.base_url.startswith("http://127.0.0.1")  # never Google from a test
        yield w, server
        close_window(qtbot, w)


def test_a_budget_refusal_ends_as_budget_and_the_window_raises_the_cap(qtbot, priced):
    window, server = priced
    ledger = window.services.ledger()
    spend_key = endpoint_key(window.studio.endpoint)
    ledger.set_budget(spend_key, daily=0.0)
    window.panel.model_selector.select(MODEL)
    assert "about $" in window.panel.generate_button.text()
    job = generate(qtbot, window, "a lighthouse")
    assert job.status is Status.BUDGET and job.error_kind is ErrorKind.BUDGET and "daily cap" in job.message
    assert not [r for r in server.requests if ":streamGenerateContent" in r.path or ":generateContent" in r.path]
    assert window.banner.isVisible() and window.banner.label.text() == job.message
    assert window.banner.action.text() == "Raise the cap…"
    qtbot.mouseClick(window.banner.action, Qt.MouseButton.LeftButton)
    dialog = window.spending.dialog
    assert dialog.isVisible() and dialog.cap.value() >= 1.0
    dialog.cap.setValue(5.0)
    dialog.accept()
    qtbot.waitUntil(lambda: "now $5.00" in window.banner.label.text(), timeout=5000)
    assert [(b.endpoint, b.daily) for b in ledger.budgets()] == [(spend_key, 5.0)]
    again = generate(qtbot, window, "a lighthouse")
    assert again.status is Status.OK, again.message
    assert ledger.spent(None, None, spend_key) > 0  # a billed attempt is counted


def daily_quota_fault() -> Fault:
    violation = {"quotaMetric": "generate_requests", "quotaId": "GenerateRequestsPerDayPerProjectPerModel"}
    details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]}]
    return Fault(status=429, body=google_error(429, "RESOURCE_EXHAUSTED", "You exceeded your quota.", details))


def test_a_daily_quota_pauses_the_window_queue_until_resumed_by_hand(qtbot, window):
    window.services.demo_server().script(daily_quota_fault())
    first = generate(qtbot, window, "a harbour at dawn")
    assert first.status is Status.ERROR and first.error_kind is ErrorKind.DAILY_QUOTA
    banner = window.pause_banner
    qtbot.waitUntil(banner.isVisible, timeout=5000)
    assert "Jobs for demo are paused until" in banner.label.text() and "daily quota" in banner.label.text()
    assert "daily quota" not in window.banner.label.text()  # said once, in the pause banner
    second = send(qtbot, window, "a harbour at dusk")
    qtbot.waitUntil(lambda: second.status is Status.PAUSED, timeout=5000)
    row = row_of(qtbot, window, second)
    assert "Paused" in row.state.text()
    qtbot.mouseClick(banner.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: second.finished, timeout=20_000)
    assert second.status is Status.OK and not banner.isVisible() and window.studio.queue.pauses == {}


def test_a_draft_preview_is_small_and_bad_bytes_give_none(qapp):
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QImage

    from ui.drafts import preview_image

    picture = QImage(2000, 1000, QImage.Format.Format_RGB32)
    picture.fill(0x336699)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    assert picture.save(buffer, "PNG")
    preview = preview_image(bytes(buffer.data()))
    assert (preview.width(), preview.height()) == (DRAFT_EDGE, DRAFT_EDGE // 2)
    assert preview_image(b"<html>not a picture</html>") is None and preview_image(b"") is None
    assert preview_image(bytes(buffer.data())[:200]) is None  # half a body
