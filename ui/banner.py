"""A plain-words message across the top of the window, with one action."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton

from ui.common import tr


class Banner(QFrame):
    """A plain-words message across the top of the window, with one action."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setProperty("textFormat", 0)  # Qt.TextFormat.PlainText, without making Qt's enums (~25 ms) first
        self.action = QPushButton(self)
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip(tr("Dismiss"))
        self.close_button.setAccessibleName(tr("Dismiss message"))
        self.close_button.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action)
        layout.addWidget(self.close_button)
        self._callback = None
        self.action.clicked.connect(lambda: self._callback and self._callback())
        self.hide()

    def show_message(self, text: str, kind: str = "info", action: str | None = None, callback=None) -> None:
        colours = {"info": "#2d6cdf", "warning": "#c98a1a", "error": "#c83c3c"}
        self.setStyleSheet(
            f"QFrame#banner {{ border-left: 4px solid {colours[kind]}; background: palette(alternate-base); }}"
        )
        self.label.setText(text)
        self.action.setVisible(bool(action))
        self.action.setText(action or "")
        self._callback = callback
        self.show()
