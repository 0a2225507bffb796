"""The real window, offscreen, against the emulator on loopback: what an artist does in a session."""

import asyncio
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QAbstractItemModelTester

from services.app import Services
from services.library import GalleryRow as R
from services.library import HistoryQuery
from ui.main_window import MainWindow


@pytest.fixture(scope="module")
def qloop(qapp):
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.events._set_running_loop(None)  # the other test modules use asyncio.run
    loop._QEventLoop__is_running = False  # qasync marks an already-running loop; close() joins its threads
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def services(isolated_home):
    services = Services.create()
    services.settings.set("endpoint", "demo")
    yield services
    services.shutdown()


def open_window(qtbot, services):
    library = services.open_library()
    window = MainWindow(services, library)  # not qtbot.addWidget: close_window() shuts it down properly
    window.show()
    qtbot.waitUntil(lambda: not window.tasks.pending(), timeout=10_000)
    return window


def close_window(qtbot, window):
    window.save_state()
    task = asyncio.ensure_future(window.shutdown())
    qtbot.waitUntil(task.done, timeout=20_000)
    window.library.close()
    window.close()


@pytest.fixture
def window(qtbot, qloop, services):
    w = open_window(qtbot, services)
    yield w
    close_window(qtbot, w)


def generate(qtbot, window, prompt, model="gemini-3.1-flash-image", count=1):
    window.prompt.setPlainText(prompt)
    window.model_selector.select(model)
    window.count.setValue(count)
    qtbot.keyClick(window.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    job = window.queue.jobs[-1]
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    return job


def test_generate_see_thumbnail_open_in_viewer(qtbot, window):
    assert window.gallery_model.rowCount() == 0 and window.empty_hint.isVisible()
    job = generate(qtbot, window, "a lighthouse at dusk", count=2)
    assert job.state == "done" and len(job.images) == 2
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 2)
    index = window.gallery_model.index(0)
    qtbot.waitUntil(lambda: index.data(Qt.ItemDataRole.DecorationRole) is not None, timeout=10_000)
    window.gallery.setCurrentIndex(index)
    qtbot.waitUntil(window.viewer.has_image, timeout=10_000)
    assert "a lighthouse at dusk" in window.details.text() and "gemini-3.1-flash-image" in window.details.text()
    row = window.jobs.row_for(job)
    assert "Done" in row.state.text()
    assert window.prompt.history[-1] == "a lighthouse at dusk"


def test_controls_follow_the_model(qtbot, window):
    window.model_selector.select("imagen-4.0-generate-001")
    assert window.person_row.isVisibleTo(window) and not window.seed_row.isVisibleTo(window)
    assert not window.references.isVisibleTo(window)
    assert [window.aspect.itemText(i) for i in range(window.aspect.count())] == ["1:1", "3:4", "4:3", "9:16", "16:9"]
    assert window.count.maximum() == 4
    window.model_selector.select("gemini-2.5-flash-image")
    assert not window.size_row.isVisibleTo(window) and window.seed_row.isVisibleTo(window)
    assert "21:9" in [window.aspect.itemText(i) for i in range(window.aspect.count())]
    window.model_selector.select("gemini-3.1-flash-image")
    assert [window.size.itemText(i) for i in range(window.size.count())] == ["512", "1K", "2K", "4K"]
    assert "free" in window.generate_button.text()


def test_retired_model_on_google_offers_its_replacement(qtbot, qloop, services, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-used")
    services.settings.set("endpoint", "google")
    w = open_window(qtbot, services)
    try:
        w.model_selector.select("imagen-4.0-generate-001")
        assert w.retired_note.isVisibleTo(w) and "2026-08-17" in w.retired_note.text()
        assert "$" in w.generate_button.text()
        qtbot.mouseClick(w.use_replacement, Qt.MouseButton.LeftButton)
        assert w.model_selector.current_id() == "gemini-3.1-flash-image"
    finally:
        w.tasks.cancel_all()
        close_window(qtbot, w)


def test_empty_prompt_is_refused_in_the_editor(qtbot, window):
    window.prompt.setPlainText("   ")
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    assert window.input_error.isVisibleTo(window) and "empty" in window.input_error.text()
    assert window.queue.jobs == []


def test_blocked_attempt_is_explained(qtbot, window):
    job = generate(qtbot, window, "a cat #blocked")
    assert job.state == "blocked"
    row = window.jobs.row_for(job)
    assert row.message.isVisibleTo(window) and "PROHIBITED_CONTENT" in row.message.text()
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 1)
    gallery_row = window.gallery_model.rows[0]
    assert gallery_row[R.IMAGE_ID] is None and gallery_row[R.STATUS] == "blocked"
    window.gallery.setCurrentIndex(window.gallery_model.index(0))
    assert "PROHIBITED_CONTENT" in window.details.text()
    window.show_failed.setChecked(False)
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 0)


