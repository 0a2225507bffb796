"""The browser's second filter row: minimum rating, rejected images, a tag (with completion), the order, and refine
threads collapsed or every image. It only holds the choices; the browser turns them into its HistoryQuery."""

from __future__ import annotations

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QCompleter, QHBoxLayout, QLineEdit, QWidget

from ui.common import tr

SORTS = [("Newest first", "newest"), ("Oldest first", "oldest"), ("Rating", "rating")]


class OrganizeFilters(QWidget):
    changed = Signal()  # a choice that reloads at once
    tagEdited = Signal()  # noqa: N815 - typing in the tag field (the browser waits for a pause)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rating = QComboBox(self)
        self.rating.setAccessibleName(tr("Minimum rating"))
        self.rating.addItem(tr("Any rating"), None)
        for stars in range(1, 6):
            self.rating.addItem(f"★{stars}+" if stars < 5 else "★5", stars)
        self.rating.currentIndexChanged.connect(self.changed)
        self.show_rejected = QCheckBox(tr("Rejected"), self)
        self.show_rejected.setToolTip(tr("Show rejected images too (X rejects; they are hidden, never deleted)"))
        self.show_rejected.toggled.connect(self.changed)
        self.tag = QLineEdit(self)
        self.tag.setPlaceholderText(tr("Tag…"))
        self.tag.setAccessibleName(tr("Filter by tag"))
        self.tag.setClearButtonEnabled(True)
        self.tag.setMinimumWidth(90)
        self.known_tags = QStringListModel(self)
        completer = QCompleter(self.known_tags, self.tag)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.tag.setCompleter(completer)
        self.tag.textChanged.connect(lambda _text: self.tagEdited.emit())
        self.sort = QComboBox(self)
        self.sort.setAccessibleName(tr("Order"))
        for label, key in SORTS:
            self.sort.addItem(tr(label), key)
        self.sort.currentIndexChanged.connect(self.changed)
        self.threads = QCheckBox(tr("Collapse threads"), self)
        self.threads.setToolTip(tr("Show each refine thread as its newest image, with its number of turns"))
        self.threads.toggled.connect(self.changed)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for widget, stretch in ((self.rating, 0), (self.show_rejected, 0), (self.tag, 1), (self.sort, 0)):
            row.addWidget(widget, stretch)
        row.addWidget(self.threads)

    def query_fields(self) -> dict:
        """The HistoryQuery fields these choices set."""
        sort = self.sort.currentData()
        return {
            "min_rating": self.rating.currentData(),
            "include_rejected": self.show_rejected.isChecked(),
            "tag": " ".join(self.tag.text().split()) or None,
            "by_rating": sort == "rating",
            "oldest_first": sort == "oldest",
            "threads_collapsed": self.threads.isChecked(),
        }

    def narrowing(self) -> bool:
        """True when these choices hide images a plain listing shows (for the empty gallery's sentence)."""
        return self.rating.currentData() is not None or bool(self.tag.text().strip())

    def newest_first(self) -> bool:
        return self.sort.currentData() == "newest"

    def view_state(self) -> dict:
        return {"order": self.sort.currentData(), "collapse_threads": self.threads.isChecked()}

    def restore_view(self, state) -> None:
        """A view_state() of an earlier session, set without reloading (unknown or damaged values are ignored)."""
        if not isinstance(state, dict):
            return
        self.blockSignals(True)
        try:
            order = self.sort.findData(state.get("order"))
            if order >= 0:
                self.sort.setCurrentIndex(order)
            if isinstance(state.get("collapse_threads"), bool):
                self.threads.setChecked(state["collapse_threads"])
        finally:
            self.blockSignals(False)

    def set_tags(self, tags: list[str]) -> None:
        if tags != self.known_tags.stringList():
            self.known_tags.setStringList(tags)
