"""What the window paints first, before its parts' modules are imported: stand-ins laid out like the generate column
(for the default model) and the gallery while the library opens, so the parts take their places without moving
anything. Plain Qt widgets only, and no use of Qt's namespace of enums (`Qt.*`: making them takes about 25 ms)."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.common import tr


def _row(*widgets: QWidget, stretch_last: bool = True) -> QHBoxLayout:
    """Disabled widgets in a row: stand-ins take no input."""
    row = QHBoxLayout()
    for widget in widgets:
        widget.setEnabled(False)
        row.addWidget(widget)
    if stretch_last:
        row.setStretch(len(widgets) - 1, 1)
    return row


def _empty_box(parent: QWidget) -> QFrame:
    box = QFrame(parent)
    box.setFrameShape(QFrame.Shape.StyledPanel)
    box.setBackgroundRole(QPalette.ColorRole.Base)
    box.setAutoFillBackground(True)
    return box


class PromptLookalike(QFrame):
    """An empty prompt editor as it is drawn, without one: the first QPlainTextEdit takes ~10 ms to build, and no
    input reaches a stand-in (events wait while the real parts are built after the first paint)."""

    def __init__(self, placeholder: str, parent=None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFrameShadow(QFrame.Shadow.Sunken)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.setAutoFillBackground(True)
        text = QLabel(placeholder, self)
        text.setWordWrap(True)
        text.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        font = text.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)  # as the prompt editor's
        text.setFont(font)
        column = QVBoxLayout(self)
        across, down = self.frameWidth() + 3, self.frameWidth() + 2  # where the editor draws its placeholder text
        column.setContentsMargins(across, down, across, down)  # (Fusion, offscreen: 19 of 68,252 pixels differ)
        column.addWidget(text)
        column.addStretch(1)


class GenerateStandIn(QWidget):
    """The generate column as it looks for the default model, empty and disabled."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.prompt = PromptLookalike(
            tr("Describe the image you want…  (Ctrl+Enter to generate, Ctrl+↑ for earlier prompts)"), self
        )
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel(tr("<b>Prompt</b>"), self))
        column.addWidget(self.prompt, 3)
        column.addWidget(QLabel(tr("<b>Model</b>"), self))
        model = QComboBox(self)  # the models are filled in by the real column
        model.setMinimumHeight(24)  # as the model selector, whose entries carry a price
        column.addLayout(_row(model))
        for text, field in (("Images", QSpinBox), ("Aspect ratio", QComboBox), ("Size", QComboBox), ("Seed", QSpinBox)):
            label = QLabel(tr(text), self)
            label.setMinimumWidth(88)  # as ui.editor.labelled
            shown = field(self)
            if isinstance(shown, QSpinBox):
                shown.setSpecialValueText(" ")  # blank, not 0
            column.addLayout(_row(label, shown))
        column.addWidget(QLabel(tr("Reference images"), self))
        references = _empty_box(self)
        references.setFixedHeight(80)  # as the reference strip's list
        buttons = QVBoxLayout()
        for text in ("Add…", "Remove"):
            button = QPushButton(tr(text), self)
            button.setEnabled(False)
            buttons.addWidget(button)
        buttons.addStretch(1)
        strip = QHBoxLayout()
        strip.addWidget(references, 1)
        strip.addLayout(buttons)
        column.addLayout(strip)
        generate = QPushButton(tr("Generate"), self)
        generate.setMinimumHeight(36)  # as the real one
        column.addLayout(_row(generate))


class GalleryStandIn(QWidget):
    """The gallery while the library opens, as the browser shows it: the filters, the "opening" line, an empty grid."""

    def __init__(self, parent=None):
        super().__init__(parent)
        search = QLineEdit(self)
        search.setPlaceholderText(tr("Search prompts…"))
        models, dates = QComboBox(self), QComboBox(self)
        models.addItem(tr("All models"))
        dates.addItem(tr("Any time"))
        failed = QCheckBox(tr("Failed attempts"), self)
        failed.setChecked(True)
        filters = _row(search, models, dates, QCheckBox(tr("★ only"), self), failed, stretch_last=False)
        filters.setStretch(0, 3)
        filters.setStretch(1, 1)
        hint = QHBoxLayout()  # centred by stretches, not Qt.AlignmentFlag
        hint.addStretch(1)
        hint.addWidget(QLabel(tr("Opening the library…"), self))
        hint.addStretch(1)
        footer = QHBoxLayout()
        footer.addStretch(1)
        footer.addWidget(QLabel(tr("Thumbnails"), self))
        footer.addSpacing(110)  # the thumbnail slider's width
        column = QVBoxLayout(self)
        column.addLayout(filters)
        column.addLayout(hint)
        column.addWidget(_empty_box(self), 1)
        column.addLayout(footer)
