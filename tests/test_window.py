"""The real window, offscreen, against the emulator on loopback: what an artist does in a session, through the
keyboard, the mouse, drops and the clipboard where a person would use them."""

import asyncio
import threading

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QContextMenuEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtTest import QAbstractItemModelTester, QTest
from PySide6.QtWidgets import QApplication, QMenu

from services.app import Services
from services.library import GalleryRow as R
from services.library import HistoryQuery
from services.status import Status
from ui.main_window import MainWindow


@pytest.fixture
def services(isolated_home):
    services = Services.create()
    services.settings.set("endpoint", "demo")
    yield services
    services.shutdown()


def settle(qtbot, window):
    qtbot.waitUntil(lambda: window.studio.ready, timeout=10_000)
    qtbot.waitUntil(lambda: not window.browser.tasks.pending() and not window.studio.tasks.pending(), timeout=10_000)


def open_window(qtbot, services):
    library = services.open_library()
    window = MainWindow(services, library)  # not qtbot.addWidget: close_window() shuts it down properly
    window.show()
    window.activateWindow()
    settle(qtbot, window)
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


def model_of(window):
    return window.browser.gallery_model


def type_prompt(qtbot, window, prompt):
    editor = window.panel.prompt
    editor.setFocus()
    QTest.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(editor, Qt.Key.Key_Delete)
    qtbot.keyClicks(editor, prompt)


def generate(qtbot, window, prompt, model="gemini-3.1-flash-image", count=1):
    type_prompt(qtbot, window, prompt)
    window.panel.model_selector.select(model)
    window.panel.count.setValue(count)
    jobs = len(window.studio.queue.jobs)
    qtbot.keyClick(window.panel.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(window.studio.queue.jobs) == jobs + 1, window.panel.input_error.text()
    job = window.studio.queue.jobs[-1]
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    return job


def tile_centre(window, row: int) -> QPoint:
    gallery = window.browser.gallery
    index = model_of(window).index(row, 0)
    gallery.scrollTo(index)
    return gallery.visualRect(index).center()


def click_tile(qtbot, window, row: int, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(window.browser.gallery.viewport(), Qt.MouseButton.LeftButton, modifier, tile_centre(window, row))


def press_on_gallery(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier):
    window.browser.gallery.setFocus()
    qtbot.keyClick(window.browser.gallery, key, modifier)


def test_generate_click_a_tile_see_it_in_the_viewer(qtbot, window):
    assert model_of(window).rowCount() == 0 and window.browser.empty_hint.isVisible()
    job = generate(qtbot, window, "a lighthouse at dusk", count=2)
    assert job.status is Status.OK and len(job.images) == 2
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 2)
    index = model_of(window).index(1, 0)
    qtbot.waitUntil(lambda: index.data(Qt.ItemDataRole.DecorationRole) is not None, timeout=10_000)
    window.details.viewer.set_image(None)
    click_tile(qtbot, window, 1)
    assert window.browser.gallery.currentIndex().row() == 1
    qtbot.waitUntil(window.details.viewer.has_image, timeout=10_000)
    qtbot.waitUntil(lambda: "a lighthouse at dusk" in window.details.details.toPlainText(), timeout=5000)
    assert "gemini-3.1-flash-image" in window.details.details.toPlainText()
    assert "Done" in window.jobs.row_for(job).state.text()
    assert window.panel.prompt.history[-1] == "a lighthouse at dusk"
    created = window.library.generation(job.generation_id).created_at
    assert model_of(window).rows[0][R.CREATED_AT] == created  # the generation's time, not the moment it arrived


def test_double_click_opens_the_viewer_and_arrows_step(qtbot, window):
    generate(qtbot, window, "three boats", count=3)
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 3)
    click_tile(qtbot, window, 0)  # a real double-click: press, release, then the double-click
    qtbot.mouseDClick(window.browser.gallery.viewport(), Qt.MouseButton.LeftButton, pos=tile_centre(window, 0))
    viewer = window.details.viewer
    qtbot.waitUntil(viewer.hasFocus, timeout=3000)
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert window.browser.gallery.currentIndex().row() == 1
    qtbot.keyClick(viewer, Qt.Key.Key_Down)
    assert window.browser.gallery.currentIndex().row() == 2
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    assert window.browser.gallery.currentIndex().row() == 1


