"""The viewer and the details of what is selected. The generation is looked up and the image decoded off the GUI
thread; the details are formatted by a pure function (testable without a window)."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from services.library import GalleryRow, HistoryEntry, Library
from services.status import Status
from ui.common import OneAtATime, TaskSlots, money, tr, when
from ui.importer import SOURCE_NAMES
from ui.tag_editor import TagEditor
from ui.viewer import ImageView, load_full_image

R = GalleryRow


def status_text(status: str, reason: str | None) -> str:
    try:
        label = Status(status).label
    except ValueError:
        label = status
    return label + (f" — {reason}" if reason else "")


def details_html(row: tuple, entry: HistoryEntry | None, root: Path) -> str:
    """What made the selected item, as rich text; every value from the library is escaped."""
    if entry is None:
        return html.escape(tr("This item is no longer in the library."))
    params = entry.params or {}
    lines = [f"<p style='font-size:110%'>{html.escape(entry.prompt)}</p><table cellspacing='3'>"]

    def add(label: str, value) -> None:
        if value not in (None, "", []):
            lines.append(f"<tr><td style='color:gray'>{html.escape(tr(label))}</td><td>{value}</td></tr>")

    add("Model", html.escape(entry.model))
    if entry.status == Status.IMPORTED:  # the tool that made an imported image (ui/importer.py names them)
        add("Source", html.escape(tr(SOURCE_NAMES.get(entry.source, entry.source))))
    if row[R.IMAGE_ID] is not None:
        add("Size", f"{row[R.WIDTH]} × {row[R.HEIGHT]}")
    add("Status", html.escape(status_text(entry.status, entry.reason)))
    add("Aspect ratio", html.escape(str(params.get("aspect_ratio") or "")))
    add("Image size", html.escape(str(params.get("size") or "")))
    add("Seed", html.escape(str(params.get("seed") if params.get("seed") is not None else "")))
    add("People", html.escape(str(params.get("person_generation") or "")))
    # Another tool's settings, read from an imported image (services/import_reading.py names them)
    add("Negative prompt", html.escape(str(params.get("negative_prompt") or "")))
    add("Sampler", html.escape(str(params.get("sampler") or "")))
    add("Steps", html.escape(str(params.get("steps") or "")))
    add("CFG scale", html.escape(_number(params.get("cfg"))))
    refs = params.get("references") or []
    add("References", "<br>".join(html.escape(Path(r.get("path", "")).name) for r in refs))
    add("Model's text", html.escape(entry.text))
    add("Cost", money(entry.cost_usd) if entry.cost_usd else ("free" if entry.cost_usd == 0 else ""))
    add("Attempts", str(entry.attempts) if entry.attempts else "")
    add("Created", when(entry.created_at))
    add("Endpoint", html.escape(entry.endpoint or ""))
    if row[R.PATH]:
        path = root / row[R.PATH]
        add("File", f"<a href='{html.escape(path.parent.as_uri())}'>{html.escape(str(path))}</a>")
    lines.append("</table>")
    return "".join(lines)


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None or isinstance(value, bool) else str(value)


class DetailsPane(QWidget):
    stepRequested = Signal(int)
    entryLoaded = Signal(object)  # the HistoryEntry of the current row, or None

    def __init__(self, show_error, parent=None):
        super().__init__(parent)
        self.tasks = TaskSlots(show_error)
        # The current image's tags (all selected images' once the organize controls give the selection): T focuses.
        self.tags = TagEditor(None, self.tasks, self)
        self.tags.failed.connect(show_error)
        self.library: Library | None = None
        self.row: tuple | None = None
        self.entry: HistoryEntry | None = None
        self._decode = OneAtATime()  # full images: the one the selection stops on, not each it passes
        self.viewer = ImageView(self)
        self.viewer.stepRequested.connect(self.stepRequested)
        # A text browser, not a word-wrapped rich-text QLabel in a scroll area: the label laid its text out at
        # several widths to find its size hints on every selection (6 ms here, 10-45 ms on a busy machine), the
        # browser lays it out once, at its own width.
        self.details = QTextBrowser(self)
        self.details.setFrameShape(QFrame.Shape.NoFrame)
        self.details.viewport().setAutoFillBackground(False)
        self.details.setOpenLinks(False)
        self.details.anchorClicked.connect(QDesktopServices.openUrl)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        fit = QPushButton(tr("Fit"), self)
        fit.clicked.connect(self.viewer.fit)
        actual = QPushButton("100%", self)
        actual.clicked.connect(self.viewer.actual_size)
        self.zoom_label = QLabel(self)
        self.viewer.zoomChanged.connect(lambda s: self.zoom_label.setText(f"{s * 100:.0f}%"))
        buttons.addWidget(fit)
        buttons.addWidget(actual)
        buttons.addWidget(self.zoom_label)
        buttons.addStretch()
        tag_row = QHBoxLayout()
        tag_row.setContentsMargins(0, 0, 0, 0)
        tags_label = QLabel(tr("&Tags"), self)
        tags_label.setBuddy(self.tags)
        tags_label.setToolTip(tr("T puts the cursor here for the selected images"))
        tag_row.addWidget(tags_label)
        tag_row.addWidget(self.tags, 1)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.viewer, 1)
        top_layout.addLayout(buttons)
        top_layout.addLayout(tag_row)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([480, 300])
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)

    @property
    def library(self) -> Library | None:
        return self.tags.library

    @library.setter
    def library(self, library: Library | None) -> None:
        self.tags.library = library

    def focus_tags(self) -> None:
        self.tags.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.tags.end(False)

    def show_row(self, row: tuple | None) -> asyncio.Task | None:
        self.row, self.entry = row, None
        if not self.tags.hasFocus():  # (the organize controls may widen it to the whole selection)
            self.tags.edit([row[R.SHA256]] if row is not None and row[R.SHA256] else [])
        if row is None or self.library is None:
            self.viewer.set_image(None)
            self.details.setHtml("")
            self.entryLoaded.emit(None)
            return None
        return self.tasks.run("details", self._load(row, self.library))

    async def _load(self, row: tuple, library: Library) -> None:
        image_load = None
        if row[R.IMAGE_ID] is None:
            self.viewer.set_image(None, row[R.REASON] or "")
        else:
            image_load = asyncio.ensure_future(self._decode(load_full_image, str(library.root / row[R.PATH])))
        try:
            entry = await asyncio.to_thread(library.generation, row[R.GENERATION_ID])
            self.entry = entry
            self.details.setHtml(details_html(row, entry, library.root))
            self.entryLoaded.emit(entry)
            if image_load is not None:
                image = await image_load
                self.viewer.set_image(image, tr("This image cannot be displayed (missing or damaged file)."))
        finally:
            if image_load is not None and not image_load.done():
                image_load.cancel()
