"""The window's import part (ui/importer.py): an import in a worker with progress, batches and Cancel, and a
dropped image's prompt read off the GUI thread."""

import asyncio
import threading

import pytest

from services.library import HistoryQuery
from tests import foreign_files as ff
from tests import test_window
from tests.helpers import PAINTER
from ui.importer import ImportPanel, dropped_image, read_dropped, summary

services = test_window.services  # the fixture: a demo-endpoint Services in an isolated home


@pytest.fixture
def window(qtbot, qloop, services):
    opened = test_window.open_window(qtbot, services)
    yield opened
    test_window.close_window(qtbot, opened)


def folder_of(tmp_path, count):
    folder = tmp_path / "sd"
    folder.mkdir()
    for i in range(count):
        (folder / f"{i}.png").write_bytes(ff.a1111_png(prompt=f"lantern number {i}"))
    return folder


def test_panel_imports_in_a_worker_with_progress_and_batches(qtbot, library, tmp_path):
    folder = folder_of(tmp_path, 25)
    panel = ImportPanel(library, batch_size=10)
    qtbot.addWidget(panel)
    landed, threads = [], []
    panel.images_landed.connect(lambda ids: (landed.append(len(ids)), threads.append(threading.current_thread())))
    with qtbot.waitSignal(panel.finished, timeout=20_000) as finished:
        assert panel.start([folder])
        assert panel.isVisible() and not panel.start([folder])  # one import at a time
    assert finished.args[0]["added"] == 25 and landed == [10, 10, 5]
    assert set(threads) == {threading.main_thread()}  # the batches reach the GUI thread, queued
    assert (panel.bar.value(), panel.bar.maximum()) == (25, 25)
    assert panel.label.text() == "25 images added." and not panel.running
    assert len(library.history(HistoryQuery(search="lantern"), limit=None)) == 25


def test_cancel_stops_the_import_and_keeps_what_landed(qtbot, library, tmp_path):
    folder = folder_of(tmp_path, 60)
    panel = ImportPanel(library, batch_size=10)
    qtbot.addWidget(panel)
    panel.images_landed.connect(lambda ids: panel.cancel())  # Cancel clicked as soon as the first batch shows
    with qtbot.waitSignal(panel.finished, timeout=20_000) as finished:
        panel.start([folder])
    report = finished.args[0]
    assert report["cancelled"] and 10 <= report["added"] < 60
    assert library.count_images() == report["added"]
    assert "before you cancelled" in panel.label.text()


def test_dropped_image_prompt_is_read_off_the_gui_thread(tmp_path):
    good = tmp_path / "comfy.png"
    good.write_bytes(ff.comfyui_png(ff.comfyui_graph(positive="a paper boat")))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"<html>not an image</html>")

    async def both():
        return await dropped_image(good), await dropped_image(junk), await dropped_image(tmp_path / "gone.png")

    found, plain, missing = asyncio.run(both())
    assert found.prompt.startswith("a paper boat") and found.info.source == "comfyui"
    assert plain.prompt == "" and plain.info.source == "unknown"
    assert missing.info is None and missing.problem.startswith("gone.png cannot be read")


def test_summary_says_what_happened():
    assert summary({"added": 1, "failed": [{"path": "x", "reason": "y"}]}) == "1 image added; 1 could not be read."


def test_stop_for_the_window_close_ends_the_worker_before_the_library_closes(qtbot, library, tmp_path):
    folder = folder_of(tmp_path, 40)
    panel = ImportPanel(library, batch_size=5)
    qtbot.addWidget(panel)
    panel.start([folder])
    worker = panel.worker
    assert panel.stop(timeout=20)
    assert not worker._thread.is_alive()
    library.close()  # nothing writes after this: the worker has ended


# --- an image dropped on the prompt editor (a real QDropEvent on the real window) ---------------------------------

MENU_NOISE = ("propagateSizeHints", "does not support raise", "grabbing the keyboard")