def test_search_favourite_delete_and_undo(qtbot, window):
    generate(qtbot, window, "a red fox in snow")
    generate(qtbot, window, "a lighthouse at dusk")
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 2)
    qtbot.keyClicks(window.search, "fox")
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 1, timeout=5000)
    fox = window.gallery_model.rows[0]
    window.gallery.setCurrentIndex(window.gallery_model.index(0))
    window.image_actions["favourite"].trigger()
    qtbot.waitUntil(lambda: window.gallery_model.rows[0][R.FAVOURITE] == 1)
    assert window.library.gallery(HistoryQuery(favourites_only=True))[0][R.IMAGE_ID] == fox[R.IMAGE_ID]
    window.search.clear()
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 2, timeout=5000)
    window.gallery.setCurrentIndex(window.gallery_model.index(window.gallery_model.row_of(fox[R.IMAGE_ID])))
    window.gallery.selectionModel().select(
        window.gallery.currentIndex(), window.gallery.selectionModel().SelectionFlag.ClearAndSelect
    )
    window.image_actions["delete"].trigger()
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 1)
    assert window.undo_button.isVisibleTo(window)
    path = window.library.root / fox[R.PATH]
    # kept in the library's own trash folder (which a rebuild does not index) until the window closes
    assert not path.exists() and window.library.files.in_trash(fox[R.PATH]).exists()
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 2, timeout=5000)
    assert path.exists()


def test_cancel_a_slow_job(qtbot, window):
    window.prompt.setPlainText("a very slow painting #slow")
    window.generate_button.click()
    job = window.queue.jobs[-1]
    qtbot.waitUntil(lambda: job.state == "running", timeout=5000)
    row = window.jobs.row_for(job)
    started = time.monotonic()
    qtbot.mouseClick(row.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.finished, timeout=5000)
    assert job.state == "cancelled" and time.monotonic() - started < 5
    assert "Cancelled" in row.state.text()
    qtbot.waitUntil(lambda: window.library.history() and window.library.history()[0].status == "cancelled")


def test_history_survives_restart(qtbot, qloop, services):
    w = open_window(qtbot, services)
    generate(qtbot, w, "a koi pond", model="imagen-4.0-fast-generate-001", count=3)
    w.thumb_size.setValue(128)
    close_window(qtbot, w)
    again = open_window(qtbot, services)
    try:
        qtbot.waitUntil(lambda: again.gallery_model.rowCount() == 3, timeout=5000)
        assert again.thumb_size.value() == 128
        assert again.model_selector.current_id() == "imagen-4.0-fast-generate-001"
        assert again.prompt.history[-1] == "a koi pond"
    finally:
        close_window(qtbot, again)


