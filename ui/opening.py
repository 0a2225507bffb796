"""What the window paints first, before its parts' modules are imported: stand-ins laid out like the generate column
and the gallery, from plain Qt widgets only (importing the real parts takes longer than painting the window), and without Qt's
namespace of enums (`Qt.*`: making its Python enums takes about 25 ms)."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.common import tr


class GenerateStandIn(QWidget):
    """The prompt and the model as the generate column shows them; what is typed here is handed to the real one."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.prompt = QPlainTextEdit(self)
        self.prompt.setPlaceholderText(
            tr("Describe the image you want…  (Ctrl+Enter to generate, Ctrl+↑ for earlier prompts)")
        )
        font = self.prompt.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)  # as the prompt editor's
        self.prompt.setFont(font)
        self.prompt.setTabChangesFocus(True)
        self.model = QComboBox(self)  # filled by the real column
        self.model.setEnabled(False)
        generate = QPushButton(tr("Generate"), self)
        generate.setMinimumHeight(36)
        generate.setEnabled(False)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel(tr("<b>Prompt</b>"), self))
        column.addWidget(self.prompt, 3)
        column.addWidget(QLabel(tr("<b>Model</b>"), self))
        column.addWidget(self.model)
        column.addStretch(1)  # where the model's parameters go
        column.addWidget(generate)

    def hand_over(self, prompt: QPlainTextEdit) -> None:
        """Gives what the artist typed (and the focus) to the real prompt editor."""
        if self.prompt.toPlainText():
            prompt.setPlainText(self.prompt.toPlainText())
            cursor = prompt.textCursor()
            cursor.setPosition(min(self.prompt.textCursor().position(), len(prompt.toPlainText())))
            prompt.setTextCursor(cursor)
        if self.prompt.hasFocus():
            prompt.setFocus()


class GalleryStandIn(QWidget):
    """The gallery while the library opens: the search row's place, the "opening" line, an empty grid."""

    def __init__(self, parent=None):
        super().__init__(parent)
        search = QLineEdit(self)
        search.setPlaceholderText(tr("Search prompts…"))
        search.setEnabled(False)
        hint = QHBoxLayout()  # centred by stretches, not Qt.AlignmentFlag
        hint.addStretch(1)
        hint.addWidget(QLabel(tr("Opening the library…"), self))
        hint.addStretch(1)
        grid = QFrame(self)
        grid.setFrameShape(QFrame.Shape.StyledPanel)
        grid.setBackgroundRole(QPalette.ColorRole.Base)
        grid.setAutoFillBackground(True)
        column = QVBoxLayout(self)
        column.addWidget(search)
        column.addLayout(hint)
        column.addWidget(grid, 1)