def test_an_arrow_held_over_the_grid_decodes_only_the_image_it_stops_on(qtbot, window, monkeypatch):
    generate(qtbot, window, "four lanterns", count=4)
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 4)
    release, decoded = threading.Event(), []

    def slow_decode(path):  # a big image: the first decode is still running while the arrow moves on
        decoded.append(path)
        release.wait(10)
        return QImage(8, 8, QImage.Format.Format_RGB32)

    monkeypatch.setattr("ui.details.load_full_image", slow_decode)
    window.details.viewer.set_image(None)
    click_tile(qtbot, window, 0)
    qtbot.waitUntil(lambda: len(decoded) == 1)
    for _ in range(3):
        press_on_gallery(qtbot, window, Qt.Key.Key_Right)
        qtbot.wait(30)
    assert window.browser.gallery.currentIndex().row() == 3
    release.set()
    qtbot.waitUntil(window.details.viewer.has_image, timeout=10_000)
    qtbot.wait(200)
    paths = [str(window.library.root / model_of(window).rows[r][R.PATH]) for r in (0, 3)]
    assert decoded == paths and window.details.row[R.IMAGE_ID] == model_of(window).rows[3][R.IMAGE_ID]


def test_controls_follow_the_model(qtbot, window):
    panel = window.panel
    panel.model_selector.select("imagen-4.0-generate-001")
    assert panel.person_row.isVisibleTo(window) and not panel.seed_row.isVisibleTo(window)
    assert not panel.references.isVisibleTo(window)
    assert [panel.aspect.itemText(i) for i in range(panel.aspect.count())] == ["1:1", "3:4", "4:3", "9:16", "16:9"]
    assert panel.count.maximum() == 4
    panel.model_selector.select("gemini-2.5-flash-image")
    assert not panel.size_row.isVisibleTo(window) and panel.seed_row.isVisibleTo(window)
    assert "21:9" in [panel.aspect.itemText(i) for i in range(panel.aspect.count())]
    panel.model_selector.select("gemini-3.1-flash-image")
    assert [panel.size.itemText(i) for i in range(panel.size.count())] == ["512", "1K", "2K", "4K"]
    assert "free" in panel.generate_button.text()


def test_retired_model_on_google_offers_its_replacement(qtbot, qloop, services, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-used")
    services.settings.set("endpoint", "google")
    library = services.open_library()
    w = MainWindow(services, library)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.studio.ready, timeout=10_000)
        w.studio.tasks.cancel_all()  # no discovery on Google from a test
        w.panel.model_selector.select("imagen-4.0-generate-001")
        assert w.panel.retired_note.isVisibleTo(w) and "2026-08-17" in w.panel.retired_note.text()
        assert "$" in w.panel.generate_button.text()
        qtbot.mouseClick(w.panel.use_replacement, Qt.MouseButton.LeftButton)
        assert w.panel.model_selector.current_id() == "gemini-3.1-flash-image"
    finally:
        close_window(qtbot, w)


def test_empty_prompt_is_refused_in_the_editor(qtbot, window):
    type_prompt(qtbot, window, "   ")
    qtbot.mouseClick(window.panel.generate_button, Qt.MouseButton.LeftButton)
    assert window.panel.input_error.isVisibleTo(window) and "empty" in window.panel.input_error.text()
    assert window.studio.queue.jobs == []


