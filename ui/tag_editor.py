"""A tag editor: the selected images' tags as text, a QCompleter over the library's tags, Enter applies."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import QCompleter, QLineEdit

from ui.common import TaskSlots, tr


class TagEditor(QLineEdit):
    """Type tags separated by commas; Enter adds them to the images set with `edit(shas)`; "-tag" removes one."""

    changed = Signal(list)  # the sha256s whose tags changed
    failed = Signal(str)

    def __init__(self, library, tasks: TaskSlots | None = None, parent=None):
        super().__init__(parent)
        self.library = library
        self.tasks = tasks or TaskSlots(self.failed.emit)
        self.shas: list[str] = []
        self.setPlaceholderText(tr("Tags, separated by commas (-tag removes)"))
        self.known = QStringListModel(self)
        completer = QCompleter(self.known, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.setCompleter(completer)
        self.returnPressed.connect(self.apply)

    def edit(self, shas: list[str]) -> asyncio.Task:
        """Shows these images' tags (the first one's) and offers the library's tags to complete."""
        self.shas = list(shas)

        async def load():
            tags = await asyncio.to_thread(self.library.tags)
            info = await asyncio.to_thread(self.library.organize_info, self.shas[:1]) if self.shas else {}
            self.known.setStringList([t for t, _count in tags])
            self.setText(", ".join(next(iter(info.values()))["tags"]) if info else "")

        return self.tasks.run("tags-load", load())

    def apply(self) -> asyncio.Task | None:
        words = [w.strip() for w in self.text().split(",") if w.strip()]
        add = [w for w in words if not w.startswith("-")]
        remove = [w[1:] for w in words if w.startswith("-") and w[1:].strip()]
        shas = list(self.shas)
        if not shas or not (add or remove):
            return None

        async def save():
            if add:
                await asyncio.to_thread(self.library.tag, shas, add)
            if remove:
                await asyncio.to_thread(self.library.tag, shas, remove, True)
            self.changed.emit(shas)
            await self.edit(shas)

        return self.tasks.run("tags-save", save())
