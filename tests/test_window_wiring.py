"""The parts built and tested alone, wired into the real window: importing, rating keys, boards, compare, duplicates."""

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from services.library import GalleryRow
from tests import test_window
from tests.test_window import click_tile, close_window, open_window, press_on_gallery
from ui.boards import IMAGE_SHA_MIME, shas_of
from ui.importer import ImportPanel

services = test_window.services  # the fixture: a demo-endpoint Services in an isolated home


def write_images(folder: Path, count: int, size: int = 64) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image = QImage(size, size, QImage.Format.Format_RGB32)
        image.fill(QColor((37 * i) % 256, (91 * i + 40) % 256, (53 * i + 90) % 256))
        for x in range(i + 1):  # unlike each other, so no two share a sha256
            image.setPixelColor(x, x, QColor(255, 255, 255))
        path = folder / f"picture-{i}.png"
        assert image.save(str(path))
        paths.append(path)
    return paths


def test_add_folder_fills_the_gallery_and_the_watcher_stops_at_close(qtbot, qloop, services, tmp_path):
    window = open_window(qtbot, services)
    try:
        assert window.importing.add_folder_action in window.menuBar().actions()[0].menu().actions()
        panel = window.importing.panel
        assert isinstance(panel, ImportPanel)
        assert window.importing.watch is not None
        before = window.browser.gallery_model.rowCount()
        assert panel.start([write_images(tmp_path / "outside", 3)[0].parent])
        qtbot.waitUntil(lambda: window.browser.gallery_model.rowCount() == before + 3, timeout=15_000)
        qtbot.waitUntil(lambda: not panel.running, timeout=5000)  # the report follows the batch from the child
        assert "3 images added" in panel.label.text()
        watch = window.importing.watch
    finally:
        close_window(qtbot, window)
    assert window.importing.watch is None
    assert not watch._thread.is_alive()


def test_import_files_copies_them_into_the_library(qtbot, qloop, services, tmp_path):
    window = open_window(qtbot, services)
    try:
        files = write_images(tmp_path / "loose", 2)
        assert window.importing.panel.start(files, copy=True)
        qtbot.waitUntil(lambda: window.browser.gallery_model.rowCount() == 2, timeout=15_000)
        rows = window.browser.gallery_model.rows
        assert all((window.library.root / r[GalleryRow.PATH]).is_file() for r in rows)
        assert all(
            (window.library.root / r[GalleryRow.PATH]).resolve().is_relative_to(window.library.root.resolve())
            for r in rows
        )
        assert all(
            (window.library.root / r[GalleryRow.PATH]).resolve().parent != files[0].parent.resolve() for r in rows
        )
    finally:
        close_window(qtbot, window)


def import_into(qtbot, window, folder: Path, count: int) -> list:
    assert window.importing.panel.start(write_images(folder, count), copy=True)
    qtbot.waitUntil(lambda: window.browser.gallery_model.rowCount() == count, timeout=15_000)
    qtbot.waitUntil(lambda: not window.importing.panel.running and not window.browser.tasks.pending(), timeout=10_000)
    return [GalleryRow._make(r) for r in window.browser.gallery_model.rows]


def test_pressing_3_on_a_selected_tile_gives_it_three_stars(qtbot, qloop, services, tmp_path):
    window = open_window(qtbot, services)
    try:
        rows = import_into(qtbot, window, tmp_path / "in", 3)
        click_tile(qtbot, window, 1)
        press_on_gallery(qtbot, window, Qt.Key.Key_3)
        chosen, other = rows[1].sha256, rows[0].sha256

        def rating(sha):
            return window.library.organize_info([sha]).get(sha, {}).get("rating")

        qtbot.waitUntil(lambda: rating(chosen) == 3, timeout=10_000)
        assert rating(other) in (0, None)
        press_on_gallery(qtbot, window, Qt.Key.Key_X)  # reject: hidden from the gallery
        qtbot.waitUntil(lambda: window.browser.gallery_model.rowCount() == 2, timeout=10_000)
        assert chosen not in {r[GalleryRow.SHA256] for r in window.browser.gallery_model.rows}
    finally:
        close_window(qtbot, window)


