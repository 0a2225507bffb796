"""Organizing in the real window, offscreen, with real input: tags typed with completion (and seen by the CLI), the
rating filter, rejected images and the order by stars, refine threads collapsed, boards renamed and deleted from the
sidebar's context menu, and the boards sidebar's width across sessions."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from services.library import GalleryRow
from tests import test_window
from tests.test_cli import atelier
from tests.test_library import save
from tests.test_organize import a_thread_with_a_branch, picture
from tests.test_window import close_window, open_window, press_on_gallery

services = test_window.services  # the fixture: a demo-endpoint Services in an isolated home


def seeded_window(qtbot, services, seed):
    """A library filled by `seed(library)` (closed again), then the window on it."""
    library = services.open_library()
    result = seed(library)
    library.close()
    window = open_window(qtbot, services)
    qtbot.waitUntil(lambda: window.details is not None, timeout=10_000)
    return window, result


def shown(window) -> list:
    return [GalleryRow._make(r) for r in window.browser.gallery_model.rows]


def wait_reloaded(qtbot, window):
    qtbot.waitUntil(lambda: not window.browser.tasks.pending(), timeout=10_000)


def click_tile(qtbot, window, row: int, modifier=Qt.KeyboardModifier.NoModifier):
    gallery = window.browser.gallery
    index = gallery.model().index(row, 0)
    gallery.scrollTo(index)
    qtbot.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, modifier, gallery.visualRect(index).center())


def three_pictures(library):
    return [
        save(library, prompt=p, data=picture(p, 64, 48), created=t)[1]
        for p, t in (("a fox", 100.0), ("an owl", 200.0), ("a calm sea", 300.0))
    ]


@pytest.mark.slow
@pytest.mark.qt_log_ignore("This plugin does not support")  # the completer's popup, offscreen
def test_tags_typed_with_completion_tag_the_selection_and_the_cli_sees_them(qtbot, qloop, services):
    def seed(library):
        images = three_pictures(library)
        library.tag([images[2].sha256], ["seascape"])
        return images

    window, (fox, owl, sea) = seeded_window(qtbot, services, seed)
    try:
        assert [r.sha256 for r in shown(window)] == [sea.sha256, owl.sha256, fox.sha256]
        click_tile(qtbot, window, 1)
        click_tile(qtbot, window, 2, Qt.KeyboardModifier.ControlModifier)  # the owl and the fox
        window.browser.gallery.setFocus()
        qtbot.keyClick(window.browser.gallery, Qt.Key.Key_T)
        editor = window.details.tags
        qtbot.waitUntil(editor.hasFocus, timeout=5000)
        qtbot.waitUntil(lambda: set(editor.shas) == {fox.sha256, owl.sha256}, timeout=5000)
        qtbot.waitUntil(lambda: "seascape" in editor.known.stringList(), timeout=5000)
        qtbot.keyClicks(editor, "sea")
        qtbot.waitUntil(editor.completing, timeout=5000)
        qtbot.keyClick(editor, Qt.Key.Key_Return)  # takes "seascape"
        qtbot.keyClicks(editor, "Dawn")
        with qtbot.waitSignal(editor.changed, timeout=5000):
            qtbot.keyClick(editor, Qt.Key.Key_Return)
        info = window.library.organize_info([fox.sha256, owl.sha256, sea.sha256])
        assert info[fox.sha256]["tags"] == info[owl.sha256]["tags"] == ["dawn", "seascape"]
        assert info[sea.sha256]["tags"] == ["seascape"]
    finally:
        close_window(qtbot, window)
    root = str(window.library.root)
    for step in ("before", "after a rebuild"):
        code, out, err = atelier("history", "--tag", "dawn", "--json", "--library", root)
        assert code == 0, (step, err)
        assert {e["prompt"] for e in json.loads(out)} == {"a fox", "an owl"}, step
        if step == "before":
            assert atelier("rebuild", "--library", root)[0] == 0


def test_rating_filter_rejected_and_order_by_rating(qtbot, qloop, services):
    window, (fox, owl, sea) = seeded_window(qtbot, services, three_pictures)
    try:
        gallery = window.browser.gallery
        for row, key in ((0, Qt.Key.Key_2), (1, Qt.Key.Key_5), (2, Qt.Key.Key_X)):  # sea ★2, owl ★5, fox rejected
            target = [sea, owl, fox][row].sha256
            row_now = next(i for i, r in enumerate(shown(window)) if r.sha256 == target)
            click_tile(qtbot, window, row_now)
            with qtbot.waitSignal(window.organize.rating.changed, timeout=5000):
                qtbot.keyClick(gallery, key)
            wait_reloaded(qtbot, window)
        assert [r.sha256 for r in shown(window)] == [sea.sha256, owl.sha256]  # the rejected fox is hidden

        filters = window.browser.organize_filters
        filters.rating.setFocus()
        for _ in range(3):  # Any rating -> ★1+ -> ★2+ -> ★3+
            QTest.keyClick(filters.rating, Qt.Key.Key_Down)
        assert filters.rating.currentData() == 3
        wait_reloaded(qtbot, window)
        assert [r.sha256 for r in shown(window)] == [owl.sha256]

        filters.rating.setFocus()
        QTest.keyClick(filters.rating, Qt.Key.Key_Home)  # any rating again
        qtbot.mouseClick(filters.show_rejected, Qt.MouseButton.LeftButton)
        assert filters.show_rejected.isChecked()
        wait_reloaded(qtbot, window)
        assert [r.sha256 for r in shown(window)] == [sea.sha256, owl.sha256, fox.sha256]

        filters.sort.setFocus()
        QTest.keyClick(filters.sort, Qt.Key.Key_End)  # "Rating"
        assert filters.sort.currentData() == "rating"
        wait_reloaded(qtbot, window)
        assert [r.sha256 for r in shown(window)] == [owl.sha256, sea.sha256, fox.sha256]
        QTest.keyClick(filters.sort, Qt.Key.Key_Up)  # "Oldest first"
        wait_reloaded(qtbot, window)
        assert [r.sha256 for r in shown(window)] == [fox.sha256, owl.sha256, sea.sha256]
    finally:
        close_window(qtbot, window)


def test_threads_collapsed_show_one_tile_per_thread_with_its_turns(qtbot, qloop, services):
    window, thread = seeded_window(qtbot, services, a_thread_with_a_branch)
    root, stormy, coat, night, coat_image, lone = thread
    try:
        images = [r for r in shown(window) if r.image_id is not None]
        assert len(images) == 5  # all images: every turn
        assert window.browser.gallery_model.turns == {}
        threads = window.browser.organize_filters.threads
        qtbot.mouseClick(threads, Qt.MouseButton.LeftButton)
        wait_reloaded(qtbot, window)
        images = [r for r in shown(window) if r.image_id is not None]
        assert [r.sha256 for r in images] == [coat_image.sha256, lone.sha256]
        turns = window.browser.gallery_model.turns
        assert turns[coat] == 4 and lone.generation_id not in turns
        qtbot.mouseClick(threads, Qt.MouseButton.LeftButton)
        wait_reloaded(qtbot, window)
        assert len([r for r in shown(window) if r.image_id is not None]) == 5
    finally:
        close_window(qtbot, window)


def pick_from_menu(text: str, seen: list) -> None:
    menu = QApplication.activePopupWidget()
    if not isinstance(menu, QMenu):
        QTimer.singleShot(20, lambda: pick_from_menu(text, seen))
        return
    action = next(a for a in menu.actions() if a.text() == text)
    seen.append(action.text())
    menu.setActiveAction(action)
    QTest.keyClick(menu, Qt.Key.Key_Return)


def open_board_menu(sidebar, name: str, text: str) -> list:
    row = next(
        i for i in range(sidebar.list.count()) if sidebar.list.item(i).data(Qt.ItemDataRole.UserRole + 1) == name
    )
    viewport = sidebar.list.viewport()
    centre = sidebar.list.visualItemRect(sidebar.list.item(row)).center()
    seen: list = []
    QTimer.singleShot(20, lambda: pick_from_menu(text, seen))
    QApplication.sendEvent(
        viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, centre, viewport.mapToGlobal(centre))
    )
    return seen


@pytest.mark.qt_log_ignore("This plugin does not support")  # the context menu's popup, offscreen
def test_boards_renamed_and_deleted_from_the_sidebar_survive_a_rebuild(qtbot, qloop, services):
    def seed(library):
        fox, owl, sea = three_pictures(library)
        library.board_add("Forest", [fox.sha256, owl.sha256])
        library.board_add("Sea", [sea.sha256])
        return fox, owl, sea

    window, (fox, owl, sea) = seeded_window(qtbot, services, seed)
    sidebar = window.organize.boards
    try:
        qtbot.waitUntil(lambda: sidebar.list.count() == 3, timeout=5000)
        assert open_board_menu(sidebar, "Forest", "Rename board") == ["Rename board"]
        qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), type(sidebar.new_board)), timeout=5000)
        editor = QApplication.focusWidget()
        assert editor.text() == "Forest"
        editor.selectAll()
        qtbot.keyClicks(editor, "Deep woods")
        with qtbot.waitSignal(sidebar.changed, timeout=5000):
            qtbot.keyClick(editor, Qt.Key.Key_Return)
        assert window.library.boards() == [{"name": "Deep woods", "count": 2}, {"name": "Sea", "count": 1}]
        assert sidebar.list.item(1).text() == "Deep woods  (2)"

        assert open_board_menu(sidebar, "Sea", "Delete board…") == ["Delete board…"]
        qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox), timeout=5000)
        box = QApplication.activeModalWidget()
        assert "stay in the library" in box.text()
        delete = next(b for b in box.buttons() if b.text() == "Delete board")
        with qtbot.waitSignal(sidebar.changed, timeout=5000):
            qtbot.mouseClick(delete, Qt.MouseButton.LeftButton)
        assert window.library.boards() == [{"name": "Deep woods", "count": 2}]
        assert sea.sha256 in {r.sha256 for r in shown(window)}  # the board went, its image stays
        assert sidebar.list.count() == 2
        assert "Ctrl+Z brings it back" in window.statusBar().currentMessage()
        window.activateWindow()  # back from the question box: Ctrl+Z is the window's shortcut
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
        with qtbot.waitSignal(sidebar.changed, timeout=5000):
            press_on_gallery(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # Undo
        assert window.library.boards() == [{"name": "Deep woods", "count": 2}, {"name": "Sea", "count": 1}]
        assert sidebar.list.count() == 3
        assert open_board_menu(sidebar, "Sea", "Delete board…") == ["Delete board…"]  # and once more, to keep
        qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox), timeout=5000)
        box = QApplication.activeModalWidget()
        with qtbot.waitSignal(sidebar.changed, timeout=5000):
            qtbot.mouseClick(next(b for b in box.buttons() if b.text() == "Delete board"), Qt.MouseButton.LeftButton)
    finally:
        close_window(qtbot, window)
    library = services.open_library()
    try:
        library.rebuild()
        assert library.boards() == [{"name": "Deep woods", "count": 2}]
    finally:
        library.close()


def test_the_boards_sidebar_keeps_its_width_in_a_new_window(qtbot, qloop, services):
    window = open_window(qtbot, services)
    try:
        area = window.organize.area
        qtbot.waitUntil(lambda: area.count() == 2, timeout=5000)
        window.resize(1600, 900)  # room in the middle column: the gallery keeps its minimum width
        outer = window.splitter.sizes()
        window.splitter.setSizes([outer[0], outer[1] + outer[2] - 320, 320])
        qtbot.waitUntil(lambda: sum(area.sizes()) > 260 + window.browser.minimumSizeHint().width(), timeout=5000)
        total = sum(area.sizes())
        area.setSizes([260, total - 260])
        assert area.sizes()[0] == 260
    finally:
        close_window(qtbot, window)
    again = open_window(qtbot, services)
    try:
        area = again.organize.area
        qtbot.waitUntil(lambda: area.count() == 2, timeout=5000)
        qtbot.waitUntil(lambda: area.sizes()[0] == 260, timeout=5000)
    finally:
        close_window(qtbot, again)


@pytest.mark.slow
def test_the_gallery_s_order_and_collapsed_threads_come_back_but_not_its_narrowing(qtbot, qloop, services):
    window, ids = seeded_window(qtbot, services, three_pictures)
    try:
        filters = window.browser.organize_filters
        filters.sort.setCurrentIndex(filters.sort.findData("oldest"))
        filters.threads.setChecked(True)
        filters.rating.setCurrentIndex(filters.rating.findData(3))
        wait_reloaded(qtbot, window)
    finally:
        close_window(qtbot, window)
    again = open_window(qtbot, services)
    try:
        filters = again.browser.organize_filters
        assert filters.sort.currentData() == "oldest" and filters.threads.isChecked()
        assert filters.rating.currentData() is None  # a narrowed gallery would greet the artist with images missing
        oldest_first = [saved.image_id for saved in ids]
        qtbot.waitUntil(lambda: [r.image_id for r in shown(again)] == oldest_first, timeout=10_000)
    finally:
        close_window(qtbot, again)
