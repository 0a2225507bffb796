"""Rating as actions any view can install: keys 1-5 give stars, 0 clears, X rejects (hides without deleting).

actions = OrganizeActions(library, selected_shas, tasks)   # selected_shas() -> the view's selected sha256s
actions.install(gallery_view)                               # the keys work while the view has focus
actions.changed.connect(refresh)                            # (shas, rating) once the library has it
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence

from ui.common import TaskSlots, tr

RATING_KEYS = [("1", 1), ("2", 2), ("3", 3), ("4", 4), ("5", 5), ("0", 0), ("X", "reject")]


class OrganizeActions(QObject):
    changed = Signal(list, object)  # the sha256s, and the rating given (0-5 or "reject")
    failed = Signal(str)

    def __init__(self, library, selected_shas: Callable[[], list[str]], tasks: TaskSlots | None = None, parent=None):
        super().__init__(parent)
        self.library = library
        self.selected_shas = selected_shas
        self.tasks = tasks or TaskSlots(self.failed.emit)
        self.actions: list[QAction] = []
        for key, rating in RATING_KEYS:
            label = tr("Reject (hide)") if rating == "reject" else tr("No rating") if rating == 0 else "★" * rating
            action = QAction(label, self)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda _checked=False, r=rating: self.rate(r))
            self.actions.append(action)

    def install(self, widget) -> None:
        """Adds the actions to `widget` (their keys work while it or a child has focus) and to its context menu."""
        widget.addActions(self.actions)

    def rate(self, rating) -> asyncio.Task | None:
        shas = list(self.selected_shas())
        if not shas:
            return None

        async def apply():
            await asyncio.to_thread(self.library.rate, shas, rating)
            self.changed.emit(shas, rating)

        return self.tasks.run("rate", apply())