def send_drop(target, mime, at: QPoint) -> bool:
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    for kind in (QDragEnterEvent, QDragMoveEvent):
        QApplication.sendEvent(
            target, kind(at, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        )
    drop = QDropEvent(at, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop.isAccepted()


def test_tiles_dragged_onto_a_board_join_it_and_selecting_the_board_filters_the_gallery(
    qtbot, qloop, services, tmp_path
):
    window = open_window(qtbot, services)
    try:
        rows = import_into(qtbot, window, tmp_path / "in", 3)
        sidebar = window.organize.boards
        assert sidebar.isVisible() and sidebar.parent() is window.organize.area
        model = window.browser.gallery_model
        mime = model.mimeData([model.index(0, 0), model.index(2, 0)])
        assert mime.hasFormat(IMAGE_SHA_MIME) and shas_of(mime) == [rows[0].sha256, rows[2].sha256]
        sidebar.new_board.setFocus()
        qtbot.keyClicks(sidebar.new_board, "Forest")
        qtbot.keyClick(sidebar.new_board, Qt.Key.Key_Return)
        board_list = sidebar.list
        item = board_list.item(1)
        assert "Forest" in item.text()
        assert send_drop(board_list.viewport(), mime, board_list.visualItemRect(item).center())
        qtbot.waitUntil(lambda: any(b["name"] == "Forest" and b["count"] == 2 for b in sidebar.boards), timeout=10_000)
        board_list.setCurrentRow(1)
        qtbot.waitUntil(lambda: model.rowCount() == 2 and not window.browser.tasks.pending(), timeout=10_000)
        assert {r[GalleryRow.SHA256] for r in model.rows} == {rows[0].sha256, rows[2].sha256}
        board_list.setCurrentRow(0)  # All images
        qtbot.waitUntil(lambda: model.rowCount() == 3, timeout=10_000)
    finally:
        close_window(qtbot, window)


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # its own window; offscreen cannot raise it
def test_compare_selected_opens_the_compare_view_with_the_chosen_images(qtbot, qloop, services, tmp_path):
    window = open_window(qtbot, services)
    try:
        import_into(qtbot, window, tmp_path / "in", 3)
        click_tile(qtbot, window, 0)
        window.organize.compare_action.trigger()  # one image: a sentence, no view
        assert window.organize.compare_view is None
        assert "2 to 4" in window.banner.label.text()
        click_tile(qtbot, window, 2, Qt.KeyboardModifier.ControlModifier)
        assert window.organize.compare_action in window.menuBar().actions()[1].menu().actions()
        window.organize.compare_action.trigger()
        view = window.organize.compare_view
        assert view is not None and view.isVisible()
        qtbot.waitUntil(lambda: len(view.panes) == 2 and not view.tasks.pending(), timeout=10_000)
        assert all(not image.isNull() and image.width() == 64 for image in view.images)
    finally:
        close_window(qtbot, window)


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # its own window; offscreen cannot raise it
def test_duplicates_keep_one_trashes_the_other_and_undo_brings_it_back(qtbot, qloop, services, tmp_path):
    folder = tmp_path / "twins"
    folder.mkdir()
    for name, corner in (("a.png", QColor(10, 10, 10)), ("b.png", QColor(12, 12, 12))):
        image = QImage(96, 96, QImage.Format.Format_RGB32)
        image.fill(QColor(200, 120, 40))
        for x in range(48):
            for y in range(48):
                image.setPixelColor(x, y, QColor(20, 60, 160))
        image.setPixelColor(95, 95, corner)  # not the same file, but a look-alike
        assert image.save(str(folder / name))
    window = open_window(qtbot, services)
    try:
        assert window.importing.panel.start([folder / "a.png", folder / "b.png"], copy=True)
        model = window.browser.gallery_model
        qtbot.waitUntil(lambda: model.rowCount() == 2 and not window.importing.panel.running, timeout=15_000)
        window.organize.duplicates_action.trigger()
        view = window.organize.duplicates_view
        qtbot.waitUntil(lambda: len(view.groups) == 1 and not view.tasks.pending(), timeout=15_000)
        keep, other = view.groups[0][0]["image_id"], view.groups[0][1]["image_id"]
        view.keep_one(keep, [other])
        qtbot.waitUntil(lambda: model.rowCount() == 1 and window.undo_button.isVisible(), timeout=10_000)
        assert model.rows[0][GalleryRow.IMAGE_ID] == keep
        qtbot.mouseClick(window.undo_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=10_000)
        assert {r[GalleryRow.IMAGE_ID] for r in model.rows} == {keep, other}
    finally:
        close_window(qtbot, window)