def test_blocked_attempt_is_explained(qtbot, window):
    job = generate(qtbot, window, "a cat #blocked")
    assert job.status is Status.BLOCKED
    row = window.jobs.row_for(job)
    assert row.message.isVisibleTo(window) and "PROHIBITED_CONTENT" in row.message.text()
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 1)
    gallery_row = model_of(window).rows[0]
    assert gallery_row[R.IMAGE_ID] is None and gallery_row[R.STATUS] == "blocked"
    click_tile(qtbot, window, 0)
    qtbot.waitUntil(lambda: "PROHIBITED_CONTENT" in window.details.details.toPlainText(), timeout=5000)
    qtbot.mouseClick(window.browser.show_failed, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 0)


def test_search_favourite_delete_and_undo_from_the_keyboard(qtbot, window):
    generate(qtbot, window, "a red fox in snow")
    generate(qtbot, window, "a lighthouse at dusk")
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 2)
    qtbot.keyClicks(window.browser.search, "fox")
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 1, timeout=5000)
    fox = model_of(window).rows[0]
    click_tile(qtbot, window, 0)
    press_on_gallery(qtbot, window, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: model_of(window).rows[0][R.FAVOURITE] == 1, timeout=5000)
    assert window.library.gallery(HistoryQuery(favourites_only=True))[0][R.IMAGE_ID] == fox[R.IMAGE_ID]
    window.browser.search.clear()
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 2, timeout=5000)
    resets = []
    model_of(window).modelReset.connect(lambda: resets.append(1))
    click_tile(qtbot, window, model_of(window).row_of(fox[R.IMAGE_ID]))
    press_on_gallery(qtbot, window, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 1)
    qtbot.waitUntil(window.undo_button.isVisible, timeout=5000)
    path = window.library.root / fox[R.PATH]
    # kept in the library's own trash folder (which a rebuild does not index) until the window closes
    qtbot.waitUntil(lambda: not path.exists() and window.library.files.in_trash(fox[R.PATH]).exists(), timeout=5000)
    qtbot.keyClick(window.browser.gallery, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 2, timeout=5000)
    assert path.exists() and model_of(window).row_of(fox[R.IMAGE_ID]) is not None
    assert resets == []  # no listing was rebuilt
    assert len(window.library.gallery()) == 2


def test_cancel_a_slow_job(qtbot, window):
    type_prompt(qtbot, window, "a very slow painting #slow")
    qtbot.mouseClick(window.panel.generate_button, Qt.MouseButton.LeftButton)
    job = window.studio.queue.jobs[-1]
    qtbot.waitUntil(lambda: job.status is Status.RUNNING and job.generation_id is not None, timeout=5000)
    row = window.jobs.row_for(job)
    qtbot.mouseClick(row.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.finished, timeout=5000)
    assert job.status is Status.CANCELLED and "Cancelled" in row.state.text()
    qtbot.waitUntil(lambda: window.library.history() and window.library.history()[0].status == "cancelled")


def test_history_survives_restart(qtbot, qloop, services):
    w = open_window(qtbot, services)
    generate(qtbot, w, "a koi pond", model="imagen-4.0-fast-generate-001", count=3)
    w.browser.thumb_size.setValue(128)
    close_window(qtbot, w)
    again = open_window(qtbot, services)
    try:
        qtbot.waitUntil(lambda: model_of(again).rowCount() == 3, timeout=5000)
        assert again.browser.thumb_size.value() == 128
        assert again.panel.model_selector.current_id() == "imagen-4.0-fast-generate-001"
        assert again.panel.prompt.history[-1] == "a koi pond"
    finally:
        close_window(qtbot, again)


def test_gallery_model_passes_qt_model_tester(qtbot, window, monkeypatch):
    """The tester reports through Qt warnings, which fail this test (not the whole run, as Fatal would)."""

    generate(qtbot, window, "one", count=2)
    generate(qtbot, window, "two #noimage")
    model = model_of(window)
    _tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Warning)
    monkeypatch.setattr(window.browser.gallery, "first_rows", lambda: 2)  # the first rows, then the rest appended
    inserted = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    click_tile(qtbot, window, 1)
    task = window.browser.reload()
    qtbot.waitUntil(task.done, timeout=5000)
    assert inserted == [(2, 2)] and window.browser.gallery.currentIndex().row() == 1
    generate(qtbot, window, "three")
    qtbot.waitUntil(lambda: model.rowCount() == 4)
    top = model.rows[0]
    model.remove_keys({top[R.IMAGE_ID]})
    model.insert_rows([top])
    assert model.rowCount() == 4 and model.rows[0] == top


@pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise", "grabbing the keyboard")
def test_reference_from_the_context_menu_goes_into_the_request(qtbot, window):
    generate(qtbot, window, "a logo")
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 1)
    click_tile(qtbot, window, 0)
    chosen = []

    def pick():
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu):
            QTimer.singleShot(20, pick)
            return
        action = next(a for a in menu.actions() if a.text() == "Use as reference")
        chosen.append(action.isEnabled())
        menu.setActiveAction(action)
        QTest.keyClick(menu, Qt.Key.Key_Return)

    QTimer.singleShot(20, pick)
    viewport = window.browser.gallery.viewport()
    centre = tile_centre(window, 0)
    QApplication.sendEvent(
        viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, centre, viewport.mapToGlobal(centre))
    )
    assert chosen == [True]
    qtbot.waitUntil(lambda: len(window.panel.references.references) == 1, timeout=5000)
    job = generate(qtbot, window, "put the logo on a mug", model="gemini-3-pro-image")
    assert job.status is Status.OK
    parts = window.services.demo_server().requests[-1].body["contents"][0]["parts"]
    assert "inlineData" in parts[1]


@pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise", "grabbing the keyboard")
def test_a_file_dropped_on_the_prompt_becomes_a_reference(qtbot, window, tmp_path):
    from tests.helpers import png

    picture = tmp_path / "sketch.png"
    picture.write_bytes(png("sketch"))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(picture))])
    target = window.panel.prompt.viewport()
    point = QPointF(target.rect().center())
    enter = QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QDropEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(target, drop)
    qtbot.waitUntil(lambda: window.drop_offer.menu is not None and window.drop_offer.menu.isVisible(), timeout=5000)
    [only] = window.drop_offer.menu.actions()  # no prompt in the file: the reference is all it offers
    only.trigger()
    qtbot.waitUntil(lambda: len(window.panel.references.references) == 1, timeout=5000)
    assert window.panel.references.references[0].path == str(picture.resolve())
    assert window.panel.prompt.toPlainText() == ""  # the file's path was not typed into the prompt


def test_an_image_pasted_into_the_prompt_becomes_a_reference(qtbot, window):
    image = QImage(64, 48, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkCyan)
    QGuiApplication.clipboard().setImage(image)
    window.panel.prompt.setFocus()
    qtbot.keyClick(window.panel.prompt, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(window.panel.references.references) == 1, timeout=5000)
    assert window.panel.references.references[0].mime_type == "image/png"


def test_retry_sends_the_attempt_as_it_was_and_leaves_the_editor_alone(qtbot, window, tmp_path):
    from tests.helpers import png

    picture = tmp_path / "style.png"
    picture.write_bytes(png("style"))
    adding = window.panel.add_reference_files([str(picture)])
    qtbot.waitUntil(adding.done, timeout=5000)
    first = generate(qtbot, window, "a poster #blocked", model="gemini-3-pro-image")
    assert first.status is Status.BLOCKED and len(first.request.references) == 1
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 1)
    window.panel.references.clear()
    type_prompt(qtbot, window, "something else entirely")
    click_tile(qtbot, window, 0)
    qtbot.waitUntil(lambda: window.actions.actions["retry"].isEnabled(), timeout=5000)
    window.actions.actions["retry"].trigger()
    qtbot.waitUntil(lambda: len(window.studio.queue.jobs) == 2, timeout=5000)
    again = window.studio.queue.jobs[-1]
    assert again.request == first.request  # the prompt, the model and the reference bytes
    assert window.panel.prompt.toPlainText() == "something else entirely"
    assert window.panel.references.references == []