def test_gallery_model_passes_qt_model_tester(qtbot, window, monkeypatch):
    import ui.gallery

    generate(qtbot, window, "one", count=2)
    generate(qtbot, window, "two #noimage")
    tester = QAbstractItemModelTester(window.gallery_model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    monkeypatch.setattr(ui.gallery, "FIRST_ROWS", 2)  # the first rows, then the rest appended
    inserted = []
    window.gallery_model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    window.gallery.setCurrentIndex(window.gallery_model.index(1))
    window.reload_gallery()
    qtbot.waitUntil(lambda: not window.tasks.pending(), timeout=5000)
    assert inserted == [(2, 2)] and window.gallery.currentIndex().row() == 1
    generate(qtbot, window, "three")
    window.gallery_model.remove_keys({window.gallery_model.rows[0][R.IMAGE_ID]})
    assert tester is not None and window.gallery_model.rowCount() == 3


def test_reference_from_gallery_goes_into_the_request(qtbot, window):
    generate(qtbot, window, "a logo")
    qtbot.waitUntil(lambda: window.gallery_model.rowCount() == 1)
    window.gallery.setCurrentIndex(window.gallery_model.index(0))
    window.image_actions["reference"].trigger()
    qtbot.waitUntil(lambda: len(window.references.references) == 1, timeout=5000)
    job = generate(qtbot, window, "put the logo on a mug", model="gemini-3-pro-image")
    assert job.state == "done"
    server = window.services.demo_server()
    parts = server.requests[-1].body["contents"][0]["parts"]
    assert "inlineData" in parts[1]


def test_corrupt_index_at_start_is_rebuilt_after_asking(qtbot, qloop, services):
    from PySide6.QtWidgets import QApplication, QMessageBox

    from ui.app import open_library_or_explain

    w = open_window(qtbot, services)
    generate(qtbot, w, "a paper crane", count=2)
    close_window(qtbot, w)
    db = services.library_root() / ".atelier" / "index.sqlite3"
    db.write_bytes(b"not a database at all" * 500)
    opening = asyncio.ensure_future(open_library_or_explain(services))

    def box():
        boxes = [b for b in QApplication.topLevelWidgets() if isinstance(b, QMessageBox) and b.isVisible()]
        return boxes[0] if boxes else None

    qtbot.waitUntil(lambda: box() is not None, timeout=5000)
    assert "Rebuild" in box().text() and "No image is lost" in box().text()
    rebuild = next(b for b in box().buttons() if b.text() == "Rebuild index")
    qtbot.mouseClick(rebuild, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(opening.done, timeout=20_000)
    library = opening.result()
    try:
        assert [len(e.images) for e in library.history()] == [2]
    finally:
        library.close()


def test_interrupted_job_is_shown_and_retried(qtbot, qloop, services):
    from services.types import GenerationRequest

    library = services.open_library()
    gid = library.begin(
        GenerationRequest("a lantern festival", "gemini-3.1-flash-image", count=2),
        endpoint="demo",
        protocol="generateContent",
    )
    library._conn().execute("UPDATE generations SET pid=999999999 WHERE id=?", (gid,))  # its process was killed
    library.close()
    w = open_window(qtbot, services)
    try:
        qtbot.waitUntil(lambda: w.gallery_model.rowCount() == 1, timeout=5000)
        row = w.gallery_model.rows[0]
        assert row[R.STATUS] == "interrupted" and "Retry" in row[R.REASON]
        w.gallery.setCurrentIndex(w.gallery_model.index(0))
        qtbot.waitUntil(lambda: w.image_actions["retry"].isEnabled(), timeout=5000)
        w.image_actions["retry"].trigger()
        job = w.queue.jobs[-1]
        qtbot.waitUntil(lambda: job.finished, timeout=20_000)
        assert job.state == "done" and len(job.images) == 2 and job.request.prompt == "a lantern festival"
    finally:
        close_window(qtbot, w)


def test_library_that_cannot_be_written_opens_for_browsing(qtbot, qloop, services):
    from services.errors import LibraryError
    from services.library import Library
    from services.status import ErrorKind

    w = open_window(qtbot, services)
    generate(qtbot, w, "a red kite")
    close_window(qtbot, w)
    library = Library(services.library_root())
    library._open_for_browsing(
        LibraryError("The disk holding the library is full.", kind=ErrorKind.DISK_FULL)
    )  # as open() does
    w = MainWindow(services, library)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.gallery_model.rowCount() == 1, timeout=5000)
        assert w.banner.isVisible() and "full" in w.banner.label.text()
        job = generate(qtbot, w, "one more")
        assert job.state == "failed" and "full" in job.message
        assert w.gallery_model.rowCount() == 1
    finally:
        close_window(qtbot, w)


def test_appearance_follows_the_system_unless_the_artist_chooses(qtbot, window):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    from ui.app import wants_dark

    assert wants_dark("system", Qt.ColorScheme.Dark) and not wants_dark("system", Qt.ColorScheme.Light)
    assert not wants_dark("system", Qt.ColorScheme.Unknown) and wants_dark("dark", Qt.ColorScheme.Light)
    app = QApplication.instance()
    dialog = window.open_settings()
    try:
        dialog.appearance.setCurrentIndex(dialog.appearance.findData("dark"))
        dialog._save()
        assert window.settings.get("appearance") == "dark"
        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
        qtbot.waitUntil(lambda: window.palette().color(QPalette.ColorRole.Base).lightness() < 80, timeout=3000)
        assert window.gallery.palette().color(QPalette.ColorRole.AlternateBase).lightness() < 80
        dialog = window.open_settings()
        dialog.appearance.setCurrentIndex(dialog.appearance.findData("system"))
        dialog._save()
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 180  # offscreen reports no scheme
    finally:
        window.settings.set("appearance", "system")
