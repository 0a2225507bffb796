"""The widgets of refine threads: the bar above the prompt in refine mode (what is being refined, ✕ to stop), and the
viewer's strip of a thread's turns (open one by a click, branch from any). Pictures arrive decoded by a worker."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFontMetrics, QImage, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from services import pricing
from ui.common import money, tr

BAR_EDGE = 44  # pixels: the refined image's thumbnail above the prompt
TURN_EDGE = 48  # pixels: a turn's thumbnail in the thread strip
TURN_WIDTH = 196
MIN_TURN_WIDTH = 150
COMPACT_WIDTH = TURN_EDGE + 14  # wide enough for its "2 branches" in a small font


@dataclass(frozen=True)
class RefineTarget:
    """One image to refine: which generation, which of its images, and what to say about it."""

    generation_id: str
    image_index: int
    image_count: int
    prompt: str
    path: str  # the image file, for the thumbnail

    def caption(self) -> str:
        words = elide(self.prompt, 60)
        if self.image_count > 1:
            return tr("Refining image {0} of “{1}”").format(self.image_index + 1, words)
        return tr("Refining “{0}”").format(words)


@dataclass(frozen=True)
class RefineCost:
    """What a refine sends besides the new instruction, worked out once (off the GUI thread) on entering refine mode."""

    earlier_images: int  # images of the earlier turns, sent again
    base_references: int  # the refined image itself, when it starts a new conversation
    model: str


def refine_button_text(cost: RefineCost | None, model: str, demo: bool, size: str | None, references: int) -> str:
    """The button in refine mode: the estimate, and on a second line the earlier images that go again."""
    if cost is None:
        return tr("Refine")
    earlier = cost.earlier_images
    again = ""
    if earlier:
        again = "\n" + (tr("1 earlier image sent again") if earlier == 1 else tr("{0} earlier images sent again"))
        again = again.format(earlier)
    if demo:
        return tr("Refine · free (demo)") + again
    usd = pricing.estimate_job(model, 1, size, cost.base_references + references, earlier)
    if usd is None:
        return tr("Refine · price unknown") + again
    return tr("Refine · ≈ {0}").format(money(usd)) + again


@dataclass(frozen=True)
class Turn:
    """One turn of a thread as the strip shows it."""

    generation_id: str
    image_index: int  # the image of this turn the thread continues from (the shown one, for the last turn)
    image_id: int | None
    prompt: str
    text: str  # the model's words, if any
    failed: bool
    branches: int  # refines made from this turn (more than one: the thread branches here)
    preview: QImage | None = None


def elide(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _pixmap(label: QLabel, image: QImage | None, edge: int) -> None:
    if image is None or image.isNull():
        label.setText("—")
        return
    label.setPixmap(QPixmap.fromImage(image))
    label.setFixedSize(QSize(edge, edge))


class RefineBar(QFrame):
    """Above the prompt in refine mode: the image being refined, what will be sent again, and ✕ to leave."""

    cancelled = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("refineBar")
        self.setStyleSheet("QFrame#refineBar { border-left: 4px solid #2d6cdf; background: palette(alternate-base); }")
        self.thumbnail = QLabel(self)
        self.thumbnail.setFixedSize(QSize(BAR_EDGE, BAR_EDGE))
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.detail = QLabel(self)
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.PlainText)
        self.detail.setStyleSheet("color: palette(placeholder-text)")
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip(tr("Stop refining (Esc)"))
        self.close_button.setAccessibleName(tr("Cancel refine"))
        self.close_button.clicked.connect(self.cancelled)
        words = QVBoxLayout()
        words.setContentsMargins(0, 0, 0, 0)
        words.setSpacing(2)
        words.addWidget(self.caption)
        words.addWidget(self.detail)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.thumbnail, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(words, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_target(self, target: RefineTarget) -> None:
        self.caption.setText(target.caption())
        self.caption.setToolTip(target.prompt)
        self.detail.setText(tr("Working out what is sent again…"))
        self.thumbnail.clear()
        self.show()

    def set_preview(self, image: QImage | None) -> None:
        _pixmap(self.thumbnail, image, BAR_EDGE)

    def set_detail(self, text: str) -> None:
        self.detail.setText(text)


class TurnCard(QFrame):
    """One turn: its thumbnail, the user's words, the model's words; click to open, Branch to refine from it.

    Compact (a narrow viewer): the thumbnail and the branch count only; the words are in the tooltip and Branch
    in the context menu."""

    opened = Signal(object)  # Turn
    branched = Signal(object)  # Turn

    def __init__(self, turn: Turn, current: bool, parent=None):
        super().__init__(parent)
        self.turn = turn
        self.current = current
        self.compact = False
        self.setObjectName("turnCard")
        border = "2px solid #2d6cdf" if current else "1px solid palette(mid)"
        self.setStyleSheet(f"QFrame#turnCard {{ border: {border}; border-radius: 4px; }}")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(turn.prompt + (f"\n\n{turn.text}" if turn.text else ""))
        self.setAccessibleName(tr("Turn: {0}").format(elide(turn.prompt, 40)))
        self.picture = QLabel(self)
        self.picture.setFixedSize(QSize(TURN_EDGE, TURN_EDGE))
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        _pixmap(self.picture, turn.preview, TURN_EDGE)
        self.words = QLabel(self)
        self.words.setWordWrap(True)
        self.words.setTextFormat(Qt.TextFormat.PlainText)
        self.words.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.reply = QLabel(self)
        self.reply.setTextFormat(Qt.TextFormat.PlainText)
        self.reply.setStyleSheet("color: palette(placeholder-text); font-style: italic")
        self.branch_button = QToolButton(self)
        self.branch_button.setText(tr("Branch"))
        self.branch_button.setAutoRaise(True)
        self.branch_button.setToolTip(tr("Branch from here: refine this turn's image"))
        self.branch_button.setAccessibleName(tr("Branch from here"))
        self.branch_button.setEnabled(turn.image_id is not None)
        self.branch_button.clicked.connect(lambda: self.branched.emit(self.turn))
        self.badge = QLabel(tr("{0} branches").format(turn.branches) if turn.branches > 1 else "", self)
        self.badge.setStyleSheet("color: #2d6cdf; font-size: 8pt")
        self.badge.setWordWrap(True)  # "2 / branches" under a compact turn's thumbnail
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setVisible(turn.branches > 1)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 2)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(0)
        grid.addWidget(self.picture, 0, 0, 2, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.words, 0, 1)
        grid.addWidget(self.reply, 1, 1)
        grid.addWidget(self.badge, 2, 0)
        grid.addWidget(self.branch_button, 2, 1, Qt.AlignmentFlag.AlignRight)
        open_action = QAction(tr("Open"), self)
        open_action.triggered.connect(lambda: self.opened.emit(self.turn))
        branch_action = QAction(tr("Branch from here"), self)
        branch_action.triggered.connect(lambda: self.branched.emit(self.turn))
        branch_action.setEnabled(turn.image_id is not None)
        self.addActions([open_action, branch_action])
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.set_layout(False)

    def set_layout(self, compact: bool, width: int = TURN_WIDTH) -> None:
        """Compact, or in full at `width` (the words are fitted again to it)."""
        self.compact = compact
        for part in (self.words, self.reply, self.branch_button):
            part.setVisible(not compact)
        if compact:
            self.setFixedWidth(COMPACT_WIDTH)
            return
        text_width = width - TURN_EDGE - 18
        metrics = self.words.fontMetrics()
        self.words.setText(fit_lines(self.turn.prompt, metrics, text_width, 2))
        self.words.setFixedSize(text_width, metrics.lineSpacing() * 2 + 2)
        reply = " ".join((self.turn.text or (tr("failed") if self.turn.failed else "")).split())
        self.reply.setText(metrics.elidedText(reply, Qt.TextElideMode.ElideRight, text_width))
        self.setFixedWidth(width)

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.opened.emit(self.turn)
        super().mouseReleaseEvent(event)


def fit_lines(text: str, metrics: QFontMetrics, width: int, lines: int) -> str:
    """`text` shortened with an ellipsis so that, word-wrapped at `width`, it takes at most `lines` lines."""
    words = " ".join((text or "").split())
    flags = int(Qt.TextFlag.TextWordWrap)

    def fits(candidate: str) -> bool:
        return metrics.boundingRect(0, 0, width, 10_000, flags, candidate).height() <= metrics.lineSpacing() * lines

    if fits(words):
        return words
    low, high = 0, len(words)
    while low < high:  # the longest prefix that fits with its ellipsis
        middle = (low + high + 1) // 2
        if fits(words[:middle].rstrip() + "…"):
            low = middle
        else:
            high = middle - 1
    return words[:low].rstrip() + "…"


class ThreadStrip(QScrollArea):
    """The turns of the shown image's thread, root first, left to right; hidden when the image has no thread."""

    opened = Signal(object)  # Turn
    branched = Signal(object)  # Turn

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAccessibleName(tr("Thread"))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.cards: list[TurnCard] = []
        self.arrows: list[QLabel] = []
        self.later: QLabel | None = None
        self.current_id: str | None = None
        self._set_content([])
        self.hide()

    def _set_content(self, widgets: list[QWidget]) -> None:
        content = QWidget(self)
        row = QHBoxLayout(content)
        row.setContentsMargins(2, 2, 2, 2)
        row.setSpacing(4)
        for widget in widgets:
            row.addWidget(widget)
        row.addStretch(1)
        self.setWidget(content)  # the previous content is deleted
        height = max((w.sizeHint().height() for w in widgets), default=0) + 8
        self.setFixedHeight(height + self.horizontalScrollBar().sizeHint().height())

    def set_turns(self, turns: list[Turn], current_id: str | None, later: int = 0) -> None:
        """`later`: refines made from the current turn, shown as a count after it."""
        self.current_id = current_id
        self.cards, self.arrows, self.later = [], [], None
        widgets: list[QWidget] = []
        for n, turn in enumerate(turns):
            if n:
                self.arrows.append(self._arrow("→"))
                widgets.append(self.arrows[-1])
            card = TurnCard(turn, turn.generation_id == current_id)
            card.opened.connect(self.opened)
            card.branched.connect(self.branched)
            self.cards.append(card)
            widgets.append(card)
        if later:
            arrow = self._arrow(tr("→ {0} refine(s)").format(later))
            arrow.setToolTip(tr("Refines made from this image: select them in the gallery"))
            self.later = arrow
            widgets.append(arrow)
        self._set_content(widgets)
        self._fit_cards()
        self.setVisible(bool(turns))
        current = next((c for c in self.cards if c.turn.generation_id == current_id), None)
        if current is not None:  # once laid out: the shown turn in view, its ancestors to the left
            QTimer.singleShot(0, current, lambda: current in self.cards and self.ensureWidgetVisible(current))

    def _fit_cards(self) -> None:
        """Every turn in full when they fit the width; else the earlier ones compact (and no arrows between them),
        the shown one in full in what is left, at least MIN_TURN_WIDTH."""
        room = self.viewport().width() - 8 - (self.later.sizeHint().width() + 4 if self.later else 0)
        others = len(self.cards) - 1
        compact = len(self.cards) * (TURN_WIDTH + 4) + others * 20 > room
        for arrow in self.arrows:
            arrow.setVisible(not compact)
        width = max(MIN_TURN_WIDTH, min(TURN_WIDTH, room - others * (COMPACT_WIDTH + 4))) if compact else TURN_WIDTH
        for card in self.cards:
            card.set_layout(compact and not card.current, width)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit_cards()

    def clear_turns(self) -> None:
        self.cards, self.arrows, self.later = [], [], None
        self.current_id = None
        self._set_content([])
        self.hide()

    def _arrow(self, text: str) -> QLabel:
        label = QLabel(text, self)
        label.setStyleSheet("color: palette(placeholder-text)")
        return label
