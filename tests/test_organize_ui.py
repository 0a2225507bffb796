"""The organizing parts of the window, driven with real input: rating keys, a drop on a board, the tag editor's
completer, compare's synced zoom by the wheel, and "keep this one" in the duplicates view."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QListWidget

from services.library import HistoryQuery
from tests.test_library import save
from tests.test_organize import as_jpeg, checkerboard, picture, scaled
from ui.boards import BoardsSidebar, image_mime
from ui.compare import CompareView
from ui.duplicates import DuplicatesView
from ui.organize_actions import OrganizeActions
from ui.tag_editor import TagEditor


@pytest.fixture(scope="module")
def qloop(qapp):
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.events._set_running_loop(None)
    loop._QEventLoop__is_running = False
    loop.close()
    asyncio.set_event_loop(None)


def rating_of(library, sha):
    return library.organize_info([sha])[sha]["rating"]


def test_rating_keys_on_any_view(qtbot, qloop, library):
    _, fox = save(library, prompt="a fox", data=picture("a fox", 64, 48))
    view = QListWidget()
    qtbot.addWidget(view)
    actions = OrganizeActions(library, lambda: [fox.sha256])
    actions.install(view)
    view.show()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=5000)
    for key, expected in [(Qt.Key.Key_3, 3), (Qt.Key.Key_5, 5), (Qt.Key.Key_X, "rejected"), (Qt.Key.Key_0, 0)]:
        with qtbot.waitSignal(actions.changed, timeout=5000):
            qtbot.keyClick(view, key)
        assert rating_of(library, fox.sha256) == expected
    with qtbot.waitSignal(actions.changed, timeout=5000):
        qtbot.keyClick(view, Qt.Key.Key_X)
    assert fox.sha256 not in {r.sha256 for r in library.gallery(HistoryQuery())}


def _drop(widget, point: QPoint, mime) -> QDropEvent:
    actions = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(point, actions, mime, buttons, mods)
    QApplication.sendEvent(widget, enter)
    move = QDragMoveEvent(point, actions, mime, buttons, mods)
    QApplication.sendEvent(widget, move)
    drop = QDropEvent(QPointF(point), actions, mime, buttons, mods)
    QApplication.sendEvent(widget, drop)
    return drop


def test_drop_images_on_a_board_and_select_it(qtbot, qloop, library):
    _, fox = save(library, prompt="a fox", data=picture("a fox", 64, 48))
    _, owl = save(library, prompt="an owl", data=picture("an owl", 64, 48))
    library.board_add("Forest", [owl.sha256])
    sidebar = BoardsSidebar(library)
    qtbot.addWidget(sidebar)
    sidebar.resize(260, 300)
    sidebar.show()
    sidebar.refresh()
    qtbot.waitUntil(lambda: sidebar.list.count() == 2, timeout=5000)
    assert sidebar.list.item(1).text() == "Forest  (1)"

    target = sidebar.list.visualItemRect(sidebar.list.item(1)).center()
    with qtbot.waitSignal(sidebar.changed, timeout=5000):
        drop = _drop(sidebar.list.viewport(), target, image_mime([fox.sha256]))
    assert drop.isAccepted()
    assert library.boards() == [{"name": "Forest", "count": 2}]
    assert sidebar.list.item(1).text() == "Forest  (2)"

    nowhere = _drop(sidebar.list.viewport(), target, image_mime(["not a sha"]))
    assert not nowhere.isAccepted()

    with qtbot.waitSignal(sidebar.boardSelected, timeout=5000) as selected:
        qtbot.mouseClick(sidebar.list.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert selected.args == ["Forest"]


@pytest.mark.qt_log_ignore("This plugin does not support")  # the completer's popup on the offscreen platform
def test_tag_editor_completes_the_last_word_and_saves_the_difference(qtbot, qloop, library):
    _, fox = save(library, prompt="a fox", data=picture("a fox", 64, 48))
    _, owl = save(library, prompt="an owl", data=picture("an owl", 64, 48))
    library.tag([owl.sha256], ["snowfall", "night"])
    editor = TagEditor(library)
    qtbot.addWidget(editor)
    editor.show()
    editor.edit([fox.sha256])
    qtbot.waitUntil(lambda: editor.known.rowCount() == 2, timeout=5000)
    editor.setFocus()
    qtbot.keyClicks(editor, "red, sno")  # the completion is for the word being typed, not the whole text
    completer = editor.completions
    qtbot.waitUntil(lambda: completer.completionCount() == 1, timeout=5000)
    assert completer.currentCompletion() == "snowfall"
    qtbot.waitUntil(editor.completing, timeout=5000)
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # takes the completion; saves nothing yet
    assert editor.text() == "red, snowfall, "
    assert library.organize_info([fox.sha256])[fox.sha256]["tags"] == []
    with qtbot.waitSignal(editor.changed, timeout=5000):
        qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert library.organize_info([fox.sha256])[fox.sha256]["tags"] == ["red", "snowfall"]

    # Two images: the editor shows the tags both have; erasing one removes it from both, the others stay.
    editor.edit([fox.sha256, owl.sha256])
    qtbot.waitUntil(lambda: editor.text() == "snowfall", timeout=5000)
    editor.setFocus()
    editor.selectAll()
    qtbot.keyClicks(editor, "dusk")
    with qtbot.waitSignal(editor.changed, timeout=5000):
        qtbot.keyClick(editor, Qt.Key.Key_Return)
    info = library.organize_info([fox.sha256, owl.sha256])
    assert info[fox.sha256]["tags"] == ["dusk", "red"]
    assert info[owl.sha256]["tags"] == ["dusk", "night"]


def test_compare_zooms_every_pane_with_the_wheel_and_shows_differences(qtbot, qloop, library):
    _, a = save(library, prompt="a red fox in the snow", data=picture("a red fox", 320, 240), seed=1)
    _, b = save(library, prompt="a grey fox in the snow", data=picture("a grey fox", 320, 240), seed=2)
    rows = library.gallery(HistoryQuery())
    view = CompareView(library)
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.compare(rows)
    assert len(view.panes) == 2
    first, second = view.panes
    before = second.zoom()
    viewport = first.viewport()
    centre = QPointF(viewport.rect().center())
    wheel = QWheelEvent(
        centre,
        QPointF(viewport.mapToGlobal(viewport.rect().center())),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, wheel)
    assert first.zoom() == pytest.approx(before * 1.25**2)
    assert second.zoom() == pytest.approx(first.zoom())
    first.horizontalScrollBar().setValue(first.horizontalScrollBar().maximum())
    assert second.horizontalScrollBar().value() == pytest.approx(first.horizontalScrollBar().value(), abs=2)
    text = view.details.toPlainText()
    assert "seed" in text and "grey" in text and "red" in text
    view.slider_mode.setChecked(True)
    assert view.slider_pane.isVisibleTo(view) and not view.pane_row.isVisibleTo(view)


def test_duplicates_keep_one_sends_the_others_to_the_trash(qtbot, qloop, library):
    original = picture("a red fox in the snow", 640, 480)
    _, first = save(library, prompt="fox", data=original)
    _, small = save(library, prompt="fox small", data=scaled(original, 320, 240))
    _, lossy = save(library, prompt="fox jpeg", data=as_jpeg(original))
    _, other = save(library, prompt="checkerboard", data=checkerboard())
    view = DuplicatesView(library)
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(view.loaded, timeout=20_000):
        view.refresh()
    assert view.tree.topLevelItemCount() == 1
    group = view.tree.topLevelItem(0)
    assert group.childCount() == 3
    keeper = next(group.child(n) for n in range(3) if group.child(n).data(0, 0x0101)["sha256"] == small.sha256)
    view.tree.setCurrentItem(keeper)
    with qtbot.waitSignal(view.trashed, timeout=10_000) as trashed:
        qtbot.mouseClick(view.keep, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.tree.topLevelItemCount() == 0, timeout=10_000)
    left = {r.sha256 for r in library.gallery(HistoryQuery())}
    assert left == {small.sha256, other.sha256}
    library.restore(trashed.args[0])
    assert {r.sha256 for r in library.gallery(HistoryQuery())} == {
        first.sha256,
        small.sha256,
        lossy.sha256,
        other.sha256,
    }
