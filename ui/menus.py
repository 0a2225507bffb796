"""The menu bar of the main window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from ui.common import tr


def action(window, text: str, slot, shortcut=None) -> QAction:
    made = QAction(tr(text), window)
    made.triggered.connect(slot)
    if shortcut is not None:
        made.setShortcut(QKeySequence(shortcut))
    return made


def build_menus(window) -> None:
    """The window's menus: every action comes from a part; the menus only arrange them."""
    bar = window.menuBar()
    file_menu = bar.addMenu(tr("&File"))
    window.settings_action = action(window, "&Settings…", window.open_settings, QKeySequence.StandardKey.Preferences)
    if window.settings_action.shortcut().isEmpty():
        window.settings_action.setShortcut(QKeySequence("Ctrl+,"))
    file_menu.addAction(window.settings_action)
    file_menu.addAction(window.importing.add_folder_action)
    file_menu.addAction(window.importing.import_files_action)
    file_menu.addAction(action(window, "Open library folder", window.open_library_folder))
    file_menu.addAction(action(window, "Rebuild index from image files", window.actions.rebuild_index))
    file_menu.addSeparator()
    file_menu.addAction(action(window, "&Quit", window.close, QKeySequence.StandardKey.Quit))
    edit_menu = bar.addMenu(tr("&Edit"))
    edit_menu.addAction(window.actions.undo)
    edit_menu.addSeparator()
    for part_action in window.actions.actions.values():
        edit_menu.addAction(part_action)
    edit_menu.addAction(window.organize.compare_action)
    edit_menu.addSeparator()
    edit_menu.addAction(action(window, "Find", window.browser.focus_search, QKeySequence.StandardKey.Find))
    image_menu = bar.addMenu(tr("&Image"))
    image_menu.addAction(window.refine.action)
    view_menu = bar.addMenu(tr("&View"))
    view_menu.addAction(action(window, "Bigger thumbnails", lambda: window.browser.grow_thumbnails(32), "Ctrl++"))
    view_menu.addAction(action(window, "Smaller thumbnails", lambda: window.browser.grow_thumbnails(-32), "Ctrl+-"))
    view_menu.addAction(action(window, "Fit image", lambda: window.details and window.details.viewer.fit()))
    view_menu.addAction(action(window, "Actual size", lambda: window.details and window.details.viewer.actual_size()))
    view_menu.addAction(action(window, "Focus prompt", window.panel.prompt.setFocus, "Ctrl+L"))
    view_menu.addSeparator()
    view_menu.addAction(window.spending.open_action)
    view_menu.addAction(window.batches.open_action)
    view_menu.addAction(window.organize.duplicates_action)
    help_menu = bar.addMenu(tr("&Help"))
    help_menu.addAction(action(window, "About Atelier", window.about))
    window.browser.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
