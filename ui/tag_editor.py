"""A tag editor: the selected images' tags as text, comma-separated, completed word by word from the library's tags.

It shows the tags every selected image has. Enter saves the difference: a word added is added to all of them, a
shown tag erased is removed from all of them ("-tag" removes one too); tags only some images have are left alone.
While the completion list is open, Enter or Tab takes its current (or first) tag instead. Every read and write runs
off the GUI thread, through the Library facade (which journals the change).
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QEvent, QStringListModel, Qt, Signal
from PySide6.QtWidgets import QCompleter, QLineEdit

from ui.common import TaskSlots, tr

COMPLETING_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab)


def words_of(text: str) -> list[str]:
    return [" ".join(w.split()).lower() for w in text.split(",") if w.strip()]


def changes(shown: list[str], text: str) -> tuple[list[str], list[str]]:
    """(tags to add, tags to remove) for the images, from the tags shown and the text typed."""
    words = words_of(text)
    removed = [w[1:].strip() for w in words if w.startswith("-") and w[1:].strip()]
    kept = [w for w in words if not w.startswith("-")]
    added = [w for w in kept if w not in shown]
    removed += [t for t in shown if t not in kept and t not in removed]
    return list(dict.fromkeys(added)), list(dict.fromkeys(removed))


class TagEditor(QLineEdit):
    changed = Signal(list)  # the sha256s whose tags changed
    failed = Signal(str)
    finished = Signal()  # Escape: the artist is done here

    def __init__(self, library=None, tasks: TaskSlots | None = None, parent=None):
        super().__init__(parent)
        self.library = library
        self.tasks = tasks or TaskSlots(self.failed.emit)
        self.shas: list[str] = []
        self.shown: list[str] = []  # the tags every one of `shas` has, as loaded
        self.setPlaceholderText(tr("Tags, separated by commas"))
        self.setAccessibleName(tr("Tags"))
        self.setClearButtonEnabled(True)
        self.known = QStringListModel(self)
        self._loads_known = True  # False once the list is another's, kept up to date by its owner (use_known)
        self.completions = QCompleter(self.known, self)
        self.completions.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completions.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completions.setWidget(self)  # not setCompleter(): that one completes the whole text, not its last word
        self.completions.activated.connect(self._take)
        self.textEdited.connect(self._complete)
        self.returnPressed.connect(self.apply)
        self.setEnabled(False)

    # --- completion of the last word -----------------------------------------------------------------------------

    def _last_word(self) -> str:
        return self.text().rsplit(",", 1)[-1].strip().lstrip("-").lower()

    def _complete(self, _text: str = "") -> None:
        word = self._last_word()
        self.completions.setCompletionPrefix(word)
        if word and self.completions.completionCount() and self.completions.currentCompletion() != word:
            self.completions.complete()
        else:
            self.completions.popup().hide()

    def _take(self, tag: str) -> None:
        head, _sep, last = self.text().rpartition(",")
        minus = "-" if last.strip().startswith("-") else ""
        self.setText((head + ", " if head.strip() else "") + minus + tag + ", ")
        self.completions.popup().hide()

    def completing(self) -> bool:
        word = self._last_word()
        return self.completions.popup().isVisible() and bool(word) and self.completions.completionPrefix() == word

    def event(self, event) -> bool:  # Tab, which focus handling takes before keyPressEvent
        if event.type() == QEvent.Type.KeyPress and event.key() in COMPLETING_KEYS and self.completing():
            index = self.completions.popup().currentIndex()
            self._take(index.data() if index.isValid() else self.completions.currentCompletion())
            return True
        if event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape:
            self.completions.popup().hide()
            self.finished.emit()
            return True
        return super().event(event)

    # --- loading and saving ----------------------------------------------------------------------------------------

    def use_known(self, known: QStringListModel) -> None:
        """Completes from a list its owner keeps up to date (the window: its tag filter's), instead of reading the
        library's tags a second time after every change."""
        self.known, self._loads_known = known, False
        self.completions.setModel(known)

    def load_known(self) -> asyncio.Task | None:
        """The library's tags, most used first, for completion."""
        if self.library is None:
            return None
        library = self.library

        async def load():
            self.known.setStringList([t for t, _count in await asyncio.to_thread(library.tags)])

        return self.tasks.run("tags-known", load())

    def edit(self, shas: list[str]) -> asyncio.Task | None:
        """Shows the tags these images all have, and saves changes to all of them."""
        shas = list(dict.fromkeys(shas))
        if shas != self.shas:  # another image's tags must not stay on show (and be saved) while these load
            self.shown = []
            self.clear()
        self.shas = shas
        self.setModified(False)
        self.setEnabled(bool(self.shas) and self.library is not None)
        many = len(self.shas) > 1
        self.setPlaceholderText(
            tr("Tags for {0} images, separated by commas").format(len(self.shas))
            if many
            else tr("Tags, separated by commas")
        )
        if not self.shas or self.library is None:
            self.shown = []
            self.clear()
            return None
        library, shas = self.library, list(self.shas)
        if self._loads_known and not self.known.stringList():
            self.load_known()

        async def load():
            info = await asyncio.to_thread(library.organize_info, shas)
            common = set.intersection(*(set(i["tags"]) for i in info.values())) if info else set()
            self.shown = sorted(common)
            typed = self.text().strip().strip(",") if self.isModified() else ""  # typed before the tags came
            self.setText(", ".join([*self.shown, typed] if typed else self.shown))
            self.setModified(bool(typed))

        return self.tasks.run("tags-load", load())

    def apply(self) -> asyncio.Task | None:
        add, remove = changes(self.shown, self.text())
        shas, library = list(self.shas), self.library
        if not shas or library is None or not (add or remove):
            return None

        async def save():
            if add:
                await asyncio.to_thread(library.tag, shas, add)
            if remove:
                await asyncio.to_thread(library.tag, shas, remove, True)
            self.changed.emit(shas)
            if add and self._loads_known:
                self.load_known()
            await self.edit(shas)

        return self.tasks.run("tags-save", save())
