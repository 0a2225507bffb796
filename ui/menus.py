"""The menu bar of the main window."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

from ui.common import tr


def action(window, text: str, slot, shortcut=None) -> QAction:
    made = QAction(tr(text), window)
    made.triggered.connect(slot)
    if shortcut is not None:
        made.setShortcut(QKeySequence(shortcut))
    return made


def menu_titles(window) -> tuple:
    """The menu bar's titles, empty: in the window's first paint, filled by build_menus once the parts exist."""
    bar = window.menuBar()
    return tuple(bar.addMenu(tr(title)) for title in ("&File", "&Edit", "&Image", "&View", "&Help"))


def about(window) -> None:
    root = window.library.root if window.library else window.services.library_root()
    text = tr("Atelier 0.1.0 — a studio for Google's image models. Library: {0}. Logs: {1}.")
    window.banner.show_message(text.format(root, window.services.paths.log), "info")


def open_library_folder(window) -> None:
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    if window.library is not None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(window.library.root)))


def build_menus(window, menus: tuple | None = None) -> None:
    """The window's menus: every action comes from a part; the menus only arrange them."""
    from PySide6.QtCore import Qt  # its enums take ~25 ms to make: not before the first paint

    file_menu, edit_menu, image_menu, view_menu, help_menu = menus or menu_titles(window)
    window.settings_action = action(window, "&Settings…", window.open_settings, QKeySequence.StandardKey.Preferences)
    if window.settings_action.shortcut().isEmpty():
        window.settings_action.setShortcut(QKeySequence("Ctrl+,"))
    file_menu.addAction(window.settings_action)
    file_menu.addAction(window.importing.add_folder_action)
    file_menu.addAction(window.importing.import_files_action)
    file_menu.addAction(action(window, "Open library folder", lambda: open_library_folder(window)))
    file_menu.addAction(action(window, "Rebuild index from image files", window.actions.rebuild_index))
    file_menu.addSeparator()
    file_menu.addAction(action(window, "&Quit", window.close, QKeySequence.StandardKey.Quit))
    edit_menu.addAction(window.actions.undo)
    edit_menu.addSeparator()
    for part_action in window.actions.actions.values():
        edit_menu.addAction(part_action)
    edit_menu.addAction(window.organize.compare_action)
    edit_menu.addSeparator()
    edit_menu.addAction(action(window, "Find", window.browser.focus_search, QKeySequence.StandardKey.Find))
    image_menu.addAction(window.refine.action)
    image_menu.addAction(window.organize.tags_action)
    view_menu.addAction(action(window, "Bigger thumbnails", lambda: window.browser.grow_thumbnails(32), "Ctrl++"))
    view_menu.addAction(action(window, "Smaller thumbnails", lambda: window.browser.grow_thumbnails(-32), "Ctrl+-"))
    view_menu.addAction(action(window, "Fit image", lambda: window.details and window.details.viewer.fit()))
    view_menu.addAction(action(window, "Actual size", lambda: window.details and window.details.viewer.actual_size()))
    view_menu.addAction(action(window, "Focus prompt", window.panel.prompt.setFocus, "Ctrl+L"))
    view_menu.addSeparator()
    view_menu.addAction(window.spending.open_action)
    view_menu.addAction(window.batches.open_action)
    view_menu.addAction(window.organize.duplicates_action)
    help_menu.addAction(action(window, "About Atelier", lambda: about(window)))
    window.browser.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