def test_corrupt_index_is_rebuilt_even_when_the_button_has_an_accelerator(qtbot, qloop, services):
    from PySide6.QtWidgets import QMessageBox

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
    rebuild = next(b for b in box().buttons() if "Rebuild" in b.text())
    rebuild.setText("&Rebuild index")  # as a platform theme that adds accelerators does
    qtbot.mouseClick(rebuild, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(opening.done, timeout=20_000)
    library = opening.result()
    assert library is not None
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
        qtbot.waitUntil(lambda: model_of(w).rowCount() == 1, timeout=5000)
        row = model_of(w).rows[0]
        assert row[R.STATUS] == "interrupted" and "Retry" in row[R.REASON]
        click_tile(qtbot, w, 0)
        qtbot.waitUntil(lambda: w.actions.actions["retry"].isEnabled(), timeout=5000)
        errors = []
        w.actions.error.connect(errors.append)
        w.actions.actions["retry"].trigger()
        qtbot.waitUntil(lambda: bool(w.studio.queue.jobs or errors), timeout=5000)
        assert not errors, errors
        job = w.studio.queue.jobs[-1]
        qtbot.waitUntil(lambda: job.finished, timeout=20_000)
        assert job.status is Status.OK and len(job.images) == 2 and job.request.prompt == "a lantern festival"
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
        qtbot.waitUntil(lambda: model_of(w).rowCount() == 1, timeout=5000)
        assert w.banner.isVisible() and "full" in w.banner.label.text()
        type_prompt(qtbot, w, "one more")
        qtbot.keyClick(w.panel.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert "full" in w.panel.input_error.text() and w.studio.queue.jobs == []
        assert model_of(w).rowCount() == 1
    finally:
        close_window(qtbot, w)


def test_the_window_shows_itself_while_the_library_opens(qtbot, qloop, services):
    w = MainWindow(services)
    w.show()
    try:
        qtbot.waitExposed(w, timeout=5000)
        assert "Opening the library" in w.browser.empty_hint.text() and w.browser.empty_hint.isVisible()
        type_prompt(qtbot, w, "too early")
        qtbot.mouseClick(w.panel.generate_button, Qt.MouseButton.LeftButton)
        assert "still opening" in w.panel.input_error.text()
        opening = asyncio.ensure_future(asyncio.to_thread(services.open_library))
        qtbot.waitUntil(opening.done, timeout=10_000)
        w.set_library(opening.result())
        qtbot.waitUntil(lambda: "No images yet" in w.browser.empty_hint.text(), timeout=5000)
        assert generate(qtbot, w, "now it works").status is Status.OK
    finally:
        close_window(qtbot, w)


def test_favourite_lands_safely_when_a_reload_took_the_row_away(qtbot, window, monkeypatch):
    generate(qtbot, window, "a heron")
    generate(qtbot, window, "a kingfisher")
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 2)
    heron = model_of(window).rows[1]  # the older of the two
    release = threading.Event()
    original = window.library.set_favourite

    def slow_favourite(ids, value):
        release.wait(10)
        original(ids, value)

    monkeypatch.setattr(window.library, "set_favourite", slow_favourite)
    click_tile(qtbot, window, model_of(window).row_of(heron[R.IMAGE_ID]))
    errors = []
    window.actions.error.connect(errors.append)
    window.browser.tasks._on_error = errors.append
    press_on_gallery(qtbot, window, Qt.Key.Key_F)
    qtbot.keyClicks(window.browser.search, "nothing matches this")
    qtbot.waitUntil(lambda: model_of(window).rowCount() == 0, timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: not window.actions.tasks.pending(), timeout=5000)
    assert errors == [] and "offline demo" in window.banner.label.text()  # no error took the banner
    assert window.library.gallery(HistoryQuery(favourites_only=True))[0][R.IMAGE_ID] == heron[R.IMAGE_ID]


def test_thumbnail_threads_are_joined_at_shutdown(qtbot, qloop, services):
    w = open_window(qtbot, services)
    loader = model_of(w).loader
    assert loader.alive() == 2
    close_window(qtbot, w)
    assert loader.alive() == 0


def test_appearance_follows_the_system_unless_the_artist_chooses(qtbot, window):
    from PySide6.QtGui import QPalette

    from ui.appearance import wants_dark

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
        assert window.browser.gallery.palette().color(QPalette.ColorRole.AlternateBase).lightness() < 80
        dialog = window.open_settings()
        dialog.appearance.setCurrentIndex(dialog.appearance.findData("system"))
        dialog._save()
        assert app.palette().color(QPalette.ColorRole.Window).lightness() > 180  # offscreen reports no scheme
    finally:
        window.settings.set("appearance", "system")


def test_an_endpoint_that_cannot_be_used_fails_jobs_instead_of_holding_them(qtbot, qloop, services, monkeypatch):
    real_endpoint = services.endpoint

    def broken(spec=None, auth=None, *, cheap=False):
        if cheap:
            return real_endpoint(spec, auth, cheap=True)
        raise ValueError("a saved URL that no longer parses")

    monkeypatch.setattr(services, "endpoint", broken)
    w = open_window(qtbot, services)
    try:
        assert "cannot be used" in w.banner.label.text()
        job = generate(qtbot, w, "still answered")
        assert job.status is Status.ERROR and job.error_kind is not None
    finally:
        close_window(qtbot, w)


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the panel is its own window; offscreen cannot
def test_batches_from_an_earlier_session_are_announced_and_fetched_into_the_gallery(
    qtbot, qloop, services, emulator, monkeypatch
):
    monkeypatch.setenv("ATELIER_BATCH_MIN_POLL", "0")  # the window's batch service asks Google at most every 30 s
    from services.batch import BatchService
    from services.endpoints import custom
    from services.prompt_list import parse

    emulator.batch_turnaround = None  # the batch waits on "Google" until the test completes it
    library = services.open_library()
    endpoint = custom(emulator.url, "header")
    service = BatchService(services.catalog, library, min_poll=0.0)
    (record, rows), *_ = service.plan(parse("an owl\na heron\n", services.catalog), endpoint)
    task = asyncio.ensure_future(service.submit(record, rows))  # as if sent in an earlier session
    qtbot.waitUntil(task.done, timeout=10_000)
    submitted = task.result()
    library.close()
    w = open_window(qtbot, services)
    try:
        qtbot.waitUntil(lambda: w.batches.indicator.isVisible(), timeout=10_000)
        assert w.batches.indicator.text().startswith("1 batch")
        qtbot.mouseClick(w.batches.indicator, Qt.MouseButton.LeftButton)
        panel = w.batches.panel
        qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1, timeout=10_000)
        emulator.complete(submitted.remote_name)
        panel.refresh()
        qtbot.waitUntil(lambda: panel.tree.topLevelItem(0).text(1) == "Ready to fetch", timeout=10_000)
        panel.tree.topLevelItem(0).setSelected(True)
        qtbot.mouseClick(panel.fetch_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: model_of(w).rowCount() == 2, timeout=30_000)  # the gallery reloaded
        qtbot.waitUntil(lambda: not w.batches.indicator.isVisible(), timeout=10_000)
    finally:
        close_window(qtbot, w)


def test_a_closed_window_leaves_no_timer_to_fire_after_its_event_loop(qtbot, qloop, services):
    """The status bar's batch poll (every 30 s) and the Batches panel's refresh stop with the window: a timer of a
    window no one deletes once fired into whatever ran next, with no event loop to run its task."""
    window = open_window(qtbot, services)
    qtbot.waitUntil(window.batches.timer.isActive, timeout=10_000)
    panel = window.batches.open_panel()
    assert panel.timer.isActive()
    close_window(qtbot, window)
    assert not window.batches.timer.isActive() and not panel.timer.isActive()