def drop_on_prompt(qtbot, window, path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    target = window.panel.prompt.viewport()
    point = QPointF(target.rect().center())
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    if window.drop_offer.menu is not None:
        window.drop_offer.menu.hide()
    before = window.drop_offer.menu
    QApplication.sendEvent(target, QDropEvent(point, Qt.DropAction.CopyAction, mime, buttons, mods))
    offer = window.drop_offer
    qtbot.waitUntil(
        lambda: offer.menu is not None and offer.menu is not before and offer.menu.isVisible(), timeout=5000
    )
    menu_at = offer.menu.geometry().topLeft()
    assert (menu_at - target.mapToGlobal(point.toPoint())).manhattanLength() < 40  # at the drop point
    return {a.text(): a for a in offer.menu.actions()}


@pytest.mark.qt_log_ignore(*MENU_NOISE)
def test_an_a1111_png_dropped_on_the_prompt_offers_its_prompt_and_the_reference(qtbot, window, tmp_path):
    picture = tmp_path / "castle.png"
    picture.write_bytes(ff.a1111_png(prompt="a castle on a hill at dawn", negative="blurry"))
    window.panel.prompt.setPlainText("what I was writing")
    actions = drop_on_prompt(qtbot, window, picture)
    assert list(actions) == ["Use its prompt", "Use as reference"]
    model = window.panel.model_selector.current_id()
    actions["Use its prompt"].trigger()
    assert window.panel.prompt.toPlainText() == "a castle on a hill at dawn"
    assert window.panel.model_selector.current_id() == model  # A1111's checkpoint is not one of Google's models
    assert not window.panel.references.references
    actions = drop_on_prompt(qtbot, window, picture)
    actions["Use as reference"].trigger()
    qtbot.waitUntil(lambda: len(window.panel.references.references) == 1, timeout=5000)
    assert window.panel.references.references[0].path == str(picture.resolve())
    assert window.panel.prompt.toPlainText() == "a castle on a hill at dawn"  # the reference left the prompt alone


@pytest.mark.qt_log_ignore(*MENU_NOISE)
def test_a_bare_png_dropped_on_the_prompt_offers_only_the_reference(qtbot, window, tmp_path):
    picture = tmp_path / "plain.png"
    picture.write_bytes(PAINTER.png("plain", 32, 24))
    actions = drop_on_prompt(qtbot, window, picture)
    assert list(actions) == ["Use as reference"]


@pytest.mark.qt_log_ignore(*MENU_NOISE)
def test_use_as_reference_says_so_when_the_model_takes_none(qtbot, window, tmp_path, monkeypatch):
    picture = tmp_path / "comfy.png"
    picture.write_bytes(ff.comfyui_png(ff.comfyui_graph(positive="a paper boat")))
    actions = drop_on_prompt(qtbot, window, picture)
    said = []
    monkeypatch.setattr(window.drop_offer, "show_message", lambda text, kind="error": said.append((text, kind)))
    monkeypatch.setattr(window.panel, "takes_references", lambda: False)
    actions["Use as reference"].trigger()
    assert not window.panel.references.references
    assert said and "takes no reference images" in said[0][0] and said[0][1] == "info"


def test_a_dropped_file_that_is_not_an_image_is_said_so(tmp_path):
    junk = tmp_path / "page.png"
    junk.write_bytes(b"<html>not an image</html>")
    dropped = read_dropped(junk)  # what dropped_image runs in a worker thread
    assert not dropped.is_image and dropped.problem == "page.png is not an image Atelier can read."


def _children_end(qtbot) -> None:
    import multiprocessing

    qtbot.waitUntil(lambda: not multiprocessing.active_children(), timeout=20_000)


def test_the_folder_dialog_starts_the_import_s_processes_and_the_chosen_folder_runs_in_them(
    qtbot, library, tmp_path, monkeypatch
):
    """Add folder… starts the child and its readers while the dialog is open (~0.5 s of start-up passes while the
    artist chooses); the folder chosen is imported by those very processes, which end after it."""
    from PySide6.QtWidgets import QFileDialog

    import services.library.import_process as import_process

    folder = folder_of(tmp_path, 12)
    started: list = []
    real = import_process.ImportProcesses.__init__

    def counted(self, root):
        real(self, root)
        started.append(self)

    monkeypatch.setattr(import_process.ImportProcesses, "__init__", counted)
    panel = ImportPanel(library)
    qtbot.addWidget(panel)
    panel.ask_and_import()
    dialog = next(w for w in panel.findChildren(QFileDialog))
    qtbot.waitUntil(lambda: len(started) == 1 and started[0].wait_ready(0.2), timeout=20_000)  # before any choice
    with qtbot.waitSignal(panel.finished, timeout=20_000) as finished:
        dialog.fileSelected.emit(str(folder))
    assert finished.args[0]["added"] == 12 and len(started) == 1  # no second set of processes
    _children_end(qtbot)


def test_a_folder_dialog_cancelled_ends_the_processes_it_started(qtbot, library, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    panel = ImportPanel(library)
    qtbot.addWidget(panel)
    panel.ask_and_import()
    dialog = next(w for w in panel.findChildren(QFileDialog))
    import multiprocessing

    qtbot.waitUntil(lambda: len(multiprocessing.active_children()) >= 2, timeout=20_000)
    dialog.reject()
    _children_end(qtbot)
    assert not panel.running and library.count_images() == 0
